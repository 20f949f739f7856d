-- A mention heard in a private channel (DM, chat, email): it joins its case
-- but never counts as public evidence (recovery reads public posts only).
ALTER TABLE mentions ADD COLUMN private BIGINT NOT NULL DEFAULT 0;
