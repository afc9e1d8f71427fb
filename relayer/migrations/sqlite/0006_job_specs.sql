-- The spec a client submitted for its escrow job (canonical JSON, whose SHA-256 is the
-- escrow's spec_hash): what the scheduler sends workers. Written once, never changed.
CREATE TABLE job_specs (
    escrow       TEXT PRIMARY KEY REFERENCES jobs (escrow),
    spec         TEXT NOT NULL,
    submitted_at INTEGER NOT NULL
);
CREATE TRIGGER job_specs_immutable BEFORE UPDATE ON job_specs
BEGIN SELECT RAISE(ABORT, 'spindle: a job spec is never changed'); END;
