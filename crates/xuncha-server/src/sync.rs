//! `POST /v1/sync`: one round trip. Uploaded changes are checked (every new change made
//! by the uploading device's actor, every record in its write scope) and stored with the
//! change log in one transaction; the answer carries the log after the device's cursor,
//! filtered to what the device may see.

use xuncha_domain::{ProtectedDoc, RecordDoc, RecordId, SyncDoc};
use xuncha_protocol::{Ack, DocKey, Entry, Outcome, Part, SyncRequest, SyncResponse, Upload, codes};

use crate::scope;
use crate::storage::{AuditEntry, Device, LoggedChange, Result, StoredDoc, Tx, User, Visibility};

/// The most whole documents in one response (first sync, documents asked for whole).
pub const SNAPSHOT_PAGE: u32 = 500;
/// A response stops adding documents or changes past this many bytes (always at least
/// one), well inside what a device accepts.
pub const RESPONSE_BUDGET: usize = 16 * 1024 * 1024;

/// The cursor a device carries: the log position, or a position in the first-sync walk
/// over whole documents.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cursor {
    Log { seq: u64 },
    Snapshots { until_seq: u64, after: Option<DocKey> },
}

fn part_byte(part: Part) -> u8 {
    match part {
        Part::Record => 0,
        Part::Protected => 1,
    }
}

impl Cursor {
    fn encode(&self) -> Vec<u8> {
        match self {
            Cursor::Log { seq } => {
                let mut out = vec![0u8];
                out.extend_from_slice(&seq.to_be_bytes());
                out
            }
            Cursor::Snapshots { until_seq, after } => {
                let mut out = vec![1u8];
                out.extend_from_slice(&until_seq.to_be_bytes());
                if let Some(key) = after {
                    out.push(part_byte(key.part));
                    out.extend_from_slice(&key.record);
                }
                out
            }
        }
    }

    /// `None` for a first sync; an error for bytes no server wrote.
    fn decode(bytes: &[u8]) -> std::result::Result<Option<Cursor>, String> {
        if bytes.is_empty() {
            return Ok(None);
        }
        let seq = bytes.get(1..9).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_be_bytes);
        match (bytes[0], seq) {
            (0, Some(seq)) if bytes.len() == 9 => Ok(Some(Cursor::Log { seq })),
            (1, Some(until_seq)) => {
                let after = match bytes.get(9..) {
                    None | Some([]) => None,
                    Some([part, record @ ..]) if record.len() == 16 => Some(DocKey {
                        record: record.to_vec(),
                        part: if *part == 1 { Part::Protected } else { Part::Record },
                    }),
                    Some(_) => return Err("malformed cursor".into()),
                };
                Ok(Some(Cursor::Snapshots { until_seq, after }))
            }
            _ => Err("malformed cursor".into()),
        }
    }
}

fn refused(code: &str, message: impl Into<String>) -> Outcome {
    Outcome::Refused { code: code.to_owned(), message: message.into() }
}

fn heads_bytes(heads: &[xuncha_domain::ChangeHash]) -> Vec<serde_bytes::ByteBuf> {
    heads.iter().map(|h| serde_bytes::ByteBuf::from(h.0.to_vec())).collect()
}

