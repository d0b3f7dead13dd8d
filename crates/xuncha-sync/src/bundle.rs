//! Sync by file, on a device: a bundle of what a peer (a server or another device) has not
//! acknowledged, signed by this device and encrypted to the peer; importing a bundle sent to
//! this device (merged in one transaction, answered with a receipt); and importing a
//! receipt, which marks what the peer now holds so the next bundle carries only what is new.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use serde::Serialize;
use xuncha_domain::{ChangeHash, RecordId};
use xuncha_protocol::bundle::{self, BundleError, BundleWriter, Header, Item, PeerKey};
use xuncha_protocol::{Ack, ChangeSignature, DocKey, Outcome, Upload};
use xuncha_store::{Carried, CarriedOutcome, Incoming, Part, Store, StoreError};

/// The largest piece of an attachment one bundle item carries.
const ATTACHMENT_PIECE: usize = 4 * 1024 * 1024;

/// Why a bundle could not be written or read. Each says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum BundleFailure {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("此同步包的内容类型 {kind} 无法导入 / a bundle of kind {kind} cannot be imported here")]
    UnexpectedKind { kind: String },
    #[error("同步包中的记录编号无效 / the bundle names a record id that is not 16 bytes: export it again")]
    BadRecord,
    /// Stopped when asked to, before anything was written or applied.
    #[error("已取消，未做任何更改 / cancelled; nothing was changed")]
    Cancelled,
}

impl BundleFailure {
    /// A stable code for the failure.
    pub fn code(&self) -> &'static str {
        match self {
            BundleFailure::Bundle(e) => e.code(),
            BundleFailure::Store(_) => "storage",
            BundleFailure::UnexpectedKind { .. } => "unexpected_bundle_kind",
            BundleFailure::BadRecord => "bundle_damaged",
            BundleFailure::Cancelled => "cancelled",
        }
    }
}

/// This device's bundle key.
pub fn identity(store: &Store) -> Result<PeerKey, BundleFailure> {
    let (signing, sealing) = store.public_keys();
    Ok(PeerKey::new(&signing, &sealing)?)
}

fn from_key(key: &DocKey) -> Result<(RecordId, Part), BundleFailure> {
    crate::from_key(key).map_err(|_| BundleFailure::BadRecord)
}

fn heads_bytes(heads: &[ChangeHash]) -> Vec<serde_bytes::ByteBuf> {
    heads.iter().map(|h| serde_bytes::ByteBuf::from(h.0.to_vec())).collect()
}

fn heads_from(bytes: &[serde_bytes::ByteBuf]) -> Vec<ChangeHash> {
    bytes.iter().filter_map(|b| ChangeHash::try_from(b.as_slice()).ok()).collect()
}

/// What a bundle export or import is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Reading the documents to send (`done` of `total` documents).
    Reading,
    /// Reading (export) or storing (import) photos and files (`done` of `total`).
    Files,
    /// Reading the bundle and checking its signatures (`done` of `total` KiB).
    Verifying,
    /// Merging its documents, in one transaction (`total` documents).
    Merging,
    /// Writing the bundle or the receipt.
    Writing,
}

/// One report of progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub stage: Stage,
    pub done: u64,
    pub total: u64,
}

/// Hears of each step; answers `false` to stop (then nothing is written or applied).
pub type Watch<'a> = &'a mut dyn FnMut(Step) -> bool;

fn report(watch: &mut dyn FnMut(Step) -> bool, stage: Stage, done: usize, total: usize) -> Result<(), BundleFailure> {
    if watch(Step { stage, done: done as u64, total: total as u64 }) { Ok(()) } else { Err(BundleFailure::Cancelled) }
}

/// A reader that reports how far it has read (in KiB of `total`), and stops when told to.
struct Watched<'a, R> {
    inner: R,
    read: u64,
    total_kib: u64,
    watch: &'a mut dyn FnMut(Step) -> bool,
    cancelled: bool,
}

