-- The thank-you queue's decisions, one per mention: thanked or skipped, by
-- whom, when, and the text. A thank-you names the small case it was sent on
-- and its reply, whose status says whether it reached the customer (a
-- thanks is never recorded as delivered here).
CREATE TABLE thanks (
    mention_id BIGINT PRIMARY KEY REFERENCES mentions (id),
    decision TEXT NOT NULL,
    actor TEXT NOT NULL,
    body TEXT NOT NULL,
    overridden BIGINT NOT NULL DEFAULT 0,
    reasons TEXT NOT NULL DEFAULT '[]',
    case_id BIGINT REFERENCES cases (id),
    reply_id BIGINT REFERENCES replies (id),
    source TEXT NOT NULL,
    handle TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX thanks_author ON thanks (source, handle);
-- An advocate's posts, whatever the case of the handle they were posted under.
CREATE INDEX mentions_author_lower ON mentions (source, lower(author_handle));