/// Checks and stores one upload inside the request's write transaction.
fn apply_upload(tx: &mut dyn Tx, device: &Device, user: &User, upload: &Upload, now_ms: i64) -> Result<Ack> {
    let ack = |outcome, heads| Ack { doc: upload.doc.clone(), outcome, heads };
    let Ok(uuid) = uuid_from(&upload.doc.record) else {
        return Ok(ack(refused(codes::INVALID_DOCUMENT, "记录编号无效 / malformed record id"), vec![]));
    };
    let record_id: RecordId = match uuid.parse() {
        Ok(id) => id,
        Err(_) => return Ok(ack(refused(codes::INVALID_DOCUMENT, "记录编号无效 / malformed record id"), vec![])),
    };
    let existing = tx.doc(&upload.doc)?;
    match upload.doc.part {
        Part::Record => {
            let (mut doc, before) = match &existing {
                Some(stored) => match RecordDoc::load(&stored.snapshot) {
                    Ok(mut doc) => {
                        let heads = doc.heads();
                        if let Err(error) = doc.load_changes(&upload.changes) {
                            return Ok(ack(refused(codes::INVALID_DOCUMENT, error.to_string()), heads_bytes(&heads)));
                        }
                        (doc, heads)
                    }
                    Err(error) => {
                        return Err(crate::storage::StorageError::Backend(format!(
                            "stored document unreadable: {error}"
                        )));
                    }
                },
                None => match RecordDoc::load(&upload.changes) {
                    Ok(doc) => (doc, Vec::new()),
                    // Changes without the record's beginning: ask for the whole document.
                    Err(_) if lacks_history(&upload.changes) => return Ok(ack(Outcome::NeedFull, vec![])),
                    Err(error) => return Ok(ack(refused(codes::INVALID_DOCUMENT, error.to_string()), vec![])),
                },
            };
            if !doc.missing_deps().is_empty() {
                return Ok(ack(Outcome::NeedFull, heads_bytes(&before)));
            }
            if doc.id() != record_id {
                return Ok(ack(
                    refused(codes::INVALID_DOCUMENT, "上传的文档与记录编号不符 / the document is not this record"),
                    vec![],
                ));
            }
            let new = doc.changes_since(&before);
            if let Some(foreign) = new.iter().find(|c| c.actor.to_hex_string() != device.actor) {
                return Ok(ack(
                    refused(
                        codes::FOREIGN_ACTOR,
                        format!(
                            "修改 {} 不是本设备所写，整条上传被拒绝 / change {} was not made by this device; the whole upload was refused",
                            foreign.hash, foreign.hash
                        ),
                    ),
                    heads_bytes(&before),
                ));
            }
            let record = doc.read();
            let township = record.division(xuncha_domain::Field::Township).map(|d| d.code.clone()).unwrap_or_default();
            let mut townships = vec![township.as_str()];
            if let Some(stored) = &existing {
                townships.push(stored.township.as_str());
            }
            if !scope::may_write(user, &townships) {
                return Ok(ack(
                    refused(
                        codes::OUT_OF_SCOPE,
                        format!(
                            "记录不在您的管辖范围（{}）内 / the record is outside your jurisdiction ({})",
                            user.jurisdiction, user.jurisdiction
                        ),
                    ),
                    heads_bytes(&before),
                ));
            }
            let owner = existing.map_or_else(|| device.id.clone(), |e| e.owner_device);
            let attachments: Vec<String> = record.attachments.into_iter().map(|a| a.sha256).collect();
            tx.set_attachment_refs(&upload.doc.record, &attachments)?;
            let (heads, snapshot) = (doc.heads(), doc.save());
            store_new(tx, upload, new, snapshot, township, owner, &device.id, now_ms)
                .map(|n| ack(n, heads_bytes(&heads)))
        }
        Part::Protected => {
            let record_key = DocKey { record: upload.doc.record.clone(), part: Part::Record };
            let Some(record) = tx.doc(&record_key)? else {
                return Ok(ack(refused("unknown_record", "请先同步记录本身 / sync the record itself first"), vec![]));
            };
            // A new companion belongs to the device that owns the record; after that, to the
            // device that first uploaded it. Supervisors may write any in their scope.
            let owner = existing.as_ref().map_or(record.owner_device.as_str(), |e| e.owner_device.as_str()).to_owned();
            let may = scope::may_write(user, &[record.township.as_str()])
                && (owner == device.id || user.role == xuncha_protocol::Role::Supervisor);
            if !may {
                return Ok(ack(
                    refused(codes::OUT_OF_SCOPE, "无权修改受保护信息 / you may not change this protected information"),
                    vec![],
                ));
            }
            let (mut doc, before) = match &existing {
                Some(stored) => {
                    let mut doc = ProtectedDoc::load_parts(&stored.snapshot, [])
                        .map_err(|e| crate::storage::StorageError::Backend(e.to_string()))?;
                    let heads = doc.heads();
                    if let Err(error) = doc.load_changes(&upload.changes) {
                        return Ok(ack(refused(codes::INVALID_DOCUMENT, error.to_string()), heads_bytes(&heads)));
                    }
                    (doc, heads)
                }
                None => match ProtectedDoc::load_parts(&upload.changes, []) {
                    Ok(doc) => (doc, Vec::new()),
                    Err(_) if lacks_history(&upload.changes) => return Ok(ack(Outcome::NeedFull, vec![])),
                    Err(error) => return Ok(ack(refused(codes::INVALID_DOCUMENT, error.to_string()), vec![])),
                },
            };
            if !doc.missing_deps().is_empty() {
                return Ok(ack(Outcome::NeedFull, heads_bytes(&before)));
            }
            if doc.record_id() != record_id {
                return Ok(ack(
                    refused(
                        codes::INVALID_DOCUMENT,
                        "受保护文档与记录不符 / the protected document is for another record",
                    ),
                    vec![],
                ));
            }
            let new = doc.changes_since(&before);
            if new.iter().any(|c| c.actor.to_hex_string() != device.actor) {
                return Ok(ack(
                    refused(codes::FOREIGN_ACTOR, "包含其他设备的修改 / contains changes made by another device"),
                    heads_bytes(&before),
                ));
            }
            let (heads, snapshot) = (doc.heads(), doc.save());
            store_new(tx, upload, new, snapshot, record.township, owner, &device.id, now_ms)
                .map(|n| ack(n, heads_bytes(&heads)))
        }
    }
}

