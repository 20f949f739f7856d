-- CSAT: the policies (the default, per team, per source) and one request
-- per case, asked in the customer's private channel. `status` is how far
-- the request's message got; the answer is stored once (`answered_at` set
-- by `UPDATE ... WHERE answered_at IS NULL`). `lease_until` holds a
-- request while a worker sends it, so a crash mid-send is finished later
-- and never sent twice.
CREATE TABLE csat_policies (
    scope TEXT NOT NULL CHECK (scope IN ('default', 'team', 'source')),
    scope_key TEXT NOT NULL,
    mode TEXT NOT NULL CHECK (mode IN ('on_resolve', 'on_demand', 'never')),
    delay_minutes INTEGER,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (scope, scope_key)
);

CREATE TABLE csat_requests (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL UNIQUE REFERENCES cases (id),
    trigger_kind TEXT NOT NULL CHECK (trigger_kind IN ('on_resolve', 'on_demand')),
    status TEXT NOT NULL DEFAULT 'scheduled'
        CHECK (status IN ('scheduled', 'sent', 'no_channel')),
    source_id INTEGER,
    reply_id INTEGER REFERENCES replies (id),
    no_channel_reason TEXT,
    requested_by TEXT NOT NULL,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    expires_at INTEGER NOT NULL,
    score INTEGER CHECK (score BETWEEN 1 AND 5),
    comment TEXT,
    answered_at INTEGER
);
CREATE INDEX csat_requests_created ON csat_requests (created_at);
CREATE INDEX csat_requests_stalled ON csat_requests (status, lease_until);
-- The scan for due requests walks recently resolved cases.
CREATE INDEX cases_resolved ON cases (resolved_at);
