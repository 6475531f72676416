-- Access-token signing keys (reliability plan A6): one key signs (replaced_at NULL), the
-- ones it replaced still verify until an admin retires them (`homesync keys ...`).
-- The first key is the one homesync always used, derived from server.key: its row has no
-- secret, so this table holds no copy of it. SQL cannot derive it, so the server adds
-- that row when it opens a database whose table is empty; tokens signed before the
-- upgrade stay valid.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,                  -- the JWT header's kid
    secret       BLOB CHECK (secret IS NULL OR length(secret) = 32),  -- NULL: from server.key
    created_at   INTEGER NOT NULL,
    replaced_at  INTEGER,                           -- a newer key signs since: "previous"
    retired_at   INTEGER,                           -- refused since: "retired"
    CHECK (retired_at IS NULL OR replaced_at IS NOT NULL)   -- the signing key is never retired
);
-- At most one key signs.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys ((replaced_at IS NULL))
    WHERE replaced_at IS NULL;
