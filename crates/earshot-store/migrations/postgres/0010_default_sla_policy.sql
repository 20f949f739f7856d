-- A fresh install answers to a sensible first SLA: first response within an
-- hour, each next response within two, resolution within a day, counted
-- around the clock, with a warning 15 minutes before each is due. It is an
-- ordinary policy: admins edit or delete it like any other.
INSERT INTO sla_policies (policy, updated_at)
SELECT '{"name":"Standard","position":1000,"conditions":{},"targets":{"first_response_minutes":60,"next_response_minutes":120,"resolution_minutes":1440},"time_basis":{"type":"calendar_hours"},"warn_before_minutes":15,"escalation":[]}', 0
WHERE NOT EXISTS (SELECT 1 FROM sla_policies);
