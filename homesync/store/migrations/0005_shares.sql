-- Sharing a file or folder with another user of the server, by email.
--
-- recipient_id is the account the email named when the share was made; NULL when there
-- was none (the owner is answered exactly as for a real account, so sharing cannot be
-- used to find out who has an account). Revoking deletes the row: access ends at once.
CREATE TABLE shares (
    id               TEXT PRIMARY KEY,                -- share_…
    owner_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    file_id          TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    recipient_email  TEXT NOT NULL COLLATE NOCASE,
    recipient_id     TEXT REFERENCES users(id) ON DELETE CASCADE,
    permission       TEXT NOT NULL CHECK (permission IN ('read', 'write')),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (file_id, recipient_email)
);
CREATE INDEX shares_owner ON shares(owner_id, created_at);
CREATE INDEX shares_recipient ON shares(recipient_id, created_at) WHERE recipient_id IS NOT NULL;

-- What a recipient's sync must look at again (``GET /sync/status``, issue 5): one row per
-- (recipient, file) change, appended in the transaction that made it. ``pos`` is the
-- position a sync token's second half names. Triggers fan the owner's changes out (every
-- change to a file sets files.seq), so no writer needs to know about shares; the shares
-- service adds a shared item's whole subtree when a share starts or ends. Visibility is
-- judged when the delta is read, from the shares then live: revoking takes effect at once.
CREATE TABLE share_feed (
    pos           INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    file_id       TEXT NOT NULL  -- no foreign key: the entry outlives a purged file
);
CREATE INDEX share_feed_recipient ON share_feed(recipient_id, pos);
CREATE INDEX share_feed_file ON share_feed(recipient_id, file_id, pos);

-- Each share that reaches someone, with the shared item's absolute path in its owner's tree.
CREATE VIEW share_roots AS
SELECT s.recipient_id, s.owner_id, s.file_id, d.kind,
       CASE d.folder WHEN '/' THEN '/' || d.name ELSE d.folder || '/' || d.name END AS path
FROM shares s JOIN files d ON d.id = s.file_id
WHERE s.recipient_id IS NOT NULL;

-- A file reaches the recipients of the shares that cover it: the shared item itself, or a
-- shared folder it sits in at any depth. An update checks the old and the new place, so
-- moving into or out of a shared folder reaches the recipient either way.
CREATE TRIGGER share_feed_on_insert AFTER INSERT ON files
WHEN EXISTS (SELECT 1 FROM shares WHERE owner_id = NEW.user_id AND recipient_id IS NOT NULL)
BEGIN
    INSERT INTO share_feed (recipient_id, file_id)
    SELECT DISTINCT r.recipient_id, NEW.id FROM share_roots r
    WHERE r.owner_id = NEW.user_id AND r.kind = 'folder'
      AND (NEW.folder = r.path OR substr(NEW.folder, 1, length(r.path) + 1) = r.path || '/');
END;

CREATE TRIGGER share_feed_on_update AFTER UPDATE OF seq ON files
WHEN NEW.seq IS NOT OLD.seq
 AND EXISTS (SELECT 1 FROM shares WHERE owner_id = NEW.user_id AND recipient_id IS NOT NULL)
BEGIN
    INSERT INTO share_feed (recipient_id, file_id)
    SELECT DISTINCT r.recipient_id, NEW.id FROM share_roots r
    WHERE r.owner_id = NEW.user_id
      AND (r.file_id = NEW.id OR (r.kind = 'folder' AND (
           NEW.folder = r.path OR substr(NEW.folder, 1, length(r.path) + 1) = r.path || '/'
           OR OLD.folder = r.path OR substr(OLD.folder, 1, length(r.path) + 1) = r.path || '/')));
END;
