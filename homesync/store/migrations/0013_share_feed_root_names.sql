-- Where a recipient sees each shared item depends on the names of their other shared
-- items (the older of two same-named ones keeps the name, the others get " (2)" …), so
-- when the owner renames, trashes or restores a shared item the places of the
-- recipient's other shares can change: their subtrees go into the recipient's feed too,
-- and the next delta judges them again (as the shares service does on revoke). Rare
-- (only a shared item itself), so the whole of the recipient's shares is simplest.
CREATE TRIGGER share_feed_on_root_renamed AFTER UPDATE OF seq ON files
WHEN NEW.seq IS NOT OLD.seq
 AND (NEW.name IS NOT OLD.name OR (NEW.deleted_at IS NULL) IS NOT (OLD.deleted_at IS NULL))
 AND EXISTS (SELECT 1 FROM shares WHERE file_id = NEW.id AND recipient_id IS NOT NULL)
BEGIN
    INSERT INTO share_feed (recipient_id, file_id, seq)
    SELECT DISTINCT r.recipient_id, f.id, NEW.seq
    FROM shares s JOIN share_roots r ON r.recipient_id = s.recipient_id
    JOIN files f ON f.user_id = r.owner_id AND f.deleted_at IS NULL
     AND (f.id = r.file_id OR (r.kind = 'folder' AND (
          f.folder = r.path OR substr(f.folder, 1, length(r.path) + 1) = r.path || '/')))
    WHERE s.file_id = NEW.id AND s.recipient_id IS NOT NULL AND r.file_id IS NOT NEW.id;
END;
