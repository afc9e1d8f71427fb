//! Spindle worker.
