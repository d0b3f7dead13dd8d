//! `protocol_decode`: sync bodies (frame tag, then CBOR or deflated CBOR).
use xuncha_protocol::{MAX_DECODED_BYTES, SyncRequest, SyncResponse, decode, encode};

/// Decodes `data` as each sync body; whatever decodes must encode and decode to itself.
pub fn check(data: &[u8]) {
    // A small limit too, so the limit's edge is exercised on small inputs.
    for limit in [MAX_DECODED_BYTES, 64] {
        if let Ok(request) = decode::<SyncRequest>(data, limit) {
            let again: SyncRequest = decode(&encode(&request), MAX_DECODED_BYTES).expect("a request re-decodes");
            assert_eq!(again, request, "a request survives a round trip");
        }
        if let Ok(response) = decode::<SyncResponse>(data, limit) {
            let again: SyncResponse = decode(&encode(&response), MAX_DECODED_BYTES).expect("a response re-decodes");
            assert_eq!(again, response, "a response survives a round trip");
        }
    }
}
