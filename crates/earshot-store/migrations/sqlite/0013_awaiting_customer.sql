-- A case whose latest customer message the brand has answered (or that an
-- agent set pending) waits on the customer: it leaves the top of the queue
-- until the customer writes again. Derived by the database so it can never
-- disagree with the timestamps it is computed from.
ALTER TABLE cases ADD COLUMN awaiting_customer INTEGER
    GENERATED ALWAYS AS (CASE WHEN status = 'pending'
        OR (last_brand_at IS NOT NULL AND last_brand_at >= last_customer_at)
        THEN 1 ELSE 0 END) VIRTUAL;
DROP INDEX cases_inbox;
CREATE INDEX cases_inbox ON cases (awaiting_customer, priority DESC, created_at, id)
    WHERE status IN ('new', 'open', 'pending');
