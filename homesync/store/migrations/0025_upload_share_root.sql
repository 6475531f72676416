-- An upload into a folder shared with its uploader remembers the shared item (the share's
-- root, an id of the owner's) it goes through: the owner renaming that folder while the
-- bytes are on their way changes the path the recipient sent (/Shared with me/<owner>/
-- <name>/...), and complete found nothing there (404, every byte sent in vain).
ALTER TABLE uploads ADD COLUMN share_root_id TEXT;
