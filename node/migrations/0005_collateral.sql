-- The node's own deposits into its users' channels. The primary key is the rule "at most one collateral deposit
-- in flight per channel and asset": a second request finds the row and waits for the first.
CREATE TABLE collateral (
    channel_id TEXT NOT NULL,
    asset      TEXT NOT NULL,
    amount     TEXT NOT NULL,   -- U256, 0x hex
    tx_hash    TEXT,            -- set once the chain's RPC accepted the deposit
    status     TEXT NOT NULL,   -- 'sending', 'sent', 'confirmed'
    created_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, asset)
);
