-- Payments routed through the node: the payer's lock to the node and the node's lock to the payee under one
-- hashlock. A row moves forward through `status` in the same transaction as the channel update that moves it, so
-- a restart finds every payment exactly where its channels are.
CREATE TABLE payments (
    id                 TEXT PRIMARY KEY,  -- keccak256(payer channel id ‖ payer lock id); also the payee lock's id
    payer              TEXT NOT NULL,
    payee              TEXT,              -- NULL for a link payment until it is redeemed
    link_address       TEXT,              -- a link payment: the address of its link key
    asset              TEXT NOT NULL,
    amount             TEXT NOT NULL,     -- U256, 0x hex
    hashlock           TEXT NOT NULL,
    payer_channel      TEXT NOT NULL,
    payer_lock_id      TEXT NOT NULL,
    payer_expiry       BIGINT NOT NULL,
    payee_channel      TEXT,
    payee_expiry       BIGINT NOT NULL,
    encrypted_preimage TEXT,              -- JSON, for the payee; the node cannot open it
    preimage           TEXT,              -- once known
    revealed           BIGINT NOT NULL,   -- 1 once the node revealed the preimage in the registry (Any maps no SQLite BOOLEAN on read)
    status             TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL
);
CREATE INDEX payments_by_payer_channel ON payments (payer_channel, status);
CREATE INDEX payments_by_payee_channel ON payments (payee_channel, status);
CREATE INDEX payments_by_status ON payments (status, updated_at);
CREATE INDEX payments_by_payer ON payments (payer, created_at);
CREATE INDEX payments_by_payee ON payments (payee, created_at);

-- The public key each user signs with, recovered from its login: what a payer encrypts a preimage to.
CREATE TABLE user_keys (
    user_address TEXT PRIMARY KEY,
    public_key   TEXT NOT NULL
);
