-- Sharing a file or folder with another user of the server, by email.
--
-- recipient_id is the account the email named when the share was made; NULL when there
-- was none (the owner is answered exactly as for a real account, so sharing cannot be
-- used to find out who has an account). Revoking deletes the row: access ends at once.
CREATE TABLE shares (
    id               TEXT PRIMARY KEY,                -- share_…
    owner_id         TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    file_id          TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    recipient_email  TEXT NOT NULL COLLATE NOCASE,
    recipient_id     TEXT REFERENCES users(id) ON DELETE CASCADE,
    permission       TEXT NOT NULL CHECK (permission IN ('read', 'write')),
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (file_id, recipient_email)
);
CREATE INDEX shares_owner ON shares(owner_id, created_at);
CREATE INDEX shares_recipient ON shares(recipient_id, created_at) WHERE recipient_id IS NOT NULL;
