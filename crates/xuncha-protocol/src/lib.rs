//! The wire types of Xuncha's HTTP API and their versioning, shared by the device (client)
//! and the server. Sync bodies are CBOR, deflate-compressed when that makes them smaller,
//! behind a one-byte frame tag; enrollment and admin bodies are JSON.
//!
//! Every request carries [`PROTOCOL_HEADER`]; a server answers a request of another
//! version with `426 Upgrade Required` and an [`ErrorBody`] telling the user to update.

use std::io::Read;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The protocol version this code speaks.
pub const PROTOCOL_VERSION: u32 = 1;
/// The request header that carries the protocol version.
pub const PROTOCOL_HEADER: &str = "x-xuncha-protocol";
/// The content type of sync bodies.
pub const SYNC_CONTENT_TYPE: &str = "application/vnd.xuncha.sync";
/// The largest sync request body the server accepts, compressed, in bytes.
pub const MAX_REQUEST_BYTES: usize = 8 * 1024 * 1024;
/// The largest a body may grow to when decompressed, in bytes.
pub const MAX_DECODED_BYTES: usize = 64 * 1024 * 1024;
/// The largest a sync request may grow to when decompressed, in bytes: a device sends
/// at most [`UPLOAD_BATCH_BYTES`] of changes (and one document beyond) per request.
pub const MAX_REQUEST_DECODED_BYTES: usize = 32 * 1024 * 1024;
/// The most uploads (documents) one sync request carries; more wait for the next request
/// of the same sync.
pub const MAX_UPLOADS: usize = 500;
/// A device sends at most this many bytes of changes in one sync request; more waits for
/// the next request of the same sync.
pub const UPLOAD_BATCH_BYTES: usize = 2 * 1024 * 1024;
/// The most log entries (documents) a server returns in one response.
pub const MAX_ENTRIES: u32 = 2_000;

/// Which document of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// The record itself.
    Record,
    /// Its protected companion (the informant of a gang clue).
    Protected,
}

/// A document: a record id (16 UUID bytes) and the part.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DocKey {
    #[serde(with = "serde_bytes")]
    pub record: Vec<u8>,
    pub part: Part,
}

/// `POST /v1/sync`: what the device sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SyncRequest {
    /// The opaque cursor the server last returned (empty on a first sync).
    #[serde(with = "serde_bytes")]
    pub cursor: Vec<u8>,
    /// Changes made on the device since the server last acknowledged them.
    pub uploads: Vec<Upload>,
    /// Documents the device needs whole (it received changes whose history it lacks).
    pub want_full: Vec<DocKey>,
    /// The tag of the reference data the device holds (empty: none); the server sends
    /// the reference data again when its own tag for the device differs.
    #[serde(default, with = "serde_bytes")]
    pub reference_tag: Vec<u8>,
    /// The device's public keys. The server registers them the first time it sees them
    /// (a device enrolled before keys existed) and refuses a request whose keys differ from
    /// the registered ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<DeviceKeys>,
    /// Records (16 UUID bytes) the device holds, the server has, and the device knows no
    /// number (编号) of: the server answers with the numbers it has given them (at most
    /// [`MAX_ENTRIES`] are looked at).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub want_numbers: Vec<serde_bytes::ByteBuf>,
    /// Whether the entries should carry the signatures of their changes (a device that
    /// passes changes on; servers before it ignore it and send none).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub signatures: bool,
}

/// A device's public keys, made at enrollment; the private halves never leave the
/// device's encrypted store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DeviceKeys {
    /// Ed25519 public key (hex) that verifies the device's change signatures.
    pub signing: String,
    /// X25519 recipient (`age1…`) that protected values are sealed to, so the device
    /// that wrote a value can read it again.
    pub sealing: String,
}

/// The signature of one change by the device that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSignature {
    /// The Automerge change hash (32 bytes).
    #[serde(with = "serde_bytes")]
    pub hash: Vec<u8>,
    /// Ed25519 over [`signing::message`] of the hash (64 bytes).
    #[serde(with = "serde_bytes")]
    pub signature: Vec<u8>,
}

