//! Sync bundles: what one peer (a device or a server) sends another as a file, across an air
//! gap on removable media. A bundle is self-describing and streamable:
//!
//! ```text
//! MAGIC · u32 header length · header (CBOR) · header signature (Ed25519, 64 bytes)
//! age (X25519, to the receiver) of deflate of:
//!     frame* · end frame        frame = u32 length · item (CBOR) · signature (64 bytes)
//! ```
//!
//! The header names the bundle format, the sync protocol, the sender and the receiver (each by
//! its [`PeerKey`]) and is signed by the sender; only the receiver can read the rest. Each
//! frame is signed over the header's digest, its index and its bytes, so frames cannot be
//! moved between bundles, reordered or dropped unseen, and the end frame counts them: a
//! bundle cut short, a flipped byte, a bundle for someone else or from a foreign format is
//! refused with its own [`BundleError`]. [`read_bundle`] verifies a whole bundle before it
//! returns any of it, so a refused bundle applies nothing. What the frames carry is the
//! caller's type (changes, attachments, a receipt); this module is the envelope.

use std::io::{self, Read, Write};
use std::str::FromStr;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use flate2::Compression;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::PROTOCOL_VERSION;

/// The first bytes of every bundle file.
pub const MAGIC: &[u8; 8] = b"XCBUNDLE";
/// The version of the bundle format this code writes and reads.
pub const BUNDLE_VERSION: u32 = 1;
/// The largest header a reader accepts, in bytes.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// The largest frame (one item) a writer writes and a reader accepts, in bytes: callers
/// split larger content (an attachment) into several items.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

const HEADER_CONTEXT: &[u8] = b"xuncha bundle header v1\0";
const FRAME_CONTEXT: &[u8] = b"xuncha bundle frame v1\0";
const KEY_PREFIX: &str = "xuncha1";

/// A peer's public identity: the Ed25519 key it signs with (hex) and the age X25519
/// recipient bundles to it are encrypted to. Written as `xuncha1:<hex>:<age1…>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerKey {
    pub signing: String,
    pub sealing: String,
}

impl PeerKey {
    /// The key of a peer from its two public halves, checked.
    pub fn new(signing: &str, sealing: &str) -> Result<PeerKey, BundleError> {
        let key = PeerKey { signing: signing.trim().to_ascii_lowercase(), sealing: sealing.trim().to_owned() };
        key.verifying()?;
        key.recipient()?;
        Ok(key)
    }

    /// Reads a key as [`PeerKey::to_text`] writes it.
    pub fn parse(text: &str) -> Result<PeerKey, BundleError> {
        let bad = || BundleError::BadKey { text: text.trim().chars().take(120).collect() };
        let mut parts = text.trim().split(':');
        let (Some(KEY_PREFIX), Some(signing), Some(sealing), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        PeerKey::new(signing, sealing).map_err(|_| bad())
    }

    /// The key as one line of text, to print, paste and scan.
    pub fn to_text(&self) -> String {
        format!("{KEY_PREFIX}:{}:{}", self.signing, self.sealing)
    }

    fn verifying(&self) -> Result<VerifyingKey, BundleError> {
        let bytes: [u8; 32] = hex::decode(&self.signing)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| BundleError::BadKey { text: self.to_text() })?;
        VerifyingKey::from_bytes(&bytes).map_err(|_| BundleError::BadKey { text: self.to_text() })
    }

    fn recipient(&self) -> Result<age::x25519::Recipient, BundleError> {
        age::x25519::Recipient::from_str(&self.sealing).map_err(|_| BundleError::BadKey { text: self.to_text() })
    }
}

impl std::fmt::Display for PeerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// What a bundle is, in the clear (signed, not secret): who sent it to whom, when, and
/// what kind of content it carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The bundle format ([`BUNDLE_VERSION`]).
    pub format: u32,
    /// The sync protocol its content speaks ([`PROTOCOL_VERSION`]).
    pub protocol: u32,
    /// Names the bundle; a receipt names the bundle it answers.
    pub id: String,
    /// What the frames carry (for example `changes` or `receipt`).
    pub kind: String,
    pub sender: PeerKey,
    /// The sender's name, for people (a device's or a server's).
    pub sender_name: String,
    pub receiver: PeerKey,
    pub created_at_ms: i64,
}

