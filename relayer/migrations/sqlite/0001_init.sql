-- Spindle relayer store, SQLite dialect. Keep in step with ../postgres/0001_init.sql:
-- the same tables, columns and guards, so one test suite covers both backends.
-- Times are unix seconds; amounts are the asset's smallest unit (nanoton, USDT 1e-6),
-- which fit a signed 64-bit integer for every real balance.

-- Newest transaction fully processed per watched account (gap-free backfill restarts here).
CREATE TABLE chain_cursors (
    account    TEXT PRIMARY KEY,
    lt         INTEGER NOT NULL CHECK (lt >= 0),
    hash       BLOB NOT NULL CHECK (length(hash) = 32),
    updated_at INTEGER NOT NULL
);

-- Every transaction whose effects were applied; (account, lt) identifies a TON transaction.
CREATE TABLE seen_transactions (
    account TEXT NOT NULL,
    lt      INTEGER NOT NULL CHECK (lt >= 0),
    hash    BLOB NOT NULL CHECK (length(hash) = 32),
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (account, lt)
);

CREATE TABLE jobs (
    escrow           TEXT PRIMARY KEY,
    client           TEXT NOT NULL,
    nonce            INTEGER NOT NULL CHECK (nonce >= 0),
    asset            TEXT NOT NULL,
    amount           INTEGER NOT NULL CHECK (amount > 0),
    deadline         INTEGER NOT NULL,
    spec_hash        BLOB NOT NULL CHECK (length(spec_hash) = 32),
    state            TEXT NOT NULL CHECK (state IN ('funded', 'leased', 'running', 'result_stored',
                         'signed', 'posted', 'settled', 'expired', 'refunded')),
    -- Current lease, denormalised so that claiming is one indexed scan of jobs.
    lease_seq        INTEGER NOT NULL DEFAULT 0 CHECK (lease_seq >= 0),
    lease_worker     TEXT,
    lease_expires_at INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    UNIQUE (client, nonce),
    CHECK (state NOT IN ('leased', 'running') OR (lease_worker IS NOT NULL AND lease_expires_at IS NOT NULL))
);
CREATE INDEX jobs_by_state ON jobs (state, deadline);

-- Lease history: one row per dispatch of a job to a worker.
CREATE TABLE leases (
    escrow       TEXT NOT NULL REFERENCES jobs (escrow),
    seq          INTEGER NOT NULL CHECK (seq > 0),
    worker       TEXT NOT NULL,
    claimed_at   INTEGER NOT NULL,
    heartbeat_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ended_at     INTEGER,
    end_reason   TEXT,
    PRIMARY KEY (escrow, seq)
);

-- The provider's signed acceptance: the slashing evidence for `expire`.
CREATE TABLE acceptances (
    escrow          TEXT NOT NULL,
    lease_seq       INTEGER NOT NULL,
    operator_pubkey BLOB NOT NULL CHECK (length(operator_pubkey) = 32),
    payload         BLOB NOT NULL,
    signature       BLOB NOT NULL CHECK (length(signature) = 64),
    received_at     INTEGER NOT NULL,
    PRIMARY KEY (escrow, lease_seq),
    FOREIGN KEY (escrow, lease_seq) REFERENCES leases (escrow, seq)
);

-- Results as returned (and signed) by workers; a relayer signs only a stored result.
CREATE TABLE results (
    escrow           TEXT NOT NULL REFERENCES jobs (escrow),
    result_hash      BLOB NOT NULL CHECK (length(result_hash) = 32),
    lease_seq        INTEGER NOT NULL,
    body             BLOB NOT NULL,
    input_tokens     INTEGER NOT NULL CHECK (input_tokens >= 0),
    output_tokens    INTEGER NOT NULL CHECK (output_tokens >= 0),
    worker_pubkey    BLOB NOT NULL CHECK (length(worker_pubkey) = 32),
    worker_signature BLOB NOT NULL CHECK (length(worker_signature) = 64),
    stored_at        INTEGER NOT NULL,
    PRIMARY KEY (escrow, result_hash)
);

