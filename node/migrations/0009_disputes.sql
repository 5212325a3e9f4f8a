-- What the node did on chain to follow its own channels' disputes through to their payouts. A row is written as
-- soon as the chain's RPC accepted the transaction, so a restart waits for it instead of sending it again.
CREATE TABLE dispute_txs (
    tx_hash    TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL REFERENCES channels (channel_id),
    action     TEXT NOT NULL,   -- answer:NONCE, reveal, conclude, settle:LOCK_ID, claim:ASSET
    status     TEXT NOT NULL,   -- sent, mined, reverted, lost
    sent_at    BIGINT NOT NULL,
    seq        BIGINT NOT NULL  -- the order they were sent in (clocks tie)
);
CREATE INDEX dispute_txs_by_channel ON dispute_txs (channel_id);
-- Set once the node has nothing left to gain from a concluded channel: its locks settled, its payouts claimed.
ALTER TABLE channels ADD COLUMN dispute_done BIGINT NOT NULL DEFAULT 0;