impl Header {
    /// A header of this code's format and protocol.
    pub fn new(
        id: &str,
        kind: &str,
        sender: PeerKey,
        sender_name: &str,
        receiver: PeerKey,
        created_at_ms: i64,
    ) -> Header {
        Header {
            format: BUNDLE_VERSION,
            protocol: PROTOCOL_VERSION,
            id: id.to_owned(),
            kind: kind.to_owned(),
            sender,
            sender_name: sender_name.to_owned(),
            receiver,
            created_at_ms,
        }
    }
}

/// Why a bundle was refused. Each says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("this file is not a Xuncha sync bundle: choose the .xcb file the other side exported")]
    NotABundle,
    #[error(
        "this bundle is of format {format}, sync protocol {protocol}; this version reads format {BUNDLE_VERSION}, protocol {PROTOCOL_VERSION}: update the older side and export again"
    )]
    ForeignFormat { format: u32, protocol: u32 },
    #[error("this bundle is addressed to {receiver}, not to this side: export it again for this side's key")]
    WrongReceiver { receiver: String },
    #[error(
        "the bundle's {what} does not carry its sender's valid signature: it was altered or damaged; export it again"
    )]
    BadSignature { what: String },
    #[error("the bundle is cut short after {frames} of its items: copy the whole file again")]
    Truncated { frames: u64 },
    #[error("the bundle is damaged or cut short ({detail}): copy the whole file again, or export it again")]
    Damaged { detail: String },
    #[error("not a peer key: {text}; a key reads xuncha1:<64 hex digits>:age1…, as `xuncha identity` prints it")]
    BadKey { text: String },
    #[error("an item of {bytes} bytes is larger than a bundle frame takes ({MAX_FRAME_BYTES}): split it")]
    TooLarge { bytes: usize },
    #[error("cannot write the bundle: {0}")]
    Io(#[from] io::Error),
}

impl BundleError {
    /// A stable code for the refusal.
    pub fn code(&self) -> &'static str {
        match self {
            BundleError::NotABundle => "not_a_bundle",
            BundleError::ForeignFormat { .. } => "foreign_bundle_format",
            BundleError::WrongReceiver { .. } => "wrong_receiver",
            BundleError::BadSignature { .. } => "bad_signature",
            BundleError::Truncated { .. } => "bundle_truncated",
            BundleError::Damaged { .. } => "bundle_damaged",
            BundleError::BadKey { .. } => "bad_peer_key",
            BundleError::TooLarge { .. } => "too_large",
            BundleError::Io(_) => "io",
        }
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn header_message(header: &[u8]) -> Vec<u8> {
    [HEADER_CONTEXT, header].concat()
}

fn frame_message(header_digest: &[u8; 32], index: u64, frame: &[u8]) -> Vec<u8> {
    [FRAME_CONTEXT, header_digest, &index.to_be_bytes(), frame].concat()
}

/// One frame of the stream: an item, or the end, which counts the items before it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Frame<T> {
    Item(T),
    End { items: u64 },
}

/// Writes a bundle item by item; [`BundleWriter::finish`] ends it. A bundle not finished
/// is cut short, and a reader refuses it.
pub struct BundleWriter<W: Write> {
    out: DeflateEncoder<age::stream::StreamWriter<W>>,
    key: SigningKey,
    header_digest: [u8; 32],
    items: u64,
}

