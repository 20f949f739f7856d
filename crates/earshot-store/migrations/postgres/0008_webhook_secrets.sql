-- Each outbound webhook gets a signing secret: deliveries carry an
-- HMAC-SHA256 of their timestamp and body, so receivers can check that a
-- payload came from this Earshot and was not replayed. Webhooks added
-- before this migration have none and are sent unsigned.
ALTER TABLE webhooks ADD COLUMN secret TEXT;
