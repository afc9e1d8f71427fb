//! Spindle relayer.