impl<W: Write> BundleWriter<W> {
    /// Writes the header, signed with `key` (which must be the header's sender's), and
    /// starts the encrypted stream to the header's receiver.
    pub fn new(mut out: W, header: &Header, key: &SigningKey) -> Result<BundleWriter<W>, BundleError> {
        if hex::encode(key.verifying_key().as_bytes()) != header.sender.signing {
            return Err(BundleError::BadKey { text: "the signing key is not the sender's".into() });
        }
        let recipient = header.receiver.recipient()?;
        let mut bytes = Vec::new();
        ciborium::into_writer(header, &mut bytes).map_err(|e| BundleError::Damaged { detail: e.to_string() })?;
        let signature = key.sign(&header_message(&bytes));
        out.write_all(MAGIC)?;
        out.write_all(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes())?;
        out.write_all(&bytes)?;
        out.write_all(&signature.to_bytes())?;
        let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
            .map_err(|e| BundleError::Damaged { detail: e.to_string() })?;
        let sealed = encryptor.wrap_output(out)?;
        Ok(BundleWriter {
            out: DeflateEncoder::new(sealed, Compression::default()),
            key: key.clone(),
            header_digest: digest(&bytes),
            items: 0,
        })
    }

    fn frame<T: Serialize>(&mut self, frame: &Frame<T>) -> Result<(), BundleError> {
        let mut bytes = Vec::new();
        ciborium::into_writer(frame, &mut bytes).map_err(|e| BundleError::Damaged { detail: e.to_string() })?;
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(BundleError::TooLarge { bytes: bytes.len() });
        }
        let index = self.items;
        let signature = self.key.sign(&frame_message(&self.header_digest, index, &bytes));
        self.out.write_all(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes())?;
        self.out.write_all(&bytes)?;
        self.out.write_all(&signature.to_bytes())?;
        Ok(())
    }

    /// Writes one item.
    pub fn write<T: Serialize>(&mut self, item: &T) -> Result<(), BundleError> {
        self.frame(&Frame::Item(item))?;
        self.items += 1;
        Ok(())
    }

    /// Ends the bundle and returns the output, flushed. Returns how many items it holds.
    pub fn finish(mut self) -> Result<(W, u64), BundleError> {
        let items = self.items;
        self.frame(&Frame::<()>::End { items })?;
        let mut out = self.out.finish()?.finish()?;
        out.flush()?;
        Ok((out, items))
    }
}

impl<W: Write> std::fmt::Debug for BundleWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BundleWriter").field("items", &self.items).finish_non_exhaustive()
    }
}

/// Reads a bundle's header and checks it: the magic, the format and protocol, the sender's
/// signature, and that `me` is its receiver. Returns the header, its digest and the rest
/// of the input.
fn read_header<R: Read>(mut input: R, me: &PeerKey) -> Result<(Header, [u8; 32], R), BundleError> {
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic).map_err(|_| BundleError::NotABundle)?;
    if &magic != MAGIC {
        return Err(BundleError::NotABundle);
    }
    let mut len = [0u8; 4];
    input.read_exact(&mut len).map_err(|_| BundleError::Truncated { frames: 0 })?;
    let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
    if len > MAX_HEADER_BYTES {
        return Err(BundleError::Damaged { detail: format!("a header of {len} bytes") });
    }
    let mut bytes = vec![0u8; len];
    input.read_exact(&mut bytes).map_err(|_| BundleError::Truncated { frames: 0 })?;
    let mut signature = [0u8; 64];
    input.read_exact(&mut signature).map_err(|_| BundleError::Truncated { frames: 0 })?;
    // The versions are read before anything else, so a newer format says so.
    #[derive(Deserialize)]
    struct Versions {
        format: u32,
        protocol: u32,
    }
    let versions: Versions =
        ciborium::from_reader(bytes.as_slice()).map_err(|e| BundleError::Damaged { detail: e.to_string() })?;
    if versions.format != BUNDLE_VERSION || versions.protocol != PROTOCOL_VERSION {
        return Err(BundleError::ForeignFormat { format: versions.format, protocol: versions.protocol });
    }
    let header: Header =
        ciborium::from_reader(bytes.as_slice()).map_err(|e| BundleError::Damaged { detail: e.to_string() })?;
    // A sender key that is no key at all was altered as surely as a signature that fails.
    let forged = || BundleError::BadSignature { what: "header".into() };
    let sender = header.sender.verifying().map_err(|_| forged())?;
    sender.verify_strict(&header_message(&bytes), &Signature::from_bytes(&signature)).map_err(|_| forged())?;
    if &header.receiver != me {
        return Err(BundleError::WrongReceiver { receiver: header.receiver.to_text() });
    }
    Ok((header, digest(&bytes), input))
}

