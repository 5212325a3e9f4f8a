-- Exchange quotes the node signed. A quote is taken at most once: `used` is set in the same transaction as the
-- state that executes it.
CREATE TABLE quotes (
    id         TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL,
    quote_json TEXT NOT NULL,
    used       BIGINT NOT NULL,
    expiry     BIGINT NOT NULL
);
