-- Earshot core schema (SQLite). Timestamps are UTC epoch milliseconds and
-- structured values are JSON text, the same as the PostgreSQL schema, so one
-- set of queries serves both.
CREATE TABLE cases (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    conversation_key TEXT NOT NULL,
    author_key TEXT NOT NULL,
    author_handle TEXT NOT NULL,
    subject TEXT NOT NULL,
    sentiment TEXT NOT NULL,
    category TEXT,
    priority REAL NOT NULL,
    priority_breakdown TEXT NOT NULL,
    assignee TEXT,
    team TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    location TEXT,
    product TEXT,
    mention_count INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    last_customer_at INTEGER NOT NULL,
    first_response_at INTEGER,
    resolved_at INTEGER
);
CREATE INDEX cases_queue ON cases (status, priority DESC, created_at);
CREATE INDEX cases_by_priority ON cases (priority DESC, created_at);
CREATE INDEX cases_conversation ON cases (conversation_key, status);
CREATE INDEX cases_author ON cases (author_key, status);
CREATE INDEX cases_assignee ON cases (assignee);

CREATE TABLE mentions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    external_id TEXT NOT NULL,
    author_handle TEXT NOT NULL,
    author_name TEXT,
    author_followers INTEGER NOT NULL DEFAULT 0,
    author_verified INTEGER NOT NULL DEFAULT 0,
    author_url TEXT,
    text TEXT NOT NULL,
    url TEXT,
    language TEXT,
    thread_id TEXT,
    parent_id TEXT,
    likes INTEGER NOT NULL DEFAULT 0,
    reposts INTEGER NOT NULL DEFAULT 0,
    replies INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    sentiment TEXT NOT NULL,
    sentiment_score REAL NOT NULL,
    complaint INTEGER NOT NULL,
    category TEXT,
    analysis TEXT NOT NULL,
    case_id INTEGER REFERENCES cases (id),
    UNIQUE (source, external_id)
);
CREATE INDEX mentions_case ON mentions (case_id);
CREATE INDEX mentions_author ON mentions (source, author_handle);
CREATE INDEX mentions_created ON mentions (created_at);

-- Full-text index kept in step with `mentions` by triggers, inside the same
-- transaction as the mention itself.
CREATE VIRTUAL TABLE mentions_fts USING fts5 (
    text, content = 'mentions', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER mentions_fts_insert AFTER INSERT ON mentions BEGIN
    INSERT INTO mentions_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER mentions_fts_delete AFTER DELETE ON mentions BEGIN
    INSERT INTO mentions_fts (mentions_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER mentions_fts_update AFTER UPDATE OF text ON mentions BEGIN
    INSERT INTO mentions_fts (mentions_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO mentions_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TABLE replies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL REFERENCES cases (id),
    visibility TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    author TEXT NOT NULL,
    approved_by TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    error TEXT
);
CREATE INDEX replies_case ON replies (case_id);

-- Replies waiting for a connector to deliver them.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reply_id INTEGER NOT NULL REFERENCES replies (id),
    source TEXT NOT NULL,
    recipient TEXT NOT NULL,
    visibility TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER
);

CREATE TABLE notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL REFERENCES cases (id),
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX notes_case ON notes (case_id);

CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    before TEXT,
    after TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX events_case ON events (case_id);

CREATE TABLE advocates (
    source TEXT NOT NULL,
    handle TEXT NOT NULL,
    followers INTEGER NOT NULL,
    positive_mentions INTEGER NOT NULL,
    last_mention_id INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    PRIMARY KEY (source, handle)
);

CREATE TABLE api_tokens (
    token_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
