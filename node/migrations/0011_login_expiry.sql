-- Expired login nonces and sessions are deleted by the node's housekeeping (`Store::prune_logins`), by expiry.
CREATE INDEX login_nonces_expiry ON login_nonces (expires_at);
CREATE INDEX sessions_expiry ON sessions (expires_at);
