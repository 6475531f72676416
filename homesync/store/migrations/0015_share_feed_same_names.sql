-- When the owner renames, trashes or restores a shared item, 0013 fed the whole of each
-- recipient's shares into their feed: one rename sent a recipient of a 50,000-file share
-- a 50,000-entry delta. Only the recipient's shares of the same name can change place
-- (services/sharing/view.py: names are told apart case-insensitively, the younger one
-- getting " (2)", " (3)" … before its extension), so only those are fed now.
--
-- "The same name" is the name's stem: its name_key (casefolded: as the view compares)
-- with the part of the name before the extension cut at its first " (". Numbering only
-- adds " (n)" before the extension, so every name an item can be seen under, and every
-- share whose place it can push on ("a.jpg" → "a (2).jpg" → "A (2) (2).JPG"), has the
-- stem of the item's own name: feeding the shares with the stem of the old or the new
-- name feeds all that can move (and a few that cannot: "a (old).jpg", harmless).
--
-- stem(k): with an extension (a last "." after the first character), the part before
-- it cut at " (", then the extension; without, the name cut at " (". The position of the
-- last "." is the length of the name with its trailing non-"." characters trimmed.
DROP TRIGGER share_feed_on_root_renamed;

CREATE TRIGGER share_feed_on_root_renamed AFTER UPDATE OF seq ON files
WHEN NEW.seq IS NOT OLD.seq
 AND (NEW.name IS NOT OLD.name OR (NEW.deleted_at IS NULL) IS NOT (OLD.deleted_at IS NULL))
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
