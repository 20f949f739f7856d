-- Configured sources: one connector instance each (a feed, an account, a
-- mailbox). `config` holds the public settings as JSON; `credentials` the
-- write-only ones, sealed by the application (XChaCha20-Poly1305), never
-- plaintext. `cursor` is where the source has read up to, saved in the same
-- transaction as the mentions it covers.
CREATE TABLE sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    config TEXT NOT NULL DEFAULT '{}',
    credentials TEXT,
    paused INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'starting',
    capabilities TEXT,
    cursor TEXT,
    last_success_at INTEGER,
    last_error TEXT,
    last_error_at INTEGER,
    mentions_ingested INTEGER NOT NULL DEFAULT 0,
    records_skipped INTEGER NOT NULL DEFAULT 0,
    consecutive_auth_failures INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Which source heard a mention, and what a reply to it needs (JSON).
ALTER TABLE mentions ADD COLUMN source_id INTEGER REFERENCES sources (id) ON DELETE SET NULL;
ALTER TABLE mentions ADD COLUMN reply_ref TEXT;
-- A hash of the normalised text: the same customer's cross-post (one text on
-- two platforms) joins the open case the first copy opened.
ALTER TABLE mentions ADD COLUMN fingerprint TEXT;
CREATE INDEX mentions_crosspost ON mentions (lower(author_handle), fingerprint)
    WHERE fingerprint IS NOT NULL;
