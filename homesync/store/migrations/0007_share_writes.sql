-- Write shares (issue 5): a recipient with ``write`` changes what was shared with them.
--
-- ``share_feed.seq`` is the journal position an entry brings the recipient up to (the
-- change's own seq; for a share starting or ending, the journal's end then): it never
-- decreases with ``pos``, so a token's feed position tells which of the owner's changes
-- the recipient's device had seen when it changes a shared entry (conflicts,
-- services/share_access.py). Entries from before this migration have 0: the device saw
-- none of them, which can only make a conflict more likely, never hide one.
ALTER TABLE share_feed ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;

-- The fan-out triggers of 0005, now recording seq.
DROP TRIGGER share_feed_on_insert;
DROP TRIGGER share_feed_on_update;

CREATE TRIGGER share_feed_on_insert AFTER INSERT ON files
WHEN EXISTS (SELECT 1 FROM shares WHERE owner_id = NEW.user_id AND recipient_id IS NOT NULL)
BEGIN
    INSERT INTO share_feed (recipient_id, file_id, seq)
    SELECT DISTINCT r.recipient_id, NEW.id, NEW.seq FROM share_roots r
    WHERE r.owner_id = NEW.user_id AND r.kind = 'folder'
      AND (NEW.folder = r.path OR substr(NEW.folder, 1, length(r.path) + 1) = r.path || '/');
END;

CREATE TRIGGER share_feed_on_update AFTER UPDATE OF seq ON files
WHEN NEW.seq IS NOT OLD.seq
 AND EXISTS (SELECT 1 FROM shares WHERE owner_id = NEW.user_id AND recipient_id IS NOT NULL)
BEGIN
    INSERT INTO share_feed (recipient_id, file_id, seq)
    SELECT DISTINCT r.recipient_id, NEW.id, NEW.seq FROM share_roots r
    WHERE r.owner_id = NEW.user_id
      AND (r.file_id = NEW.id OR (r.kind = 'folder' AND (
           NEW.folder = r.path OR substr(NEW.folder, 1, length(r.path) + 1) = r.path || '/'
           OR OLD.folder = r.path OR substr(OLD.folder, 1, length(r.path) + 1) = r.path || '/')));
END;

-- A recipient's upload into a shared item (``write`` shares): the uploader's row, landing
-- in ``owner_id``'s tree (NULL: the uploader's own). ``folder`` stays the path the
-- recipient sent (under /Shared with me), resolved again when the upload completes. Open
-- ones count against the owner's quota, not the uploader's.
ALTER TABLE uploads ADD COLUMN owner_id TEXT REFERENCES users(id) ON DELETE CASCADE;
CREATE INDEX uploads_owner_status ON uploads(owner_id, status) WHERE owner_id IS NOT NULL;