impl<R: Read> Read for Watched<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let before = self.read / 1024;
        self.read += n as u64;
        // A report every 256 KiB, not every read.
        if self.read / 1024 / 256 != before / 256 || n == 0 {
            let done = self.read.div_ceil(1024).min(self.total_kib);
            let step = Step { stage: Stage::Verifying, done, total: self.total_kib };
            if !(self.watch)(step) {
                self.cancelled = true;
                return Err(std::io::Error::other("cancelled"));
            }
        }
        Ok(n)
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exported {
    pub bundle: String,
    pub receiver: String,
    pub documents: usize,
    /// Signed changes carried.
    pub changes: usize,
    pub attachments: usize,
    pub bytes: u64,
}

/// Writes a bundle to `to` of every change it has not acknowledged by a receipt (all of
/// them, the first time), with the photos and files the records name when `attachments`;
/// `watch` hears of each step and may stop it.
pub fn export(
    store: &Store,
    to: &PeerKey,
    attachments: bool,
    out: impl Write,
    bundle_id: &str,
    now_ms: i64,
    watch: Watch<'_>,
) -> Result<Exported, BundleFailure> {
    let me = identity(store)?;
    let docs = store.bundle_outgoing(&to.to_text())?;
    let name = store.identity().user_name.clone();
    let header = Header::new(bundle_id, bundle::KIND_CHANGES, me, &name, to.clone(), now_ms);
    let mut writer = BundleWriter::new(bundle::Counting::new(out), &header, &store.secrets().signing)?;
    let mut changes = 0;
    let mut files = BTreeMap::new();
    for (at, doc) in docs.iter().enumerate() {
        report(watch, Stage::Reading, at, docs.len())?;
        changes += doc.signatures.len();
        if attachments && doc.part == Part::Record {
            for attachment in store.record(doc.record)?.read().all_attachments() {
                files.entry(attachment.sha256.clone()).or_insert(());
            }
        }
        let upload = Upload {
            doc: crate::key_of(doc.record, doc.part),
            changes: doc.changes.clone(),
            signatures: doc
                .signatures
                .iter()
                .map(|(hash, signature)| ChangeSignature { hash: hash.0.to_vec(), signature: signature.clone() })
                .collect(),
        };
        writer.write(&Item::Changes { upload, heads: heads_bytes(&doc.heads) })?;
    }
    report(watch, Stage::Reading, docs.len(), docs.len())?;
    let mut attachment_count = 0;
    for (at, sha256) in files.keys().enumerate() {
        report(watch, Stage::Files, at, files.len())?;
        // A photo this device never received is not its to send.
        let Ok(bytes) = store.attachment(sha256) else { continue };
        attachment_count += 1;
        let size = bytes.len() as u64;
        for (at, piece) in bytes.chunks(ATTACHMENT_PIECE).enumerate() {
            let offset = (at * ATTACHMENT_PIECE) as u64;
            writer.write(&Item::Attachment { sha256: sha256.clone(), size, offset, bytes: piece.to_vec() })?;
        }
    }
    if !files.is_empty() {
        report(watch, Stage::Files, files.len(), files.len())?;
    }
    report(watch, Stage::Writing, 0, 1)?;
    let (counter, _) = writer.finish()?;
    Ok(Exported {
        bundle: bundle_id.to_owned(),
        receiver: to.to_text(),
        documents: docs.len(),
        changes,
        attachments: attachment_count,
        bytes: counter.bytes,
    })
}

/// One refused document, as a receipt names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub record: String,
    pub code: String,
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Imported {
    pub bundle: String,
    pub kind: String,
    pub sender: String,
    pub sender_key: String,
    pub documents: usize,
    /// Documents that received changes new to this device.
    pub merged: usize,
    /// Documents this device lacks the history of: the sender sends them whole next time.
    pub need_full: usize,
    pub attachments: usize,
    /// For a receipt: documents the peer acknowledged, and those it refused (with why).
    pub acknowledged: usize,
    pub refused: Vec<Refusal>,
    /// The receipt to send back (for a bundle of changes).
    #[serde(skip)]
    pub receipt: Option<Vec<u8>>,
}