-- This relayer's own completion-proof signature: at most one per job (primary key), only
-- over a stored result (foreign key), and never rewritten or removed (triggers).
CREATE TABLE job_signatures (
    escrow       TEXT PRIMARY KEY REFERENCES jobs (escrow),
    result_hash  BLOB NOT NULL,
    provider     TEXT NOT NULL,
    amount       INTEGER NOT NULL CHECK (amount >= 0),
    payload_hash BLOB NOT NULL CHECK (length(payload_hash) = 32),
    signature    BLOB NOT NULL CHECK (length(signature) = 64),
    signed_at    INTEGER NOT NULL,
    FOREIGN KEY (escrow, result_hash) REFERENCES results (escrow, result_hash)
);
CREATE TRIGGER job_signatures_immutable BEFORE UPDATE ON job_signatures
BEGIN SELECT RAISE(ABORT, 'spindle: a job signature is never rewritten'); END;
CREATE TRIGGER job_signatures_permanent BEFORE DELETE ON job_signatures
BEGIN SELECT RAISE(ABORT, 'spindle: a job signature is never deleted'); END;

-- Signatures collected from the relayer set for one proof payload (ours included).
CREATE TABLE proof_signatures (
    escrow        TEXT NOT NULL REFERENCES jobs (escrow),
    payload_hash  BLOB NOT NULL CHECK (length(payload_hash) = 32),
    signer_index  INTEGER NOT NULL CHECK (signer_index BETWEEN 0 AND 9),
    signer_pubkey BLOB NOT NULL CHECK (length(signer_pubkey) = 32),
    signature     BLOB NOT NULL CHECK (length(signature) = 64),
    received_at   INTEGER NOT NULL,
    PRIMARY KEY (escrow, payload_hash, signer_index)
);

-- Newest cumulative voucher this relayer signed per (compute account, provider).
CREATE TABLE vouchers (
    account      TEXT NOT NULL,
    provider     TEXT NOT NULL,
    epoch        INTEGER NOT NULL CHECK (epoch >= 0),
    cumulative   INTEGER NOT NULL CHECK (cumulative >= 0),
    settled      INTEGER NOT NULL DEFAULT 0 CHECK (settled >= 0),
    valid_until  INTEGER NOT NULL,
    payload_hash BLOB NOT NULL CHECK (length(payload_hash) = 32),
    signature    BLOB NOT NULL CHECK (length(signature) = 64),
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (account, provider)
);
CREATE TRIGGER vouchers_monotonic BEFORE UPDATE ON vouchers
WHEN NEW.epoch < OLD.epoch OR (NEW.epoch = OLD.epoch AND NEW.cumulative < OLD.cumulative)
BEGIN SELECT RAISE(ABORT, 'spindle: voucher epoch and cumulative amount never go down'); END;
CREATE TRIGGER vouchers_permanent BEFORE DELETE ON vouchers
BEGIN SELECT RAISE(ABORT, 'spindle: a voucher row is never deleted'); END;

-- Every on-chain action, keyed by a deterministic id so a re-send is never a second action.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('complete', 'voucher', 'expire', 'deliver')),
    target          TEXT NOT NULL,
    payload         BLOB NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('prepared', 'submitted', 'failed_retryable',
                        'confirmed', 'superseded')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at INTEGER NOT NULL,
    wallet_seqno    INTEGER,
    valid_until     INTEGER,
    query_id        INTEGER,
    posting_token   INTEGER,
    last_error      TEXT,
    confirmed_lt    INTEGER,
    confirmed_hash  BLOB,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    CHECK (state <> 'submitted' OR posting_token IS NOT NULL),
    CHECK (state NOT IN ('confirmed', 'superseded') OR confirmed_lt IS NOT NULL)
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_target ON outbox (target, state);

-- Exactly one replica posts at a time: whoever holds the unexpired row. The token rises
-- on every change of holder and fences out a poster whose lease ran out.
CREATE TABLE posting_lease (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    token      INTEGER NOT NULL CHECK (token > 0),
    expires_at INTEGER NOT NULL
);