/// Reads only a bundle's header, checked as [`read_bundle`] checks it (to show what a file
/// is before importing it).
pub fn read_header_only<R: Read>(input: R, me: &PeerKey) -> Result<Header, BundleError> {
    read_header(input, me).map(|(header, _, _)| header)
}

/// Reads and verifies a whole bundle sent to `me` (whose sealing identity is `identity`):
/// its header, every frame's signature and order, the count at its end, and that nothing
/// follows. Returns nothing unless all of it holds.
pub fn read_bundle<R: Read, T: DeserializeOwned>(
    input: R,
    me: &PeerKey,
    identity: &age::x25519::Identity,
) -> Result<(Header, Vec<T>), BundleError> {
    let (header, header_digest, rest) = read_header(input, me)?;
    let sender = header.sender.verifying()?;
    let decryptor = age::Decryptor::new(rest).map_err(|e| match e {
        age::DecryptError::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => BundleError::Truncated { frames: 0 },
        e => BundleError::Damaged { detail: e.to_string() },
    })?;
    let opened = decryptor
        .decrypt(std::iter::once(identity as &dyn age::Identity))
        .map_err(|_| BundleError::WrongReceiver { receiver: header.receiver.to_text() })?;
    let mut stream = DeflateDecoder::new(opened);
    let mut items = Vec::new();
    let read_failed = |e: io::Error, frames: u64| match e.kind() {
        io::ErrorKind::UnexpectedEof => BundleError::Truncated { frames },
        _ => BundleError::Damaged { detail: e.to_string() },
    };
    loop {
        let index = items.len() as u64;
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).map_err(|e| read_failed(e, index))?;
        let len = usize::try_from(u32::from_be_bytes(len)).unwrap_or(usize::MAX);
        if len > MAX_FRAME_BYTES {
            return Err(BundleError::Damaged { detail: format!("a frame of {len} bytes") });
        }
        let mut bytes = vec![0u8; len];
        stream.read_exact(&mut bytes).map_err(|e| read_failed(e, index))?;
        let mut signature = [0u8; 64];
        stream.read_exact(&mut signature).map_err(|e| read_failed(e, index))?;
        sender
            .verify_strict(&frame_message(&header_digest, index, &bytes), &Signature::from_bytes(&signature))
            .map_err(|_| BundleError::BadSignature { what: format!("item {}", index + 1) })?;
        let frame: Frame<T> =
            ciborium::from_reader(bytes.as_slice()).map_err(|e| BundleError::Damaged { detail: e.to_string() })?;
        match frame {
            Frame::Item(item) => items.push(item),
            Frame::End { items: count } => {
                if count != index {
                    return Err(BundleError::Damaged { detail: format!("its end counts {count} items, {index} came") });
                }
                break;
            }
        }
    }
    // Nothing may follow the end, and the encrypted stream must end properly there.
    let mut trailing = [0u8; 1];
    match stream.read(&mut trailing) {
        Ok(0) => {}
        Ok(_) => return Err(BundleError::Damaged { detail: "data after its end".into() }),
        Err(e) => return Err(read_failed(e, items.len() as u64)),
    }
    Ok((header, items))
}

/// A writer that counts the bytes that pass through it (a bundle's size as written).
#[derive(Debug)]
pub struct Counting<W> {
    pub inner: W,
    pub bytes: u64,
}

