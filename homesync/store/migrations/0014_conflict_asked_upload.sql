-- Where a conflict resolution last asked the device to upload its content
-- (status upload_required, uploadTo). A retry after that upload finds the copy there even
-- if the server's file has moved meanwhile (so the copy's name would be another), rather
-- than making a second, identical copy beside the one the device uploaded.
ALTER TABLE conflicts ADD COLUMN asked_folder TEXT;
ALTER TABLE conflicts ADD COLUMN asked_name TEXT;
