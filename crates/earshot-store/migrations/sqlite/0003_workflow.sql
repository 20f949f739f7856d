-- Case workflow (SQLite): teams, per-user workflow profiles, versioned
-- routing rules, SLA policies and per-case SLA state, reply approvals,
-- handoffs, notifications, webhooks and the audit log. Users are referred to
-- by name, so this schema does not depend on how accounts are stored.
CREATE TABLE teams (
    name TEXT PRIMARY KEY,
    calendar TEXT,
    strategy TEXT NOT NULL,
    supervisor TEXT,
    round_robin_cursor TEXT,
    updated_at INTEGER NOT NULL
);

CREATE TABLE team_members (
    team TEXT NOT NULL REFERENCES teams (name) ON DELETE CASCADE,
    user_name TEXT NOT NULL,
    PRIMARY KEY (team, user_name)
);
CREATE INDEX team_members_user ON team_members (user_name);

CREATE TABLE workflow_users (
    name TEXT PRIMARY KEY,
    role TEXT,
    in_training INTEGER NOT NULL DEFAULT 0,
    can_publish INTEGER,
    locations TEXT,
    away INTEGER NOT NULL DEFAULT 0,
    capacity INTEGER NOT NULL DEFAULT 10,
    languages TEXT NOT NULL DEFAULT '[]',
    skills TEXT NOT NULL DEFAULT '[]',
    updated_at INTEGER NOT NULL
);

-- Every version is kept, so a fired rule traces back to its exact text.
CREATE TABLE rule_sets (
    version INTEGER PRIMARY KEY,
    rules TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE sla_policies (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    policy TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE case_sla (
    case_id INTEGER PRIMARY KEY REFERENCES cases (id),
    policy_id INTEGER,
    state TEXT,
    evaluation TEXT,
    updated_at INTEGER NOT NULL
);

-- Warnings, breaches and escalation steps already carried out, one row per
-- (case, target, cycle, step): the primary key makes each run once.
CREATE TABLE sla_marks (
    case_id INTEGER NOT NULL REFERENCES cases (id),
    mark TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (case_id, mark)
);

CREATE TABLE case_flags (
    case_id INTEGER PRIMARY KEY REFERENCES cases (id),
    sensitive INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
);

CREATE TABLE reply_approvals (
    reply_id INTEGER PRIMARY KEY REFERENCES replies (id),
    case_id INTEGER NOT NULL REFERENCES cases (id),
    requested_by TEXT NOT NULL,
    reasons TEXT NOT NULL,
    requested_at INTEGER NOT NULL,
    approved_by TEXT,
    approved_at INTEGER
);
CREATE INDEX reply_approvals_pending ON reply_approvals (approved_at);

CREATE TABLE handoffs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id INTEGER NOT NULL REFERENCES cases (id),
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    message TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    answer TEXT,
    answered_by TEXT,
    answered_at INTEGER
);
CREATE INDEX handoffs_case ON handoffs (case_id);

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_name TEXT NOT NULL,
    kind TEXT NOT NULL,
    case_id INTEGER,
    text TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    read_at INTEGER
);
CREATE INDEX notifications_user ON notifications (user_name, read_at);

CREATE TABLE webhooks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id INTEGER NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    payload TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER
);

-- Changes to rules, policies, users, teams, webhooks and approvals; case
-- events stay in `events` and the audit API reads both.
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    before TEXT,
    after TEXT,
    at INTEGER NOT NULL
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);
CREATE INDEX audit_log_at ON audit_log (at);