impl<W: Write> Counting<W> {
    pub fn new(inner: W) -> Counting<W> {
        Counting { inner, bytes: 0 }
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The kind of a bundle of changes (and attachments).
pub const KIND_CHANGES: &str = "changes";
/// The kind of a receipt: the answer to a bundle of changes.
pub const KIND_RECEIPT: &str = "receipt";
/// The file name extension of bundles.
pub const EXTENSION: &str = "xcb";

/// What a bundle carries, item by item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Item {
    /// Where the sender's own record of what it sent stands: a server's change-log position,
    /// which the receipt echoes so that the sender knows what arrived.
    Covers { upto: u64 },
    /// A person and a device whose signed changes the bundle carries, for a receiver that
    /// does not know them yet (a server sends them to the servers it trusts).
    Author(Author),
    /// The reference data the changes are checked against (a server sends its own to the
    /// servers it trusts; the receiver adds what it lacks and keeps what it has).
    Reference {
        divisions: Vec<xuncha_domain::DivisionEntry>,
        rounds: Vec<xuncha_domain::Round>,
        teams: Vec<xuncha_domain::Team>,
    },
    /// Changes of one document, each signed by the device that made it, and the sender's
    /// heads of the document with them.
    Changes { upload: crate::Upload, heads: Vec<serde_bytes::ByteBuf> },
    /// A piece of an attachment: `bytes` from `offset` of the file of this SHA-256 and size.
    Attachment {
        sha256: String,
        size: u64,
        offset: u64,
        #[serde(with = "serde_bytes")]
        bytes: Vec<u8>,
    },
    /// The first item of a receipt: the bundle it answers and that bundle's `Covers`.
    Answers { bundle: String, upto: Option<u64> },
    /// A receipt's answer for one document of the bundle: what became of it and the heads
    /// it was sent with.
    Ack { ack: crate::Ack, sent: Vec<serde_bytes::ByteBuf> },
    /// A receipt's word on an attachment: stored whole, or refused (it did not match its hash).
    AttachmentAck { sha256: String, stored: bool },
}

/// Someone whose changes a bundle carries: the user and the device their changes are signed
/// with. The receiver registers a device it does not know (it cannot sync with it: it holds
/// no token) so that the device's changes verify and are attributed to the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    pub user_id: String,
    pub user_name: String,
    pub role: crate::Role,
    pub jurisdiction: String,
    pub device_id: String,
    pub device_name: String,
    /// The Automerge actor registered to the device (hex).
    pub actor: String,
    pub keys: crate::DeviceKeys,
}

#[cfg(test)]
mod tests {
    use super::*;
    use age::secrecy::ExposeSecret;

    struct Peer {
        signing: SigningKey,
        sealing: age::x25519::Identity,
    }

    impl Peer {
        fn new(seed: u8) -> Peer {
            Peer { signing: SigningKey::from_bytes(&[seed; 32]), sealing: age::x25519::Identity::generate() }
        }
        fn key(&self) -> PeerKey {
            PeerKey::new(&hex::encode(self.signing.verifying_key().as_bytes()), &self.sealing.to_public().to_string())
                .unwrap()
        }
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Item {
        doc: String,
        #[serde(with = "serde_bytes")]
        changes: Vec<u8>,
    }

    fn items(n: usize) -> Vec<Item> {
        (0..n)
            .map(|i| Item { doc: format!("record-{i}"), changes: vec![u8::try_from(i % 251).unwrap(); 3000 + i] })
            .collect()
    }

    fn bundle(from: &Peer, to: &Peer, content: &[Item]) -> Vec<u8> {
        let header = Header::new("b-1", "changes", from.key(), "王巡察的平板", to.key(), 1_700_000_000_000);
        let mut writer = BundleWriter::new(Vec::new(), &header, &from.signing).unwrap();
        for item in content {
            writer.write(item).unwrap();
        }
        let (bytes, count) = writer.finish().unwrap();
        assert_eq!(count, content.len() as u64);
        bytes
    }

    fn read(bytes: &[u8], me: &Peer) -> Result<(Header, Vec<Item>), BundleError> {
        read_bundle(bytes, &me.key(), &me.sealing)
    }

