-- A new version's upload remembers the journal position the device based it on (the
-- ``syncToken`` it sent to upload/init): if another device changes the file before the
-- upload completes, the upload becomes a conflicted copy beside it instead of replacing
-- it. NULL: the device gave no token (the upload replaces the file as before).
ALTER TABLE uploads ADD COLUMN base_seq INTEGER;
