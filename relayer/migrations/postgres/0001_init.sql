-- Spindle relayer store, PostgreSQL dialect. Keep in step with ../sqlite/0001_init.sql:
-- the same tables, columns and guards, so one test suite covers both backends.
-- Times are unix seconds; amounts are the asset's smallest unit (nanoton, USDT 1e-6),
-- which fit a signed 64-bit integer for every real balance.

-- Newest transaction fully processed per watched account (gap-free backfill restarts here).
CREATE TABLE chain_cursors (
    account    TEXT PRIMARY KEY,
    lt         BIGINT NOT NULL CHECK (lt >= 0),
    hash       BYTEA NOT NULL CHECK (octet_length(hash) = 32),
    updated_at BIGINT NOT NULL
);

-- Every transaction whose effects were applied; (account, lt) identifies a TON transaction.
CREATE TABLE seen_transactions (
    account TEXT NOT NULL,
    lt      BIGINT NOT NULL CHECK (lt >= 0),
    hash    BYTEA NOT NULL CHECK (octet_length(hash) = 32),
    seen_at BIGINT NOT NULL,
    PRIMARY KEY (account, lt)
);

CREATE TABLE jobs (
    escrow           TEXT PRIMARY KEY,
    client           TEXT NOT NULL,
    nonce            BIGINT NOT NULL CHECK (nonce >= 0),
    asset            TEXT NOT NULL,
    amount           BIGINT NOT NULL CHECK (amount > 0),
    deadline         BIGINT NOT NULL,
    spec_hash        BYTEA NOT NULL CHECK (octet_length(spec_hash) = 32),
    state            TEXT NOT NULL CHECK (state IN ('funded', 'leased', 'running', 'result_stored',
                         'signed', 'posted', 'settled', 'expired', 'refunded')),
    -- Current lease, denormalised so that claiming is one indexed scan of jobs.
    lease_seq        BIGINT NOT NULL DEFAULT 0 CHECK (lease_seq >= 0),
    lease_worker     TEXT,
    lease_expires_at BIGINT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (client, nonce),
    CHECK (state NOT IN ('leased', 'running') OR (lease_worker IS NOT NULL AND lease_expires_at IS NOT NULL))
);
CREATE INDEX jobs_by_state ON jobs (state, deadline);

-- Lease history: one row per dispatch of a job to a worker.
CREATE TABLE leases (
    escrow       TEXT NOT NULL REFERENCES jobs (escrow),
    seq          BIGINT NOT NULL CHECK (seq > 0),
    worker       TEXT NOT NULL,
    claimed_at   BIGINT NOT NULL,
    heartbeat_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    ended_at     BIGINT,
    end_reason   TEXT,
    PRIMARY KEY (escrow, seq)
);

-- The provider's signed acceptance: the slashing evidence for `expire`.
CREATE TABLE acceptances (
    escrow          TEXT NOT NULL,
    lease_seq       BIGINT NOT NULL,
    operator_pubkey BYTEA NOT NULL CHECK (octet_length(operator_pubkey) = 32),
    payload         BYTEA NOT NULL,
    signature       BYTEA NOT NULL CHECK (octet_length(signature) = 64),
    received_at     BIGINT NOT NULL,
    PRIMARY KEY (escrow, lease_seq),
    FOREIGN KEY (escrow, lease_seq) REFERENCES leases (escrow, seq)
);

-- Results as returned (and signed) by workers; a relayer signs only a stored result.
CREATE TABLE results (
    escrow           TEXT NOT NULL REFERENCES jobs (escrow),
    result_hash      BYTEA NOT NULL CHECK (octet_length(result_hash) = 32),
    lease_seq        BIGINT NOT NULL,
    body             BYTEA NOT NULL,
    input_tokens     BIGINT NOT NULL CHECK (input_tokens >= 0),
    output_tokens    BIGINT NOT NULL CHECK (output_tokens >= 0),
    worker_pubkey    BYTEA NOT NULL CHECK (octet_length(worker_pubkey) = 32),
    worker_signature BYTEA NOT NULL CHECK (octet_length(worker_signature) = 64),
    stored_at        BIGINT NOT NULL,
    PRIMARY KEY (escrow, result_hash)
);

