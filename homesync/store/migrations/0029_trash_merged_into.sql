-- A trashed folder restored by merging into the live folder at its place is closed as a
-- purged row (its trash item is gone, devices that held it learn that it was deleted).
-- merged_into is the id of the live folder it merged into: a restore of it sent again,
-- its first answer lost, answers that folder where it now is, as the first did, not 404.
-- NULL for every other row (a purged one was emptied out of the trash: still 404).
ALTER TABLE files ADD COLUMN merged_into TEXT;
