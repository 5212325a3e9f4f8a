-- Dispute transactions seen in the mempool before they were mined: each froze its channel at once (`frozen`, 0006).
-- A mined `Disputed` event makes the freeze final and deletes the channel's rows; a channel whose every row left the
-- mempool unmined, with no dispute on chain, is unfrozen and its rows deleted (`api::mempool`).
CREATE TABLE pending_disputes (
    tx_hash    TEXT PRIMARY KEY,
    channel_id TEXT NOT NULL REFERENCES channels (channel_id),
    nonce      BIGINT NOT NULL,   -- the nonce of the state it carries
    seen_at    BIGINT NOT NULL    -- local Unix seconds
);
CREATE INDEX pending_disputes_by_channel ON pending_disputes (channel_id);
