-- Metered charges of the OpenAI-compatible gateway, next to the vouchers that settle them.
-- One row per verified request; a charge is never changed or removed (the cumulative
-- voucher for (account, provider) is the sum of its charges).
CREATE TABLE charges (
    request_id TEXT PRIMARY KEY,
    account    TEXT NOT NULL,
    provider   TEXT NOT NULL,
    cost       INTEGER NOT NULL CHECK (cost >= 0),
    charged_at INTEGER NOT NULL
);
CREATE INDEX charges_by_pair ON charges (account, provider);
CREATE TRIGGER charges_immutable BEFORE UPDATE ON charges
BEGIN SELECT RAISE(ABORT, 'spindle: a charge is never changed'); END;
CREATE TRIGGER charges_permanent BEFORE DELETE ON charges
BEGIN SELECT RAISE(ABORT, 'spindle: a charge is never deleted'); END;

-- Which voucher each outbox item posts, so a restarted poster knows what "confirmed"
-- means for it (the account's get_paid for the provider reached the cumulative).
CREATE TABLE voucher_posts (
    outbox_id  TEXT PRIMARY KEY REFERENCES outbox (id),
    account    TEXT NOT NULL,
    provider   TEXT NOT NULL,
    epoch      INTEGER NOT NULL CHECK (epoch >= 0),
    cumulative INTEGER NOT NULL CHECK (cumulative > 0)
);
CREATE INDEX voucher_posts_by_pair ON voucher_posts (account, provider);
