-- What a complete answered besides the file: the id of the file its upload was kept
-- beside as a conflicted copy (`conflictedWith`: the file it was to replace, or the one
-- that took its name). A complete asked again (the phone lost the answer) answers as the
-- first did. NULL: no conflict, or completed before this migration.
ALTER TABLE uploads ADD COLUMN conflicted_with TEXT;