/// The changes of one document since the heads the device last saw acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub doc: DocKey,
    /// Automerge changes (the output of `save_after`), or the whole document.
    #[serde(with = "serde_bytes")]
    pub changes: Vec<u8>,
    /// A signature for each change of the device's own among them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<ChangeSignature>,
}

/// The server's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct SyncResponse {
    /// One acknowledgement per upload, in order.
    pub acks: Vec<Ack>,
    /// Changes the device may see that it has not seen, grouped by document.
    pub entries: Vec<Entry>,
    /// The cursor to send next time.
    #[serde(with = "serde_bytes")]
    pub cursor: Vec<u8>,
    /// Whether more entries are waiting: sync again at once.
    pub more: bool,
    /// Documents the device may no longer hold (its user's scope changed): it removes
    /// them, keeping any changes of its own not yet acknowledged.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<DocKey>,
    /// The reference data the device may see, whole, when it differs from what it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<ReferenceUpdate>,
    /// The numbers (编号) the server gave the records of this response (those uploaded and
    /// stored, those in `entries`) and of those in `want_numbers`, of the records the device
    /// may read. A record the server has not numbered yet (no round) is absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub numbers: Vec<RecordNumber>,
}

/// A record's number (编号) as the server assigned it: `{round}-{team}-{NNN}`, never
/// changed once given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordNumber {
    /// 16 UUID bytes.
    #[serde(with = "serde_bytes")]
    pub record: Vec<u8>,
    pub number: String,
}

/// The reference data of a device (divisions, rounds, teams, rosters with masked numbers)
/// and the tag to send back next time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferenceUpdate {
    #[serde(with = "serde_bytes")]
    pub tag: Vec<u8>,
    pub data: xuncha_domain::Reference,
    /// The district's protected-data key, once the administrator has made one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected: Option<ProtectedKey>,
}

/// The district's protected-data key as a device receives it: the recipient every
/// protected value is sealed to, and (for a supervisor's device it was granted to) the
/// identity, sealed to that device's own key so only it can open it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedKey {
    /// `age1…`
    pub recipient: String,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "serde_bytes")]
    pub wrapped: Option<Vec<u8>>,
}

/// `GET /v1/info`: who the server is, so a device can tell it is the same server at a new
/// address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Made once when the server's storage is created; never changes.
    pub server_id: String,
    pub protocol: u32,
}

/// What became of one upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    pub doc: DocKey,
    pub outcome: Outcome,
    /// The server's heads of the document after the upload (32-byte change hashes).
    pub heads: Vec<serde_bytes::ByteBuf>,
}

/// The outcome of one upload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Stored; `new` changes were new to the server (0 for a retry).
    Stored { new: u32 },
    /// Refused whole; nothing of it was stored. The message (Chinese, then English) is for
    /// the command line and logs; the app words the code itself.
    Refused { code: ErrorCode, message: String },
    /// The changes depend on changes the server does not have: send the whole document.
    NeedFull,
}

/// Changes of one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub doc: DocKey,
    /// Concatenated Automerge changes, or a whole saved document when `full`.
    #[serde(with = "serde_bytes")]
    pub changes: Vec<u8>,
    pub full: bool,
    /// The signatures of the document's changes, when the device asked for them (a device
    /// that carries its team's changes on, as a team relay's members do).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<ChangeSignature>,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// A stable code the client branches on (a code it does not know reads as
    /// [`ErrorCode::Unknown`]).
    pub code: ErrorCode,
    /// What happened and what to do, in Chinese and English (for the command line and logs).
    pub message: String,
}

/// Error codes: one list shared by the server, the device, the app and its UI.
pub use xuncha_domain::ErrorCode;

/// The error codes with meaning to the client, by their old names.
pub mod codes {
    use super::ErrorCode;

