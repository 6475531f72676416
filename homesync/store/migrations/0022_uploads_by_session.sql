-- gc forgets upload sessions once their uploads are forgotten (store.uploads
-- .delete_finished_before): each old session is looked for among the uploads, and
-- deleting one makes SQLite look for its uploads again (the foreign key's cascade).
-- Without an index on uploads.session_id both read every upload, for every session:
-- ~40 s to forget 2 000 sessions beside 20 000 uploads, inside gc's write transaction,
-- whose statements the server runs on its event loop (it answered nothing meanwhile).
CREATE INDEX uploads_session ON uploads(session_id);
