-- A restore also moves the share feed's next position past any the lost timeline may
-- have handed out, and records that gap as it does the journal's: a recipient's sync
-- token from that timeline then asks for a full listing instead of a delta that would
-- skip the restored database's own shared changes. NULL for restores made before.
ALTER TABLE restores ADD COLUMN snapshot_pos INTEGER;
ALTER TABLE restores ADD COLUMN resumed_pos INTEGER;