    /// The device was revoked: wipe its local data.
    pub const REVOKED: ErrorCode = ErrorCode::Revoked;
    /// The token is unknown or missing.
    pub const UNAUTHORIZED: ErrorCode = ErrorCode::Unauthorized;
    /// Another protocol version: update the app.
    pub const UPGRADE: ErrorCode = ErrorCode::UpgradeRequired;
    /// The body could not be read.
    pub const BAD_BODY: ErrorCode = ErrorCode::BadBody;
    /// The body is too large.
    pub const TOO_LARGE: ErrorCode = ErrorCode::TooLarge;
    /// Too many failed attempts: wait.
    pub const RATE_LIMITED: ErrorCode = ErrorCode::RateLimited;
    /// An upload contained a change made by another device's actor.
    pub const FOREIGN_ACTOR: ErrorCode = ErrorCode::ForeignActor;
    /// An upload contained a change whose author is not the device's user.
    pub const FOREIGN_AUTHOR: ErrorCode = ErrorCode::ForeignAuthor;
    /// An upload touched a record outside the device's write scope.
    pub const OUT_OF_SCOPE: ErrorCode = ErrorCode::OutOfScope;
    /// An upload was not a valid Xuncha document.
    pub const INVALID_DOCUMENT: ErrorCode = ErrorCode::InvalidDocument;
    /// An upload contained a change without its device's signature.
    pub const UNSIGNED: ErrorCode = ErrorCode::Unsigned;
    /// A change's signature does not verify with the device's registered key.
    pub const BAD_SIGNATURE: ErrorCode = ErrorCode::BadSignature;
    /// The device's keys differ from the ones the server registered for it.
    pub const KEY_MISMATCH: ErrorCode = ErrorCode::KeyMismatch;
    /// The server is serving as many connections as it may: retry after the hint.
    pub const BUSY: ErrorCode = ErrorCode::Busy;
    /// The request's body did not arrive in time.
    pub const TIMEOUT: ErrorCode = ErrorCode::Timeout;
    /// The device holds as many attachment bytes on the server as it may.
    pub const QUOTA: ErrorCode = ErrorCode::QuotaExceeded;
    /// The enrollment code is unknown, used, cancelled or expired.
    pub const BAD_ENROLLMENT_CODE: ErrorCode = ErrorCode::BadEnrollmentCode;
    /// The device's token has expired: enroll the device again.
    pub const TOKEN_EXPIRED: ErrorCode = ErrorCode::TokenExpired;
    /// The device's user was disabled by the administrator.
    pub const USER_DISABLED: ErrorCode = ErrorCode::UserDisabled;
    /// An attachment piece must start where the bytes the server holds end.
    pub const RESUME: ErrorCode = ErrorCode::Resume;
}

pub mod bundle;
pub mod pin;
pub mod relay;

/// Change signatures (in the domain, where both ends use them).
pub use xuncha_domain::signing;

/// `POST /v1/enroll` (JSON): a device exchanges a one-time code for its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollRequest {
    pub code: String,
    pub device_name: String,
    /// The Automerge actor id the device will write with (hex).
    pub actor: String,
    /// The device's public keys (absent from apps before signed changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<DeviceKeys>,
}

/// What an enrollment QR code holds: the server's address and the one-time code, as
/// `xuncha:enroll?server=<percent-encoded URL>&code=<code>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollLink {
    pub server: String,
    pub code: String,
    /// The server's key pin (see [`pin`]), for a server that terminates TLS itself: the
    /// device enrolls only with a server presenting that key, and syncs only with it after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
}

impl EnrollLink {
    const PREFIX: &'static str = "xuncha:enroll?";

    /// The text to put in a QR code.
    pub fn to_uri(&self) -> String {
        let mut uri = format!(
            "{}server={}&code={}",
            EnrollLink::PREFIX,
            percent_encode(&self.server),
            percent_encode(&self.code)
        );
        if let Some(pin) = &self.pin {
            uri.push_str("&pin=");
            uri.push_str(&percent_encode(pin));
        }
        uri
    }