    #[test]
    fn a_bundle_reads_back_whole_for_its_receiver_with_its_header() {
        let (device, server) = (Peer::new(1), Peer::new(2));
        let content = items(40);
        let bytes = bundle(&device, &server, &content);
        let (header, back) = read(&bytes, &server).unwrap();
        assert_eq!(back, content);
        assert_eq!((header.kind.as_str(), header.sender_name.as_str()), ("changes", "王巡察的平板"));
        assert_eq!((header.sender, header.receiver), (device.key(), server.key()));
        // Compressed: 40 items of about 3 KB each repeat a byte.
        assert!(bytes.len() < 10_000, "{} bytes", bytes.len());
        // The header alone, without the receiver's secret.
        assert_eq!(read_header_only(bytes.as_slice(), &server.key()).unwrap().id, "b-1");
        // An empty bundle is a bundle.
        assert!(read(&bundle(&device, &server, &[]), &server).unwrap().1.is_empty());
    }

    #[test]
    fn a_bundle_for_another_receiver_is_refused() {
        let (device, server, other) = (Peer::new(1), Peer::new(2), Peer::new(3));
        let bytes = bundle(&device, &server, &items(3));
        assert_eq!(read(&bytes, &other).unwrap_err().code(), "wrong_receiver");
        // Claiming to be the receiver without its secret does not open it either.
        let err = read_bundle::<_, Item>(bytes.as_slice(), &server.key(), &other.sealing).unwrap_err();
        assert_eq!(err.code(), "wrong_receiver");
    }

    #[test]
    fn any_flipped_byte_is_refused() {
        let (device, server) = (Peer::new(1), Peer::new(2));
        let bytes = bundle(&device, &server, &items(5));
        // Every byte of the header and its signature, and a spread of the encrypted rest.
        let step = (bytes.len() / 200).max(1);
        let positions = (0..400.min(bytes.len())).chain((400..bytes.len()).step_by(step));
        for at in positions {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x01;
            let err = read(&damaged, &server).expect_err(&format!("byte {at} flipped was read"));
            assert!(
                [
                    "not_a_bundle",
                    "foreign_bundle_format",
                    "bad_signature",
                    "bundle_damaged",
                    "wrong_receiver",
                    "bundle_truncated"
                ]
                .contains(&err.code()),
                "byte {at}: {err}"
            );
        }
    }

    #[test]
    fn a_bundle_cut_short_anywhere_is_refused() {
        let (device, server) = (Peer::new(1), Peer::new(2));
        let bytes = bundle(&device, &server, &items(20));
        for len in [0, 4, 8, 11, 60, bytes.len() / 2, bytes.len() - 17, bytes.len() - 1] {
            let err = read(&bytes[..len], &server).expect_err(&format!("{len} bytes read"));
            assert!(["not_a_bundle", "bundle_truncated", "bundle_damaged"].contains(&err.code()), "{len} bytes: {err}");
        }
        // Within one encrypted chunk a cut and a flip look alike: both say copy the whole file again.
        assert!(read(&bytes[..bytes.len() / 2], &server).unwrap_err().to_string().contains("cut short"));
        // Nor is what a writer that never finished left behind.
        let header = Header::new("b-2", "changes", device.key(), "x", server.key(), 0);
        let mut left = Vec::new();
        let mut writer = BundleWriter::new(&mut left, &header, &device.signing).unwrap();
        writer.write(&items(1)[0]).unwrap();
        drop(writer);
        assert!(left.len() > 100);
        assert!(["bundle_truncated", "bundle_damaged"].contains(&read(&left, &server).unwrap_err().code()));
    }

