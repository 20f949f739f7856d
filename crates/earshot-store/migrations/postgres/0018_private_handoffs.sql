-- A case taken private as one tracked handoff: the public acknowledgement
-- and the private message (or, for a phone call or a "DM us" reply, a
-- follow-up an agent owns with a due time). `source_id` is the source that
-- carries the private message (the platform's, or an email source);
-- `address` the email address it went to.
CREATE TABLE private_handoffs (
    id BIGSERIAL PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    channel TEXT NOT NULL CHECK (channel IN ('platform', 'email', 'phone', 'dm_us')),
    source_id BIGINT,
    address TEXT,
    subject TEXT,
    public_reply_id BIGINT REFERENCES replies (id),
    private_reply_id BIGINT REFERENCES replies (id),
    follow_up_note TEXT,
    follow_up_due_at BIGINT,
    follow_up_assignee TEXT,
    follow_up_done_at BIGINT,
    follow_up_done_by TEXT,
    follow_up_notified_at BIGINT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX private_handoffs_case ON private_handoffs (case_id);
CREATE INDEX private_handoffs_public_reply ON private_handoffs (public_reply_id);
CREATE INDEX private_handoffs_private_reply ON private_handoffs (private_reply_id);
-- The follow-up check walks open ones by due time.
CREATE INDEX private_handoffs_due ON private_handoffs (follow_up_due_at)
    WHERE follow_up_due_at IS NOT NULL AND follow_up_done_at IS NULL
    AND follow_up_notified_at IS NULL;

-- Threads the brand opened in private, linked to their case: an item whose
-- conversation key is here joins that case while it is open (the private
-- thread's key differs from the public post's).
CREATE TABLE case_threads (
    conversation_key TEXT PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    created_at BIGINT NOT NULL
);
CREATE INDEX case_threads_case ON case_threads (case_id);
