//! The server's tests against its public interface: one test binary (one compile and one
//! link instead of one per subject, and its tests run side by side) with a module per subject.

mod attachment_store;
mod conformance;
mod import;
mod pg_log;
