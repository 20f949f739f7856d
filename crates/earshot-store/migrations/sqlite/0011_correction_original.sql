-- A correction keeps the whole analysis it replaced (JSON), next to the
-- corrected label, now that the mention itself carries the corrected one.
ALTER TABLE corrections ADD COLUMN original TEXT;
