-- The brand's author lists (VIP, press, blocked) that routing rules test
-- with `author_in`. Handles are stored lowercase without a leading '@'.
CREATE TABLE author_lists (
    list TEXT NOT NULL,
    handle TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at BIGINT NOT NULL,
    PRIMARY KEY (list, handle)
);
CREATE INDEX author_lists_handle ON author_lists (handle);
