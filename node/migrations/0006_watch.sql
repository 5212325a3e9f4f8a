-- Where the chain watcher has read up to, by what it reads.
CREATE TABLE chain_cursor (
    name  TEXT PRIMARY KEY,
    block BIGINT NOT NULL
);
-- A dispute seen on chain (even before it is final) freezes the channel: the node signs nothing more in it.
ALTER TABLE channels ADD COLUMN frozen BIGINT NOT NULL DEFAULT 0;
CREATE INDEX payments_by_hashlock ON payments (hashlock);
