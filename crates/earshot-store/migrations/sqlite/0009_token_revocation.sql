-- API tokens get an id (to list and revoke them without ever showing the
-- hash), the time they were last used and the time they were revoked; a
-- revoked token no longer authenticates. SQLite cannot add an
-- AUTOINCREMENT column to a table, so the table is rebuilt.
CREATE TABLE api_tokens_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at INTEGER
);
INSERT INTO api_tokens_new (token_hash, name, role, created_at)
    SELECT token_hash, name, role, created_at FROM api_tokens ORDER BY created_at, token_hash;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
