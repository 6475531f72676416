-- GET /files?folder= lists a folder's sub-folders first, then its files, each in name
-- order from the cursor on (store.files.list_folder). The sub-folders were searched for
-- in files_live_name, which holds files and folders alike: the first page of a folder
-- of 100 000 photos and no sub-folders walked all 100 000 entries to find none (~33 ms,
-- later pages ~4 ms). This index holds live folders only, so finding them is a probe;
-- files never go in it, so storing, moving or trashing files does not write it.
CREATE INDEX files_live_folders ON files(user_id, folder, name_key)
    WHERE deleted_at IS NULL AND kind = 'folder';
