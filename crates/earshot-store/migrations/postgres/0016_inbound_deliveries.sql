-- Delivery ids of signed inbound webhooks already received, per source: a
-- sender's retry (the same `webhook-id` / `X-GitHub-Delivery`) is answered
-- as a duplicate and stores nothing. Kept a limited time (the application
-- prunes old rows as new ones arrive), so the table stays small.
CREATE TABLE inbound_deliveries (
    source_id BIGINT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    delivery_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (source_id, delivery_id)
);
CREATE INDEX inbound_deliveries_age ON inbound_deliveries (received_at);