    /// Reads what a QR code held; `None` when it is not an enrollment link.
    pub fn parse(text: &str) -> Option<EnrollLink> {
        let query = text.trim().strip_prefix(EnrollLink::PREFIX)?;
        let (mut server, mut code, mut pin) = (None, None, None);
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=')?;
            match key {
                "server" => server = Some(percent_decode(value)?),
                "code" => code = Some(percent_decode(value)?),
                "pin" => pin = Some(pin::normalise(&percent_decode(value)?)?),
                _ => {}
            }
        }
        let link = EnrollLink { server: server?, code: code?, pin };
        (link.server.starts_with("http://") || link.server.starts_with("https://")).then_some(link)
    }
}

pub(crate) fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Decodes `%XX` escapes (what `encodeURIComponent` and [`EnrollLink::to_uri`] write);
/// `None` for a malformed escape or bytes that are not UTF-8.
pub fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The answer to an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollResponse {
    pub device_id: String,
    /// The device token; shown once, stored hashed on the server.
    pub token: String,
    pub user: UserInfo,
    /// The server's identity (servers before it sent none).
    #[serde(default)]
    pub server_id: String,
    /// The district's protected-data recipient (`age1…`), if made: protected values are
    /// sealed to it from the first one written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protected_key: Option<String>,
}

/// Who a user is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub id: String,
    pub name: String,
    pub role: Role,
    /// `district` (everything on the server), or a division code of any level.
    pub jurisdiction: String,
}

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Inspector,
    TeamLead,
    Supervisor,
    Administrator,
}

impl Role {
    /// Parses a role name.
    pub fn parse(text: &str) -> Option<Role> {
        match text.trim() {
            "inspector" | "巡察干部" => Some(Role::Inspector),
            "team_lead" | "组长" => Some(Role::TeamLead),
            "supervisor" | "审核人" => Some(Role::Supervisor),
            "administrator" | "admin" | "管理员" => Some(Role::Administrator),
            _ => None,
        }
    }

    /// The stored name.
    pub fn code(self) -> &'static str {
        match self {
            Role::Inspector => "inspector",
            Role::TeamLead => "team_lead",
            Role::Supervisor => "supervisor",
            Role::Administrator => "administrator",
        }
    }
}

/// What can be wrong with a body.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProtocolError {
    #[error("请求体为空 / the body is empty")]
    Empty,
    #[error("未知的请求体格式 {0} / unknown body framing {0}; update the app")]
    UnknownFrame(u8),
    #[error(
        "请求体解压后超过 {limit} 字节 / the body is larger than {limit} bytes when decompressed; send smaller batches"
    )]
    TooLarge { limit: usize },
    #[error("请求体损坏：{0} / the body is garbled: {0}")]
    Garbled(String),
}

const FRAME_CBOR: u8 = 0;
const FRAME_DEFLATE: u8 = 1;
/// Bodies smaller than this are not worth compressing.
const COMPRESS_FROM: usize = 200;

/// Encodes a sync body: CBOR, deflated when that is smaller, behind a frame tag.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut cbor = Vec::new();
    ciborium::into_writer(value, &mut cbor).expect("serialising to memory cannot fail");
    if cbor.len() >= COMPRESS_FROM {
        let mut encoder = flate2::write::DeflateEncoder::new(vec![FRAME_DEFLATE], flate2::Compression::fast());
        if std::io::Write::write_all(&mut encoder, &cbor).is_ok()
            && let Ok(compressed) = encoder.finish()
            && compressed.len() < cbor.len() + 1
        {
            return compressed;
        }
    }
    let mut framed = Vec::with_capacity(cbor.len() + 1);
    framed.push(FRAME_CBOR);
    framed.extend_from_slice(&cbor);
    framed
}

