-- The spec a client submitted for its escrow job (canonical JSON, whose SHA-256 is the
-- escrow's spec_hash): what the scheduler sends workers. Written once, never changed.
-- Keep in step with ../sqlite/0006_job_specs.sql.
CREATE TABLE job_specs (
    escrow       TEXT PRIMARY KEY REFERENCES jobs (escrow),
    spec         TEXT NOT NULL,
    submitted_at BIGINT NOT NULL
);
CREATE TRIGGER job_specs_immutable BEFORE UPDATE ON job_specs
    FOR EACH ROW EXECUTE FUNCTION spindle_refuse('a job spec is never changed');
