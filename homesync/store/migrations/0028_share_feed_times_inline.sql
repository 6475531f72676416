-- share_feed_stamp (0026) set the `at` of each entry the fan-out triggers wrote with an
-- UPDATE of the row just written (and of its entry in share_feed_recipient_at): one more
-- statement per file and recipient when a shared folder of 20 000 files is deleted,
-- restored or moved: with two recipients, about a tenth of the server's CPU for such a
-- delete (bench/folder_ops.py --shared 2). The fan-out triggers of 0007 and 0016 now
-- write `at` with the entry, the same value: the time of the journal entry they come
-- with (NEW.seq, written in the same transaction; should it be missing, the journal's
-- latest). Nothing stamps an entry any more: any other INSERT gives `at` itself
-- (share_feed.add_subtree does).
-- Dropped and made again in the order they were made (0007's, then 0016's): SQLite runs
-- the newest first, so the entries one change writes keep their order.
DROP TRIGGER share_feed_stamp;
DROP TRIGGER share_feed_on_insert;
DROP TRIGGER share_feed_on_update;
DROP TRIGGER share_feed_on_root_renamed;

CREATE TRIGGER share_feed_on_insert AFTER INSERT ON files
WHEN EXISTS (SELECT 1 FROM shares WHERE owner_id = NEW.user_id AND recipient_id IS NOT NULL)
BEGIN
    INSERT INTO share_feed (recipient_id, file_id, seq, at)
    SELECT DISTINCT r.recipient_id, NEW.id, NEW.seq,
           coalesce((SELECT at FROM journal WHERE seq = NEW.seq),
                    (SELECT at FROM journal ORDER BY seq DESC LIMIT 1), 0)
    FROM share_roots r
    WHERE r.owner_id = NEW.user_id AND r.kind = 'folder'
      AND (NEW.folder = r.path OR substr(NEW.folder, 1, length(r.path) + 1) = r.path || '/');
END;

CREATE TRIGGER share_feed_on_update AFTER UPDATE OF seq ON files
WHEN NEW.seq IS NOT OLD.seq
 AND EXISTS (SELECT 1 FROM shares WHERE owner_id = NEW.user_id AND recipient_id IS NOT NULL)
BEGIN
    INSERT INTO share_feed (recipient_id, file_id, seq, at)
    SELECT DISTINCT r.recipient_id, NEW.id, NEW.seq,
           coalesce((SELECT at FROM journal WHERE seq = NEW.seq),
                    (SELECT at FROM journal ORDER BY seq DESC LIMIT 1), 0)
    FROM share_roots r
    WHERE r.owner_id = NEW.user_id
      AND (r.file_id = NEW.id OR (r.kind = 'folder' AND (
           NEW.folder = r.path OR substr(NEW.folder, 1, length(r.path) + 1) = r.path || '/'
           OR OLD.folder = r.path OR substr(OLD.folder, 1, length(r.path) + 1) = r.path || '/')));
END;

CREATE TRIGGER share_feed_on_root_renamed AFTER UPDATE OF seq ON files
WHEN NEW.seq IS NOT OLD.seq
 AND (NEW.name IS NOT OLD.name OR NEW.folder IS NOT OLD.folder
      OR (NEW.deleted_at IS NULL) IS NOT (OLD.deleted_at IS NULL))
 AND EXISTS (SELECT 1 FROM shares WHERE file_id = NEW.id AND recipient_id IS NOT NULL)
BEGIN
    INSERT INTO share_feed (recipient_id, file_id, seq, at)
    SELECT DISTINCT r.recipient_id, f.id, NEW.seq,
           coalesce((SELECT at FROM journal WHERE seq = NEW.seq),
                    (SELECT at FROM journal ORDER BY seq DESC LIMIT 1), 0)
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