/// Imports a bundle sent to this device: changes (merged in one transaction, then answered
/// with a receipt to send back), or a receipt of a bundle this device sent. Nothing is
/// applied unless the whole bundle verifies. `watch` hears of each step (the reading in KiB
/// of `size`, the input's length in bytes) and may stop it while nothing is applied yet.
pub fn import(
    store: &mut Store,
    input: impl Read,
    size: u64,
    receipt_id: &str,
    now_ms: i64,
    watch: Watch<'_>,
) -> Result<Imported, BundleFailure> {
    let verified = verify(store, input, size, watch)?;
    apply(store, verified, receipt_id, now_ms, watch)
}

/// A bundle read whole and verified, not yet applied.
#[derive(Debug)]
pub struct Verified {
    header: Header,
    items: Vec<Item>,
}

/// Reads a bundle sent to this device and checks it whole (receiver, signatures, every
/// frame), writing nothing: the first half of [`import`], which needs no write lock.
/// `watch` hears of the reading in KiB of `size` and may stop it.
pub fn verify(store: &Store, input: impl Read, size: u64, watch: Watch<'_>) -> Result<Verified, BundleFailure> {
    let me = identity(store)?;
    let mut watched = Watched { inner: input, read: 0, total_kib: size.div_ceil(1024), watch, cancelled: false };
    let read = bundle::read_bundle::<_, Item>(&mut watched, &me, &store.secrets().sealing);
    if watched.cancelled {
        return Err(BundleFailure::Cancelled);
    }
    let (header, items) = read?;
    Ok(Verified { header, items })
}

