-- A supervisor may turn a held reply down, with a reason for its author.
ALTER TABLE reply_approvals ADD COLUMN rejected_by TEXT;
ALTER TABLE reply_approvals ADD COLUMN rejected_at INTEGER;
ALTER TABLE reply_approvals ADD COLUMN rejection_reason TEXT;
