-- The desk: users, browser sessions, analysis corrections, and the index
-- that keeps the inbox (active cases by priority) fast at any queue size.
CREATE TABLE users (
    name TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    in_training INTEGER NOT NULL DEFAULT 0,
    teams TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL
);

-- Session ids are random; only their SHA-256 is stored.
CREATE TABLE sessions (
    id_hash TEXT PRIMARY KEY,
    user_name TEXT NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mention_id INTEGER NOT NULL REFERENCES mentions (id),
    case_id INTEGER,
    task TEXT NOT NULL,
    text TEXT NOT NULL,
    label TEXT NOT NULL,
    previous TEXT,
    actor TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- The inbox reads active cases in queue order; a partial index keeps the
-- first page an index walk however many cases there are.
CREATE INDEX cases_inbox ON cases (priority DESC, created_at, id)
    WHERE status IN ('new', 'open', 'pending');
CREATE INDEX replies_sent ON replies (sent_at);
