//! Bytes that make Automerge panic while loading (found by fuzzing: a short read unwrapped
//! in its column decoder) are a `Corrupt` error like any other malformed document, whether
//! loaded whole, as parts, or as changes into a document.

use xuncha_domain::{DomainError, ProtectedDoc, RecordDoc};

const SHORT_READ: &[u8] = include_bytes!("../fixtures/malformed/hexane-short-read.bin");

#[test]
fn bytes_that_panic_automerge_are_corrupt_not_a_panic() {
    assert!(matches!(RecordDoc::load(SHORT_READ), Err(DomainError::Corrupt(_))));
    assert!(matches!(RecordDoc::load_parts(SHORT_READ, []), Err(DomainError::Corrupt(_))));
    assert!(matches!(ProtectedDoc::load_parts(SHORT_READ, []), Err(DomainError::Corrupt(_))));
}