/// Decodes a sync body, refusing more than `limit` bytes once decompressed.
pub fn decode<T: DeserializeOwned>(body: &[u8], limit: usize) -> Result<T, ProtocolError> {
    let (&frame, rest) = body.split_first().ok_or(ProtocolError::Empty)?;
    let cbor: std::borrow::Cow<'_, [u8]> = match frame {
        FRAME_CBOR => std::borrow::Cow::Borrowed(rest),
        FRAME_DEFLATE => {
            let mut out = Vec::new();
            let mut decoder = flate2::read::DeflateDecoder::new(rest).take(limit as u64 + 1);
            decoder.read_to_end(&mut out).map_err(|e| ProtocolError::Garbled(e.to_string()))?;
            std::borrow::Cow::Owned(out)
        }
        other => return Err(ProtocolError::UnknownFrame(other)),
    };
    if cbor.len() > limit {
        return Err(ProtocolError::TooLarge { limit });
    }
    ciborium::from_reader(cbor.as_ref()).map_err(|e| ProtocolError::Garbled(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> DocKey {
        DocKey { record: vec![n; 16], part: Part::Record }
    }

    #[test]
    fn an_empty_sync_is_tiny() {
        // DESIGN.md: nothing changed costs under 512 bytes of body, whatever the number of
        // documents. A log cursor with its scope is 17 bytes, a reference tag 16.
        let request = SyncRequest { cursor: vec![0; 17], reference_tag: vec![0; 16], ..SyncRequest::default() };
        assert!(encode(&request).len() < 96, "{}", encode(&request).len());
        let response = SyncResponse { cursor: vec![0; 17], ..SyncResponse::default() };
        assert!(encode(&response).len() < 64, "{}", encode(&response).len());
    }

    #[test]
    fn garbled_truncated_and_oversized_bodies_are_errors() {
        let request = SyncRequest {
            cursor: vec![],
            uploads: (0..50).map(|n| Upload { doc: key(n), changes: vec![n; 300], signatures: vec![] }).collect(),
            ..SyncRequest::default()
        };
        let body = encode(&request);
        assert_eq!(body[0], FRAME_DEFLATE);
        assert_eq!(decode::<SyncRequest>(&body, MAX_DECODED_BYTES).unwrap(), request);
        assert!(decode::<SyncRequest>(&body[..body.len() / 2], MAX_DECODED_BYTES).is_err());
        assert_eq!(decode::<SyncRequest>(&[], 10), Err(ProtocolError::Empty));
        assert_eq!(decode::<SyncRequest>(&[7, 1, 2], 10), Err(ProtocolError::UnknownFrame(7)));
        assert!(matches!(decode::<SyncRequest>(&body, 100), Err(ProtocolError::TooLarge { .. })));
        let mut garbled = body.clone();
        for byte in garbled.iter_mut().skip(5).step_by(7) {
            *byte ^= 0x5a;
        }
        assert!(decode::<SyncRequest>(&garbled, MAX_DECODED_BYTES).is_err());
    }

    #[test]
    fn bodies_of_the_first_release_still_decode() {
        // Devices and servers of the first release send neither reference tags nor drops.
        #[derive(Serialize)]
        struct FirstRequest {
            #[serde(with = "serde_bytes")]
            cursor: Vec<u8>,
            uploads: Vec<Upload>,
            want_full: Vec<DocKey>,
        }
        let old = encode(&FirstRequest { cursor: vec![0; 9], uploads: vec![], want_full: vec![key(1)] });
        let request: SyncRequest = decode(&old, MAX_DECODED_BYTES).unwrap();
        assert_eq!(request.want_full, vec![key(1)]);
        assert!(request.reference_tag.is_empty());
        let response = SyncResponse { cursor: vec![1; 9], ..SyncResponse::default() };
        let bytes = encode(&response);
        assert_eq!(decode::<SyncResponse>(&bytes, MAX_DECODED_BYTES).unwrap(), response);
    }

    #[test]
    fn error_codes_travel_as_the_strings_they_always_were() {
        // What peers that keep codes as plain strings send and read.
        #[derive(Debug, Serialize, Deserialize, PartialEq)]
        #[serde(rename_all = "snake_case")]
        enum PlainOutcome {
            Refused { code: String, message: String },
        }
        #[derive(Debug, Serialize, Deserialize, PartialEq)]
        struct PlainBody {
            code: String,
            message: String,
        }
        for &code in ErrorCode::ALL {
            let refused = Outcome::Refused { code, message: "m".into() };
            let plain: PlainOutcome = decode(&encode(&refused), MAX_DECODED_BYTES).unwrap();
            assert_eq!(plain, PlainOutcome::Refused { code: code.as_str().into(), message: "m".into() });
            assert_eq!(decode::<Outcome>(&encode(&plain), MAX_DECODED_BYTES).unwrap(), refused);
            let body = ErrorBody { code, message: "m".into() };
            let plain: PlainBody = decode(&encode(&body), MAX_DECODED_BYTES).unwrap();
            assert_eq!(plain.code, code.as_str());
            assert_eq!(decode::<ErrorBody>(&encode(&plain), MAX_DECODED_BYTES).unwrap(), body);
        }
        // A code from a newer peer is read, not refused: the rest of the answer still counts.
        let newer = PlainOutcome::Refused { code: "added_later".into(), message: "m".into() };
        let read: Outcome = decode(&encode(&newer), MAX_DECODED_BYTES).unwrap();
        assert_eq!(read, Outcome::Refused { code: ErrorCode::Unknown, message: "m".into() });
        assert_eq!(codes::QUOTA.as_str(), "quota_exceeded");
        assert_eq!(codes::UPGRADE.as_str(), "upgrade_required");
    }

    #[test]
    fn enrollment_links_round_trip_and_strangers_are_refused() {
        let link = EnrollLink {
            server: "https://xuncha.example.gov.cn:8443/巡察".into(),
            code: "7KQM-4XPA-2RHC-9WNE".into(),
            pin: None,
        };
        let uri = link.to_uri();
        assert!(uri.is_ascii() && uri.starts_with("xuncha:enroll?server=https%3A%2F%2F"), "{uri}");
        assert_eq!(EnrollLink::parse(&uri), Some(link.clone()));
        let pinned = EnrollLink { pin: Some("ab".repeat(32)), ..link };
        assert_eq!(EnrollLink::parse(&pinned.to_uri()), Some(pinned.clone()));
        assert_eq!(EnrollLink::parse(&pinned.to_uri().replace("abab", "zz")), None, "a malformed pin is no link");
        for stranger in [
            "https://example.com",
            "xuncha:enroll?server=ftp%3A%2F%2Fx&code=A",
            "xuncha:enroll?code=A",
            "xuncha:enroll?server=http%3A%2F%2Fx&code=%ZZ",
        ] {
            assert_eq!(EnrollLink::parse(stranger), None, "{stranger}");
        }
    }

    proptest::proptest! {
        #[test]
        fn bodies_round_trip(cursor in proptest::collection::vec(proptest::num::u8::ANY, 0..24),
                             sizes in proptest::collection::vec(0usize..2_000, 0..6),
                             cursor_signatures in proptest::bool::ANY) {
            let request = SyncRequest {
                cursor,
                uploads: sizes.iter().enumerate().map(|(i, n)| Upload { doc: key(i as u8), changes: vec![i as u8; *n], signatures: vec![] }).collect(),
                want_full: vec![key(99)],
                reference_tag: vec![],
                keys: Some(DeviceKeys { signing: "ab".repeat(32), sealing: "age1x".into() }),
                want_numbers: vec![serde_bytes::ByteBuf::from(vec![7; 16])],
                signatures: cursor_signatures,
            };
            proptest::prop_assert_eq!(decode::<SyncRequest>(&encode(&request), MAX_DECODED_BYTES).unwrap(), request);
        }
    }
}
