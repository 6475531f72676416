-- An app asking again for an upload it started finds it whatever the case of its folder
-- ("/DCIM" is the earlier "/dcim"): store.uploads.find_resumable compares the folder
-- without case, outside SQL, so the index leaves the folder out.
DROP INDEX uploads_resume;
CREATE INDEX uploads_resume ON uploads(user_id, device_id, name_key, checksum);
