-- `spoke-node watchtower`: the newest double-signed state of each channel it watches for someone else, and where
-- that channel's dispute stands. One row per channel id (so per epoch); a row is replaced only by a newer nonce.
CREATE TABLE watched_states (
    channel_id     TEXT PRIMARY KEY,
    user_address   TEXT NOT NULL,
    node_address   TEXT NOT NULL,
    epoch          BIGINT NOT NULL,
    nonce          BIGINT NOT NULL,
    params_json    TEXT NOT NULL,   -- spoke-protocol's ChannelParams
    signed_json    TEXT NOT NULL,   -- spoke-protocol's SignedState
    disputed_nonce BIGINT,          -- the nonce the channel's dispute holds on chain, once one was seen
    answer_tx      TEXT,            -- the watchtower's answer, once the chain's RPC accepted it
    answered_nonce BIGINT,          -- the nonce that answer carried
    concluded      BIGINT NOT NULL DEFAULT 0,
    -- Set at every registration: the chain's record of the channel is read once, so a dispute that began before
    -- the state was registered (behind the event cursor) is still seen.
    needs_check    BIGINT NOT NULL DEFAULT 1
);