/// Applies a verified bundle: the second half of [`import`] (merged in one transaction;
/// from there on it goes to the end whatever `watch` answers).
pub fn apply(
    store: &mut Store,
    verified: Verified,
    receipt_id: &str,
    now_ms: i64,
    watch: Watch<'_>,
) -> Result<Imported, BundleFailure> {
    let Verified { header, items } = verified;
    let me = identity(store)?;
    let mut imported = Imported {
        bundle: header.id.clone(),
        kind: header.kind.clone(),
        sender: header.sender_name.clone(),
        sender_key: header.sender.to_text(),
        documents: 0,
        merged: 0,
        need_full: 0,
        attachments: 0,
        acknowledged: 0,
        refused: Vec::new(),
        receipt: None,
    };
    match header.kind.as_str() {
        bundle::KIND_RECEIPT => {
            let mut acked = Vec::new();
            for item in &items {
                let Item::Ack { ack, sent } = item else { continue };
                imported.documents += 1;
                let (record, part) = from_key(&ack.doc)?;
                match &ack.outcome {
                    Outcome::Stored { .. } => acked.push((record, part, heads_from(sent))),
                    Outcome::Refused { code, message } => imported.refused.push(Refusal {
                        record: record.to_string(),
                        code: code.as_str().to_owned(),
                        message: message.clone(),
                    }),
                    Outcome::NeedFull => imported.need_full += 1,
                }
            }
            imported.acknowledged = store.acknowledge_bundle(&imported.sender_key, &acked)?;
            return Ok(imported);
        }
        bundle::KIND_CHANGES => {}
        other => return Err(BundleFailure::UnexpectedKind { kind: other.to_owned() }),
    }
    // A server's bundle says where its log stands; it is the server's to pass changes on.
    let mut upto = None;
    let mut carried = Vec::new();
    let mut sent = Vec::new();
    for item in &items {
        match item {
            Item::Covers { upto: at } => upto = Some(*at),
            Item::Changes { upload, heads } => {
                let (record, part) = from_key(&upload.doc)?;
                let signatures = upload
                    .signatures
                    .iter()
                    .filter_map(|s| Some((ChangeHash::try_from(s.hash.as_slice()).ok()?, s.signature.clone())))
                    .collect();
                carried
                    .push(Carried { incoming: Incoming { record, part, changes: upload.changes.clone() }, signatures });
                sent.push((upload.doc.clone(), heads.clone()));
            }
            _ => {}
        }
    }
    imported.documents = carried.len();
    report(watch, Stage::Merging, 0, carried.len())?;
    let outcomes = store.apply_bundle(&carried, upto.is_none(), now_ms)?;
    // The sender holds what it sent: a bundle back to it need not carry that again.
    let held: Vec<(RecordId, Part, Vec<ChangeHash>)> = carried
        .iter()
        .zip(&sent)
        .map(|(c, (_, heads))| (c.incoming.record, c.incoming.part, heads_from(heads)))
        .collect();
    store.acknowledge_bundle(&imported.sender_key, &held)?;
    // Applied: from here on it goes to the end whatever `watch` answers.
    imported.attachments = import_attachments(store, &items, now_ms, &mut |step| {
        watch(step);
    })?;
    watch(Step { stage: Stage::Writing, done: 0, total: 1 });
    let mut answers = vec![Item::Answers { bundle: header.id.clone(), upto }];
    for (outcome, (doc, heads)) in outcomes.into_iter().zip(sent) {
        let ack = match outcome {
            CarriedOutcome::Merged { changed, heads } => {
                imported.merged += usize::from(changed);
                Ack { doc, outcome: Outcome::Stored { new: u32::from(changed) }, heads: heads_bytes(&heads) }
            }
            CarriedOutcome::NeedFull => {
                imported.need_full += 1;
                Ack { doc, outcome: Outcome::NeedFull, heads: Vec::new() }
            }
        };
        answers.push(Item::Ack { ack, sent: heads });
    }
    let receipt =
        Header::new(receipt_id, bundle::KIND_RECEIPT, me, &store.identity().user_name, header.sender.clone(), now_ms);
    let mut writer = BundleWriter::new(Vec::new(), &receipt, &store.secrets().signing)?;
    for item in &answers {
        writer.write(item)?;
    }
    imported.receipt = Some(writer.finish()?.0);
    Ok(imported)
}

/// Stores the attachments a bundle carries that their hash checks, with the type the
/// records naming them give. Returns how many were stored.
fn import_attachments(
    store: &mut Store,
    items: &[Item],
    now_ms: i64,
    watch: &mut dyn FnMut(Step),
) -> Result<usize, BundleFailure> {
    let mut files: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
    let mut mimes: BTreeMap<String, String> = BTreeMap::new();
    for item in items {
        match item {
            Item::Attachment { sha256, offset, bytes, .. } => {
                let file = files.entry(sha256).or_default();
                if *offset == file.len() as u64 {
                    file.extend_from_slice(bytes);
                }
            }
            Item::Changes { upload, .. } if upload.doc.part == xuncha_protocol::Part::Record => {
                let (record, _) = from_key(&upload.doc)?;
                if let Ok(doc) = store.record(record) {
                    let mut doc = doc;
                    for attachment in doc.read().all_attachments() {
                        mimes.insert(attachment.sha256.clone(), attachment.mime.clone());
                    }
                }
            }
            _ => {}
        }
    }
    let mut stored = 0;
    let total = files.len() as u64;
    for (at, (sha256, bytes)) in files.into_iter().enumerate() {
        watch(Step { stage: Stage::Files, done: at as u64, total });
        if xuncha_store::sha256_hex(&bytes) != sha256 {
            continue;
        }
        let mime = mimes.get(sha256).map_or("application/octet-stream", String::as_str);
        store.put_attachment(&bytes, mime, now_ms)?;
        stored += 1;
    }
    if total > 0 {
        watch(Step { stage: Stage::Files, done: total, total });
    }
    Ok(stored)
}
