-- One schema for SQLite and PostgreSQL: only types both spell the same way. Hashes and addresses are lowercase
-- 0x-hex TEXT, states and updates are spoke-protocol's JSON, nonces are BIGINT (the store refuses nonces above
-- 2^63 - 1).
CREATE TABLE channels (
    channel_id   TEXT PRIMARY KEY,
    user_address TEXT NOT NULL,
    epoch        BIGINT NOT NULL
);
CREATE UNIQUE INDEX channels_by_user_epoch ON channels (user_address, epoch);

CREATE TABLE channel_updates (
    channel_id     TEXT NOT NULL REFERENCES channels (channel_id),
    nonce          BIGINT NOT NULL,
    update_json    TEXT,
    state_json     TEXT NOT NULL,
    user_signature TEXT,
    node_signature TEXT,
    PRIMARY KEY (channel_id, nonce)
);

CREATE TABLE login_nonces (
    nonce      TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL,
    used       BOOLEAN NOT NULL
);
