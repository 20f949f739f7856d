-- Recovery: each resolved case's outcome as last assessed, from its latest
-- resolution (`resolved_at`; a row whose resolved_at is not the case's is
-- stale and counts nowhere). Mention ids are JSON arrays.
CREATE TABLE recovery (
    case_id INTEGER PRIMARY KEY REFERENCES cases (id),
    outcome TEXT NOT NULL,
    before_tone TEXT,
    after_tone TEXT,
    before_mentions TEXT NOT NULL,
    after_mentions TEXT NOT NULL,
    later_posts INTEGER NOT NULL,
    resolved_at INTEGER NOT NULL,
    window_end INTEGER NOT NULL,
    is_final INTEGER NOT NULL,
    assessed_at INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX recovery_provisional ON recovery (is_final, case_id);
CREATE INDEX recovery_outcome ON recovery (outcome, case_id);
-- Recent resolutions are found through cases_resolved (resolved_at), made
-- with the CSAT tables.
-- An author's later posts: same source, handle compared case-insensitively,
-- by the customer's clock.
CREATE INDEX mentions_author_time ON mentions (source, lower(author_handle), created_at);
