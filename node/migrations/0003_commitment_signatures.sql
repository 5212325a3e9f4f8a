-- A withdrawal's commitment is derived from its stored update and state; only the two signatures on it are kept.
ALTER TABLE channel_updates ADD COLUMN user_commitment_signature TEXT;
ALTER TABLE channel_updates ADD COLUMN node_commitment_signature TEXT;
