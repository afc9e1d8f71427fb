-- One owner of the relayer's wallet (settle::submitter): every external message it sends
-- is one submission — one wallet seqno and valid_until carrying up to 255 outbox items —
-- stored with the ids of its items before the message leaves. It is resolved later: it
-- landed (the wallet's seqno passed it) or expired (valid_until passed with the seqno
-- unused, so it can never land and its unconfirmed items are re-sent under the same ids).
CREATE TABLE wallet_submissions (
    id            TEXT PRIMARY KEY,
    lease         TEXT NOT NULL,
    seqno         INTEGER NOT NULL CHECK (seqno >= 0),
    valid_until   INTEGER NOT NULL,
    posting_token INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'landed', 'expired')),
    created_at    INTEGER NOT NULL,
    resolved_at   INTEGER
);
CREATE INDEX wallet_submissions_pending ON wallet_submissions (lease, state);

CREATE TABLE wallet_submission_items (
    submission_id TEXT NOT NULL REFERENCES wallet_submissions (id),
    outbox_id     TEXT NOT NULL REFERENCES outbox (id),
    PRIMARY KEY (submission_id, outbox_id)
);

-- What each outbox item attaches (nanotons), so the submitter can send any item as is.
ALTER TABLE outbox ADD COLUMN value INTEGER NOT NULL DEFAULT 0 CHECK (value >= 0);
