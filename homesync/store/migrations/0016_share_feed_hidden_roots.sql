-- A share inside another shared folder of the same owner (both with the same recipient)
-- is seen under that folder, and now takes no name among the recipient's shares: it no
-- longer pushes a same-named item to " (2)" (services/sharing/view.py).
--
-- 1. Whether a share is inside another one also changes when its owner moves it (or a
--    folder above it) into or out of a shared folder: the trigger of 0015 now fires on
--    a shared item's move too, feeding the recipient's shares of the same name stem
--    (see 0015 for the stem).
DROP TRIGGER share_feed_on_root_renamed;

CREATE TRIGGER share_feed_on_root_renamed AFTER UPDATE OF seq ON files
WHEN NEW.seq IS NOT OLD.seq
 AND (NEW.name IS NOT OLD.name OR NEW.folder IS NOT OLD.folder
      OR (NEW.deleted_at IS NULL) IS NOT (OLD.deleted_at IS NULL))
 AND EXISTS (SELECT 1 FROM shares WHERE file_id = NEW.id AND recipient_id IS NOT NULL)
BEGIN
    INSERT INTO share_feed (recipient_id, file_id, seq)
    SELECT DISTINCT r.recipient_id, f.id, NEW.seq
    FROM shares s JOIN share_roots r ON r.recipient_id = s.recipient_id
    JOIN (SELECT id, CASE WHEN dot > 1
              THEN substr(substr(k, 1, dot - 1), 1, instr(substr(k, 1, dot - 1) || ' (', ' (') - 1)
                   || substr(k, dot)
              ELSE substr(k, 1, instr(k || ' (', ' (') - 1) END AS stem
          FROM (SELECT id, name_key AS k, length(rtrim(name_key, replace(name_key, '.', ''))) AS dot
                FROM files)) d ON d.id = r.file_id
    JOIN files f ON f.user_id = r.owner_id AND f.deleted_at IS NULL
     AND (f.id = r.file_id OR (r.kind = 'folder' AND (
          f.folder = r.path OR substr(f.folder, 1, length(r.path) + 1) = r.path || '/')))
    WHERE s.file_id = NEW.id AND s.recipient_id IS NOT NULL AND r.file_id IS NOT NEW.id
      AND d.stem IN (
          SELECT CASE WHEN dot > 1
              THEN substr(substr(k, 1, dot - 1), 1, instr(substr(k, 1, dot - 1) || ' (', ' (') - 1)
                   || substr(k, dot)
              ELSE substr(k, 1, instr(k || ' (', ' (') - 1) END
          FROM (SELECT k, length(rtrim(k, replace(k, '.', ''))) AS dot
                FROM (SELECT OLD.name_key AS k UNION SELECT NEW.name_key)));
END;

-- 2. Devices synced before this saw the younger of such names with a " (2)" it no
--    longer has: the shares of the same stem as a share inside another one come again
--    (with what is in them), at the journal's end, as when a share starts.
WITH stems AS (
    SELECT id, CASE WHEN dot > 1
        THEN substr(substr(k, 1, dot - 1), 1, instr(substr(k, 1, dot - 1) || ' (', ' (') - 1)
             || substr(k, dot)
        ELSE substr(k, 1, instr(k || ' (', ' (') - 1) END AS stem
    FROM (SELECT id, name_key AS k, length(rtrim(name_key, replace(name_key, '.', ''))) AS dot
          FROM files WHERE deleted_at IS NULL AND id IN (SELECT file_id FROM shares))),
inner_shares AS (
    SELECT DISTINCT h.recipient_id, hs.stem
    FROM share_roots h JOIN stems hs ON hs.id = h.file_id
    JOIN share_roots o ON o.recipient_id = h.recipient_id AND o.owner_id = h.owner_id
     AND o.kind = 'folder' AND substr(h.path, 1, length(o.path) + 1) = o.path || '/'
    JOIN files od ON od.id = o.file_id AND od.deleted_at IS NULL)
INSERT INTO share_feed (recipient_id, file_id, seq)
SELECT DISTINCT r.recipient_id, f.id, (SELECT coalesce(max(seq), 0) FROM journal)
FROM inner_shares i JOIN share_roots r ON r.recipient_id = i.recipient_id
JOIN stems rs ON rs.id = r.file_id AND rs.stem = i.stem
JOIN files f ON f.user_id = r.owner_id AND f.deleted_at IS NULL
 AND (f.id = r.file_id OR (r.kind = 'folder' AND (
      f.folder = r.path OR substr(f.folder, 1, length(r.path) + 1) = r.path || '/')));
