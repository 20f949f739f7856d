-- When a case's SLA verdict next changes if nothing happens: the ticker
-- skips cases that neither changed nor reached this instant.
ALTER TABLE case_sla ADD COLUMN next_check_at BIGINT;
