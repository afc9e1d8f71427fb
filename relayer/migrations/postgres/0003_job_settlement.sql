-- Settlement of escrow jobs: which provider (owner address) a stored result is from and
-- what it earns (≤ the job's amount), so the completion proof can name them. Set by
-- whoever stores the result (the dispatcher for its worker's result, the peer API for a
-- coordinator's); a result without them cannot be settled by this relayer.
ALTER TABLE results ADD COLUMN provider TEXT;
ALTER TABLE results ADD COLUMN pay BIGINT CHECK (pay >= 0);