/// Whether bytes that are not a document on their own are changes whose history is missing
/// (as opposed to garbage, or a document this server cannot read).
fn lacks_history(bytes: &[u8]) -> bool {
    let mut doc = automerge::AutoCommit::new();
    doc.load_incremental(bytes).is_ok() && !doc.get_missing_deps(&[]).is_empty()
}

/// Stores an accepted upload: the merged snapshot and its new changes in the log.
#[allow(clippy::too_many_arguments)]
fn store_new(
    tx: &mut dyn Tx,
    upload: &Upload,
    new: Vec<xuncha_domain::RawChange>,
    snapshot: Vec<u8>,
    township: String,
    owner_device: String,
    device_id: &str,
    now_ms: i64,
) -> Result<Outcome> {
    if new.is_empty() {
        return Ok(Outcome::Stored { new: 0 });
    }
    let logged: Vec<LoggedChange> =
        new.into_iter().map(|c| LoggedChange { hash: c.hash.to_string(), bytes: c.bytes }).collect();
    let stored = StoredDoc { key: upload.doc.clone(), snapshot, township, owner_device };
    Ok(Outcome::Stored { new: tx.put_doc(&stored, &logged, device_id, now_ms)? })
}

/// The 16 bytes of a record id as a UUID string.
fn uuid_from(bytes: &[u8]) -> std::result::Result<String, ()> {
    let array: [u8; 16] = bytes.try_into().map_err(|_| ())?;
    Ok(uuid_string(&array))
}

