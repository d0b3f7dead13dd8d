//! The checks behind Xuncha's fuzz targets. Each target in `fuzz_targets/` is one line
//! calling a `check` here; `tests/regressions.rs` replays the committed corpus and every
//! kept crasher through the same functions without libFuzzer, on stable, with no flags.

pub mod attachments;
pub mod document;
pub mod edits;
pub mod protocol;
pub mod server;
pub mod sync;

/// libFuzzer's panic hook aborts on every panic, even one that `xuncha_domain::guarded`
/// catches by design (Automerge panics on some malformed bytes; the product turns that into
/// `Corrupt`). Wraps that hook once so a panic inside a guarded load unwinds to its catch,
/// and every other panic still aborts as a crash. The fuzz targets call it first.
pub fn allow_guarded_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !xuncha_domain::inside_guarded() {
                previous(info);
            }
        }));
    });
}

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