    #[test]
    fn a_large_bundle_spans_many_encrypted_chunks_and_any_cut_is_refused() {
        let (device, server) = (Peer::new(1), Peer::new(2));
        // Incompressible content (a photo's bytes), 40 items of 24 KB.
        let mut seed = 0x2545_f491_u32;
        let content: Vec<Item> = (0..40)
            .map(|i| Item {
                doc: format!("attachment-{i}"),
                changes: (0..24_000)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        (seed >> 16) as u8
                    })
                    .collect(),
            })
            .collect();
        let bytes = bundle(&device, &server, &content);
        assert!(bytes.len() > 900_000);
        assert_eq!(read(&bytes, &server).unwrap().1, content);
        for len in [bytes.len() / 3, bytes.len() / 2, bytes.len() - 1000, bytes.len() - 1] {
            let err = read(&bytes[..len], &server).expect_err("a cut bundle was read");
            assert!(err.to_string().contains("cut short"), "{len}: {err}");
        }
    }

    #[test]
    fn a_foreign_format_or_a_forged_sender_is_refused() {
        let (device, server, forger) = (Peer::new(1), Peer::new(2), Peer::new(9));
        let newer =
            Header { format: BUNDLE_VERSION + 1, ..Header::new("b", "changes", device.key(), "x", server.key(), 0) };
        let mut writer = BundleWriter::new(Vec::new(), &newer, &device.signing).unwrap();
        writer.write(&items(1)[0]).unwrap();
        let err = read(&writer.finish().unwrap().0, &server).unwrap_err();
        assert!(matches!(err, BundleError::ForeignFormat { format, .. } if format == BUNDLE_VERSION + 1));
        // Only the sender's own key may sign for it.
        let header = Header::new("b", "changes", device.key(), "x", server.key(), 0);
        assert_eq!(BundleWriter::new(Vec::new(), &header, &forger.signing).err().unwrap().code(), "bad_peer_key");
        // A header re-signed by someone else, naming the device as its sender, is refused.
        let bytes = bundle(&device, &server, &items(2));
        let len = usize::try_from(u32::from_be_bytes(bytes[8..12].try_into().unwrap())).unwrap();
        let mut forged = bytes.clone();
        let signature = forger.signing.sign(&header_message(&bytes[12..12 + len]));
        forged[12 + len..12 + len + 64].copy_from_slice(&signature.to_bytes());
        assert_eq!(read(&forged, &server).unwrap_err().code(), "bad_signature");
        assert_eq!(read(b"PK\x03\x04 a zip file", &server).unwrap_err().code(), "not_a_bundle");
    }

    #[test]
    fn frames_cannot_be_moved_from_one_bundle_into_another() {
        let (device, server) = (Peer::new(1), Peer::new(2));
        let first = bundle(&device, &server, &items(3));
        let second = {
            let header = Header::new("b-other", "changes", device.key(), "x", server.key(), 5);
            let mut writer = BundleWriter::new(Vec::new(), &header, &device.signing).unwrap();
            for item in items(3) {
                writer.write(&item).unwrap();
            }
            writer.finish().unwrap().0
        };
        // The second's header on the first's encrypted frames: their signatures name the first's header.
        let head = |b: &[u8]| 12 + usize::try_from(u32::from_be_bytes(b[8..12].try_into().unwrap())).unwrap() + 64;
        let spliced = [&second[..head(&second)], &first[head(&first)..]].concat();
        assert_eq!(read(&spliced, &server).unwrap_err().code(), "bad_signature");
    }

    #[test]
    fn a_peer_key_reads_back_from_its_text_and_refuses_anything_else() {
        let peer = Peer::new(4);
        let key = peer.key();
        assert!(key.to_text().starts_with("xuncha1:"));
        assert_eq!(PeerKey::parse(&format!("  {}\n", key.to_text())).unwrap(), key);
        let sealing = peer.sealing.to_public().to_string();
        for bad in [
            String::new(),
            "xuncha1:abc:age1xyz".to_owned(),
            format!("xuncha2:{}:{}", key.signing, sealing),
            format!("xuncha1:{}", key.signing),
            format!("xuncha1:{}:{}:extra", key.signing, sealing),
            format!("xuncha1:{}:{}", "zz".repeat(32), sealing),
            format!("xuncha1:{}:{}", key.signing, peer.sealing.to_string().expose_secret()),
        ] {
            assert_eq!(PeerKey::parse(&bad).unwrap_err().code(), "bad_peer_key", "{bad}");
        }
    }
}
