-- The real outbox: one row per reply a connector delivers, claimed by a
-- worker under a lease (FOR UPDATE SKIP LOCKED) and delivered exactly once.
-- `idempotency_key` is made when the reply is queued and sent with every
-- attempt; `needs_reconcile` marks a row whose last attempt may have landed
-- (no answer, or a worker that died mid-send), so the platform is asked
-- before any resend. `source_id` names the configured source (the sources
-- table) whose connector delivers it.
ALTER TABLE outbox ADD COLUMN source_id BIGINT;
ALTER TABLE outbox ADD COLUMN idempotency_key TEXT;
ALTER TABLE outbox ADD COLUMN reply_ref TEXT NOT NULL DEFAULT '{}';
ALTER TABLE outbox ADD COLUMN status TEXT NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'sending', 'unknown', 'sent', 'failed', 'dead'));
ALTER TABLE outbox ADD COLUMN needs_reconcile BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN next_attempt_at BIGINT;
ALTER TABLE outbox ADD COLUMN lease_until BIGINT;
ALTER TABLE outbox ADD COLUMN lease_owner TEXT;
ALTER TABLE outbox ADD COLUMN first_attempt_at BIGINT;
ALTER TABLE outbox ADD COLUMN remote_id TEXT;
ALTER TABLE outbox ADD COLUMN remote_url TEXT;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN updated_at BIGINT;

-- Rows from before: delivered ones stay sent. Undelivered ones name no
-- source, so nothing can deliver them: they are closed as dead and their
-- replies wait for an agent to post them by hand.
DELETE FROM outbox WHERE id NOT IN (SELECT MIN(id) FROM outbox GROUP BY reply_id);
UPDATE outbox SET idempotency_key = 'legacy-' || id,
    status = CASE WHEN delivered_at IS NULL THEN 'dead' ELSE 'sent' END,
    next_attempt_at = created_at,
    last_error = CASE WHEN delivered_at IS NULL
        THEN 'queued before Earshot had a delivering outbox; post it by hand' END,
    updated_at = COALESCE(delivered_at, created_at);
UPDATE replies SET status = 'manual'
    WHERE status IN ('queued', 'sending')
    AND id IN (SELECT reply_id FROM outbox WHERE status = 'dead');

ALTER TABLE outbox ALTER COLUMN idempotency_key SET NOT NULL;
ALTER TABLE outbox ALTER COLUMN next_attempt_at SET NOT NULL;
ALTER TABLE outbox ALTER COLUMN updated_at SET NOT NULL;
ALTER TABLE outbox DROP COLUMN source;
ALTER TABLE outbox DROP COLUMN delivered_at;
ALTER TABLE outbox ADD CONSTRAINT outbox_reply_unique UNIQUE (reply_id);
ALTER TABLE outbox ADD CONSTRAINT outbox_idempotency_key_unique UNIQUE (idempotency_key);
-- Claiming walks due rows in order.
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