fn uuid_string(b: &[u8; 16]) -> String {
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Stores the uploads of one request, in one write transaction, with its audit entry.
pub fn store_uploads(
    tx: &mut dyn Tx,
    device: &Device,
    user: &User,
    request: &SyncRequest,
    now_ms: i64,
) -> Result<Vec<Ack>> {
    let mut acks = Vec::with_capacity(request.uploads.len());
    for upload in &request.uploads {
        acks.push(apply_upload(tx, device, user, upload, now_ms)?);
    }
    tx.touch_device(&device.id, now_ms)?;
    Ok(acks)
}

/// One response's worth of what a device receives.
#[derive(Debug)]
pub struct Page {
    pub entries: Vec<Entry>,
    pub cursor: Vec<u8>,
    pub more: bool,
}

/// What the device receives: whole documents on a first sync (and those it asks for
/// whole), then the log after its cursor.
pub fn read_entries(tx: &mut dyn Tx, who: &Visibility, request: &SyncRequest) -> Result<Page> {
    // A cursor this server cannot read (another server, a restored backup, damage) starts
    // the walk over: the device is sent everything again, which merging makes harmless.
    let cursor = Cursor::decode(&request.cursor).unwrap_or(None);
    let mut entries = Vec::new();
    let mut bytes = 0usize;
    for key in request.want_full.iter().take(SNAPSHOT_PAGE as usize) {
        if bytes >= RESPONSE_BUDGET {
            break;
        }
        if let Some(doc) = tx.doc(key)? {
            let visible = who.township.as_ref().is_none_or(|t| *t == doc.township)
                && (key.part == Part::Record || who.all_protected || doc.owner_device == who.device_id);
            if visible {
                bytes += doc.snapshot.len();
                entries.push(Entry { doc: doc.key, changes: doc.snapshot, full: true });
            }
        }
    }
    let (cursor, more) = match cursor {
        None | Some(Cursor::Snapshots { .. }) => {
            let (until_seq, after) = match cursor {
                Some(Cursor::Snapshots { until_seq, after }) => (until_seq, after),
                _ => (tx.max_seq()?, None),
            };
            let (docs, mut more) = tx.docs_after(after.as_ref(), who, SNAPSHOT_PAGE)?;
            let mut last = after;
            for doc in docs {
                if bytes >= RESPONSE_BUDGET {
                    more = true;
                    break;
                }
                bytes += doc.snapshot.len();
                last = Some(doc.key.clone());
                entries.push(Entry { doc: doc.key, changes: doc.snapshot, full: true });
            }
            if more {
                (Cursor::Snapshots { until_seq, after: last }, true)
            } else {
                (Cursor::Log { seq: until_seq }, false)
            }
        }
        Some(Cursor::Log { seq }) => {
            let (rows, resume, mut more) = tx.log_after(seq, who, xuncha_protocol::MAX_ENTRIES)?;
            let mut reached = resume;
            for row in rows {
                if bytes >= RESPONSE_BUDGET {
                    more = true;
                    break;
                }
                bytes += row.bytes.len();
                reached = row.seq;
                match entries.last_mut() {
                    Some(last) if last.doc == row.key && !last.full => last.changes.extend_from_slice(&row.bytes),
                    _ => entries.push(Entry { doc: row.key, changes: row.bytes, full: false }),
                }
            }
            (Cursor::Log { seq: if more { reached } else { resume } }, more)
        }
    };
    Ok(Page { entries, cursor: cursor.encode(), more })
}

/// The audit entry of one sync.
pub fn audit_entry(
    device: &Device,
    request: &SyncRequest,
    response: &SyncResponse,
    bytes_in: usize,
    bytes_out: usize,
    now_ms: i64,
) -> AuditEntry {
    let stored: Vec<String> = response
        .acks
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Stored { new } if new > 0))
        .filter_map(|a| uuid_from(&a.doc.record).ok())
        .collect();
    let refused: Vec<String> = response
        .acks
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Refused { .. }))
        .filter_map(|a| uuid_from(&a.doc.record).ok())
        .collect();
    AuditEntry {
        at_ms: now_ms,
        user_id: Some(device.user_id.clone()),
        device_id: Some(device.id.clone()),
        action: "sync".into(),
        detail: serde_json::json!({
            "uploads": request.uploads.len(),
            "stored": stored,
            "refused": refused,
            "entries": response.entries.len(),
            "bytes_in": bytes_in,
            "bytes_out": bytes_out,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        for cursor in [
            Cursor::Log { seq: 0 },
            Cursor::Log { seq: u64::MAX },
            Cursor::Snapshots { until_seq: 9, after: None },
            Cursor::Snapshots { until_seq: 9, after: Some(DocKey { record: vec![7; 16], part: Part::Protected }) },
        ] {
            assert_eq!(Cursor::decode(&cursor.encode()), Ok(Some(cursor)));
        }
        assert_eq!(Cursor::decode(&[]), Ok(None));
        for garbage in [&[0u8, 1, 2][..], &[9; 9], &[1, 0, 0, 0, 0, 0, 0, 0, 0, 5]] {
            assert!(Cursor::decode(garbage).is_err());
        }
    }
}
