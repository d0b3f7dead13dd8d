//! The checks behind Xuncha's fuzz targets. Each target in `fuzz_targets/` is one line
//! calling a `check` here; `tests/regressions.rs` replays the committed corpus and every
//! kept crasher through the same functions without libFuzzer, on stable, with no flags.

pub mod attachments;
pub mod document;
pub mod edits;
pub mod protocol;
pub mod server;
pub mod sync;

/// A target's check of one input: panics (or lets the server answer 5xx) on a bug.
pub type Check = fn(&[u8]);

/// The targets and their checks, by name (the directory names under `corpus/` and
/// `regressions/`).
pub const TARGETS: &[(&str, Check)] = &[
    ("protocol_decode", protocol::check),
    ("sync_request", sync::check_raw),
    ("sync_upload", sync::check_scenario),
    ("document_load", document::check),
    ("attachment_protocol", attachments::check),
];
