-- Finished offline-queue operations are pruned after [sync] queue_retention (7 days), but
-- an app offline for longer retries the batch it sent with the same ids: without a trace
-- of them, a delete or a rename ran a second time. A pruned operation leaves its id and
-- outcome here (not its local path or what it was judged against), kept for [sync]
-- history_retention; a retry is answered from it and applied never again.
CREATE TABLE queue_forgotten_ops (
    device_id      TEXT NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    op_id          TEXT NOT NULL,
    type           TEXT NOT NULL,
    remote_path    TEXT,
    file_id        TEXT,
    priority       TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    received_at    INTEGER NOT NULL,
    status         TEXT NOT NULL,
    error          TEXT,
    result_file_id TEXT,
    conflict_id    TEXT,
    updated_at     INTEGER NOT NULL,                  -- when the operation finished
    UNIQUE (device_id, op_id)
);
CREATE INDEX queue_forgotten_ops_finished ON queue_forgotten_ops(updated_at);
