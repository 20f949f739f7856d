-- The real outbox: one row per reply a connector delivers, claimed by a
-- worker under a lease and delivered exactly once. `idempotency_key` is made
-- when the reply is queued and sent with every attempt; `needs_reconcile`
-- marks a row whose last attempt may have landed (no answer, or a worker
-- that died mid-send), so the platform is asked before any resend.
-- `source_id` names the configured source (the sources table) whose
-- connector delivers it.
CREATE TABLE outbox_v2 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reply_id INTEGER NOT NULL UNIQUE REFERENCES replies (id),
    source_id INTEGER,
    idempotency_key TEXT NOT NULL UNIQUE,
    visibility TEXT NOT NULL,
    body TEXT NOT NULL,
    recipient TEXT NOT NULL,
    reply_ref TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'sending', 'unknown', 'sent', 'failed', 'dead')),
    needs_reconcile INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER,
    lease_owner TEXT,
    first_attempt_at INTEGER,
    remote_id TEXT,
    remote_url TEXT,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Rows from before: delivered ones stay sent. Undelivered ones name no
-- source, so nothing can deliver them: they are closed as dead and their
-- replies wait for an agent to post them by hand.
INSERT INTO outbox_v2 (id, reply_id, source_id, idempotency_key, visibility, body, recipient,
    status, attempts, next_attempt_at, last_error, created_at, updated_at)
SELECT id, reply_id, NULL, 'legacy-' || id, visibility, body, recipient,
    CASE WHEN delivered_at IS NULL THEN 'dead' ELSE 'sent' END, 0, created_at,
    CASE WHEN delivered_at IS NULL
        THEN 'queued before Earshot had a delivering outbox; post it by hand' END,
    created_at, COALESCE(delivered_at, created_at)
FROM outbox WHERE id IN (SELECT MIN(id) FROM outbox GROUP BY reply_id);
UPDATE replies SET status = 'manual'
    WHERE status IN ('queued', 'sending')
    AND id IN (SELECT reply_id FROM outbox_v2 WHERE status = 'dead');

DROP TABLE outbox;
ALTER TABLE outbox_v2 RENAME TO outbox;
-- Claiming walks due rows in order.
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
