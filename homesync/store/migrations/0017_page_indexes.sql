-- Indexes that let two listings walk a page instead of reading (and sorting) everything.
--
-- GET /queue without a status filter lists a device's operations in arrival (rowid)
-- order: an index on device_id alone holds them in that order (rowid is its last
-- column), where queue_ops_device_status made every page sort all of the device's rows.
CREATE INDEX queue_ops_device ON queue_ops(device_id);

-- GET /trash lists the user's trash groups by their root entry (the entry whose delete
-- trashed the group: trash_root = id), newest first. This index holds only those roots,
-- in the page's order, so a page reads its own rows and counts each one's group by
-- files_trash_root, instead of grouping the user's whole trash for every page.
-- Every delete since 0003 sets trash_root; a trashed row without one (none is known) is
-- made its own group's root, as the listing used to treat it.
UPDATE files SET trash_root = id
    WHERE deleted_at IS NOT NULL AND purged_at IS NULL AND trash_root IS NULL;
CREATE INDEX files_trash_roots ON files(user_id, deleted_at DESC, id)
    WHERE deleted_at IS NOT NULL AND purged_at IS NULL AND trash_root = id;
