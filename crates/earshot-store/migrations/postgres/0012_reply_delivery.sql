-- Honest reply states. A reply is `sent` only once a channel acknowledged
-- it or an agent posted it by hand; it carries the platform's id and link.
ALTER TABLE replies ADD COLUMN delivered_via TEXT;
ALTER TABLE replies ADD COLUMN channel_message_id TEXT;
ALTER TABLE replies ADD COLUMN channel_url TEXT;
-- One platform post is one reply, however often its conversation is imported.
CREATE UNIQUE INDEX replies_channel_message ON replies (case_id, channel_message_id)
    WHERE channel_message_id IS NOT NULL;

-- When the brand last answered the customer (a reply actually sent): a case
-- whose last customer message is older than this waits on the customer.
ALTER TABLE cases ADD COLUMN last_brand_at BIGINT;

-- Before this, "sent" meant written to an outbox nothing read: none of
-- those replies left Earshot. They wait for an agent to post them by hand,
-- and no case has had a real first response yet.
UPDATE replies SET status = 'manual', sent_at = NULL WHERE status IN ('sent', 'approved');
UPDATE replies SET status = 'pending_approval' WHERE status = 'draft' AND id IN
    (SELECT reply_id FROM reply_approvals WHERE approved_at IS NULL AND rejected_at IS NULL);
UPDATE cases SET first_response_at = NULL;
DELETE FROM outbox WHERE delivered_at IS NULL;
