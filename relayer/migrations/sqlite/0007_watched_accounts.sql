-- The accounts the watcher follows: the hub and every escrow and compute account a
-- client registered (clients deploy them directly, protocol rule 6, so the relayer
-- learns of them only at registration). A registration is permanent: an account's
-- history matters until the watcher has applied it, and accounts are never destroyed.
CREATE TABLE watched_accounts (
    account  TEXT PRIMARY KEY,
    kind     TEXT NOT NULL CHECK (kind IN ('hub', 'job_escrow', 'compute_account')),
    added_at INTEGER NOT NULL
);
CREATE TRIGGER watched_accounts_permanent BEFORE DELETE ON watched_accounts
BEGIN SELECT RAISE(ABORT, 'spindle: a watched account is never removed'); END;