-- This relayer's own completion-proof signature: at most one per job (primary key), only
-- over a stored result (foreign key), and never rewritten or removed (triggers).
CREATE TABLE job_signatures (
    escrow       TEXT PRIMARY KEY REFERENCES jobs (escrow),
    result_hash  BYTEA NOT NULL,
    provider     TEXT NOT NULL,
    amount       BIGINT NOT NULL CHECK (amount >= 0),
    payload_hash BYTEA NOT NULL CHECK (octet_length(payload_hash) = 32),
    signature    BYTEA NOT NULL CHECK (octet_length(signature) = 64),
    signed_at    BIGINT NOT NULL,
    FOREIGN KEY (escrow, result_hash) REFERENCES results (escrow, result_hash)
);

-- Signatures collected from the relayer set for one proof payload (ours included).
CREATE TABLE proof_signatures (
    escrow        TEXT NOT NULL REFERENCES jobs (escrow),
    payload_hash  BYTEA NOT NULL CHECK (octet_length(payload_hash) = 32),
    signer_index  BIGINT NOT NULL CHECK (signer_index BETWEEN 0 AND 9),
    signer_pubkey BYTEA NOT NULL CHECK (octet_length(signer_pubkey) = 32),
    signature     BYTEA NOT NULL CHECK (octet_length(signature) = 64),
    received_at   BIGINT NOT NULL,
    PRIMARY KEY (escrow, payload_hash, signer_index)
);

-- Newest cumulative voucher this relayer signed per (compute account, provider).
CREATE TABLE vouchers (
    account      TEXT NOT NULL,
    provider     TEXT NOT NULL,
    epoch        BIGINT NOT NULL CHECK (epoch >= 0),
    cumulative   BIGINT NOT NULL CHECK (cumulative >= 0),
    settled      BIGINT NOT NULL DEFAULT 0 CHECK (settled >= 0),
    valid_until  BIGINT NOT NULL,
    payload_hash BYTEA NOT NULL CHECK (octet_length(payload_hash) = 32),
    signature    BYTEA NOT NULL CHECK (octet_length(signature) = 64),
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (account, provider)
);

-- Every on-chain action, keyed by a deterministic id so a re-send is never a second action.
CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    kind            TEXT NOT NULL CHECK (kind IN ('complete', 'voucher', 'expire', 'deliver')),
    target          TEXT NOT NULL,
    payload         BYTEA NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('prepared', 'submitted', 'failed_retryable',
                        'confirmed', 'superseded')),
    attempts        BIGINT NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at BIGINT NOT NULL,
    wallet_seqno    BIGINT,
    valid_until     BIGINT,
    query_id        BIGINT,
    posting_token   BIGINT,
    last_error      TEXT,
    confirmed_lt    BIGINT,
    confirmed_hash  BYTEA,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
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
    token      BIGINT NOT NULL CHECK (token > 0),
    expires_at BIGINT NOT NULL
);

-- Guards enforced by the database itself, not only by the relayer's code.
CREATE FUNCTION spindle_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'spindle: %', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE TRIGGER job_signatures_immutable BEFORE UPDATE ON job_signatures
    FOR EACH ROW EXECUTE FUNCTION spindle_refuse('a job signature is never rewritten');
CREATE TRIGGER job_signatures_permanent BEFORE DELETE ON job_signatures
    FOR EACH ROW EXECUTE FUNCTION spindle_refuse('a job signature is never deleted');
CREATE TRIGGER vouchers_monotonic BEFORE UPDATE ON vouchers
    FOR EACH ROW WHEN (NEW.epoch < OLD.epoch OR (NEW.epoch = OLD.epoch AND NEW.cumulative < OLD.cumulative))
    EXECUTE FUNCTION spindle_refuse('voucher epoch and cumulative amount never go down');
CREATE TRIGGER vouchers_permanent BEFORE DELETE ON vouchers
    FOR EACH ROW EXECUTE FUNCTION spindle_refuse('a voucher row is never deleted');
