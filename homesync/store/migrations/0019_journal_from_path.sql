-- Where a moved or renamed entry was: the full path (folder and name) it left, on `move`
-- and `rename` journal entries (also those of a folder's descendants carried along). A
-- folder's delete judges by it whether a file below the folder was there at the
-- deleting device's token, or another device moved it in since (a conflict, as a file
-- created there meanwhile). NULL: not a move, or journaled before this migration.
ALTER TABLE journal ADD COLUMN from_path TEXT;
