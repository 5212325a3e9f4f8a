-- Login sessions. Only the SHA-256 of a token is kept, so a copy of the database lets no one act as a user.
CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    user_address TEXT NOT NULL,
    expires_at   BIGINT NOT NULL
);
