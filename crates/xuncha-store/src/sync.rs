//! The device side of sync, as storage: which changes to send, and applying what the
//! server answered (acknowledgements, other devices' changes, the new cursor) in one
//! transaction, so the cursor only moves once everything it covers is on disk.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use xuncha_domain::{ChangeHash, ErrorCode, ProtectedDoc, RecordDoc, RecordId, SyncDoc};

use crate::docs::{Part, heads_text, load_stored, persist};
use crate::error::{Result, StoreError};
use crate::{Store, index};

/// The sync-state key of the server cursor.
const CURSOR: &str = "server_cursor";
/// How a protected companion's document id ends (`Part::Protected`).
const PROTECTED_SUFFIX: &str = ":protected";
/// The ids of the records whose last upload the server refused (of the record or of its
/// protected companion), as a subquery for lists.
pub(crate) const REFUSED_RECORDS: &str = "SELECT CASE WHEN doc_id LIKE '%:protected'
    THEN substr(doc_id, 1, length(doc_id) - 10) ELSE doc_id END FROM outbox WHERE refused_code IS NOT NULL";

/// Changes of one document to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub record: RecordId,
    pub part: Part,
    /// `save_after` of the heads the server last acknowledged, or the whole document.
    pub changes: Vec<u8>,
    /// The document's heads when the changes were taken.
    pub heads: Vec<ChangeHash>,
    /// The device's signature of each of its own changes among them (hash, Ed25519).
    pub signatures: Vec<(ChangeHash, Vec<u8>)>,
}

/// What the server said about one upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadOutcome {
    /// Stored; the server's heads for the document afterwards.
    Stored { server_heads: Vec<ChangeHash> },
    /// Refused whole: kept in the outbox with the reason, not sent again until edited.
    Refused { code: ErrorCode, message: String },
    /// The server lacks history the changes build on: send the whole document next time.
    NeedFull,
}

/// Changes of one document from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    pub record: RecordId,
    pub part: Part,
    pub changes: Vec<u8>,
}

/// The rest of a sync answer: the new cursor, documents the device may no longer hold, and
/// new reference data (its tag and contents) when the server's differs.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub cursor: &'a [u8],
    pub dropped: &'a [(RecordId, Part)],
    pub reference: Option<(&'a [u8], &'a xuncha_domain::Reference)>,
    /// With the reference data: the district's protected-data recipient and, if granted to
    /// this device, its identity sealed to this device's key.
    pub protected: Option<(&'a str, Option<&'a [u8]>)>,
    /// Record numbers (编号) the server gave.
    pub numbers: &'a [(RecordId, String)],
}

/// What applying a sync response did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Documents that received changes.
    pub documents: usize,
    /// Uploads the server stored.
    pub stored: usize,
    /// Uploads the server refused.
    pub refused: Vec<(String, String, String)>,
    /// Documents removed because the user may no longer see them.
    pub dropped: usize,
    /// Documents the user may no longer see, kept because they hold changes of this device
    /// not yet acknowledged.
    pub kept: usize,
}

/// Splits a device document key into its record and part.
fn parse_doc_id(doc_id: &str) -> Result<(RecordId, Part)> {
    match doc_id.strip_suffix(PROTECTED_SUFFIX) {
        Some(record) => Ok((record.parse()?, Part::Protected)),
        None => Ok((doc_id.parse()?, Part::Record)),
    }
}

fn parse_heads(text: &str) -> Vec<ChangeHash> {
    text.split(',').filter(|h| !h.is_empty()).filter_map(|h| h.parse().ok()).collect()
}

impl Store {
    /// The server cursor this device reached (empty before the first sync).
    pub fn sync_cursor(&self) -> Result<Vec<u8>> {
        Ok(self.sync_value(CURSOR)?.and_then(|hex| hex::decode(hex).ok()).unwrap_or_default())
    }

    /// Documents this device needs whole from the server.
    pub fn sync_wants(&self) -> Result<Vec<(RecordId, Part)>> {
        let mut stmt = self.conn.prepare("SELECT doc_id FROM sync_wants ORDER BY doc_id")?;
        let ids = stmt.query_map([], |row| row.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        ids.iter().map(|id| parse_doc_id(id)).collect()
    }

    /// The changes to send, records before their protected companions, oldest change first,
    /// up to about `max_bytes` (at least one document) and at most `max_docs` documents.
    /// Refused documents wait until they are edited again.
    pub fn outgoing(&self, max_bytes: usize, max_docs: usize) -> Result<Vec<Outgoing>> {
        let mut stmt = self.conn.prepare(
            "SELECT o.doc_id, o.need_full, d.synced_heads FROM outbox o JOIN documents d ON d.doc_id = o.doc_id
             WHERE o.refused_code IS NULL
             ORDER BY o.doc_id LIKE '%:protected', o.first_changed_at, o.doc_id",
        )?;
        let rows = stmt
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, bool>(1)?, row.get::<_, String>(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::new();
        let mut bytes = 0;
        for (doc_id, need_full, synced) in rows {
            let since = if need_full { Vec::new() } else { parse_heads(&synced) };
            let Some(upload) = self.outgoing_doc(&doc_id, &since)? else { continue };
            bytes += upload.changes.len();
            out.push(upload);
            if bytes >= max_bytes || out.len() >= max_docs {
                break;
            }
        }
        Ok(out)
    }

    /// The changes of one document since `since` (the whole document for none, or when it
    /// lacks any of them), with the signatures of those changes.
    pub(crate) fn outgoing_doc(&self, doc_id: &str, since: &[ChangeHash]) -> Result<Option<Outgoing>> {
        let (record, part) = parse_doc_id(doc_id)?;
        let Some(stored) = load_stored(&self.conn, doc_id)? else { return Ok(None) };
        let chunks = stored.chunks.iter().map(Vec::as_slice);
        let (changes, heads, own) = match part {
            Part::Record => {
                let mut doc = RecordDoc::load_parts(&stored.snapshot, chunks)?;
                let since = if since.iter().all(|h| doc.has_change(h)) { since } else { &[] };
                let own = doc.changes_since(since);
                (if since.is_empty() { doc.save() } else { doc.save_after(since) }, doc.heads(), own)
            }
            Part::Protected => {
                let mut doc = ProtectedDoc::load_parts(&stored.snapshot, chunks)?;
                let since = if since.iter().all(|h| doc.has_change(h)) { since } else { &[] };
                let own = doc.changes_since(since);
                (if since.is_empty() { doc.save() } else { doc.save_after(since) }, doc.heads(), own)
            }
        };
        // Every change of this device's actor is signed; a change of another device (from a
        // bundle) goes with its author's signature, kept when it arrived. The receiver checks
        // those new to it.
        let signatures = crate::bundles::signatures(&self.conn, &self.secrets, &self.identity.actor, &own)?;
        Ok(Some(Outgoing { record, part, changes, heads, signatures }))
    }

    /// Why the server refused the last upload of a record (or of its protected companion):
    /// the code and the server's message. Such changes wait until the record is edited.
    pub fn refusal(&self, id: RecordId) -> Result<Option<(ErrorCode, String)>> {
        Ok(self
            .conn
            .query_row(
                "SELECT refused_code, COALESCE(refused_message, '') FROM outbox
                 WHERE doc_id IN (?1, ?2) AND refused_code IS NOT NULL ORDER BY doc_id LIMIT 1",
                params![Part::Record.doc_id(id), Part::Protected.doc_id(id)],
                |row| Ok((ErrorCode::parse(&row.get::<_, String>(0)?), row.get(1)?)),
            )
            .optional()?)
    }

    /// The records whose last upload the server refused, each with the code of why (of its
    /// record or, failing that, of its protected companion).
    pub fn refused(&self) -> Result<BTreeMap<RecordId, ErrorCode>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT doc_id, refused_code FROM outbox WHERE refused_code IS NOT NULL ORDER BY doc_id DESC",
        )?;
        let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
        let mut out = BTreeMap::new();
        // Descending: a record's own document ("<id>") comes after its companion's
        // ("<id>:protected") and so wins.
        for row in rows {
            let (doc_id, code) = row?;
            if let Ok(record) = doc_id.strip_suffix(PROTECTED_SUFFIX).unwrap_or(&doc_id).parse::<RecordId>() {
                out.insert(record, ErrorCode::parse(&code));
            }
        }
        Ok(out)
    }

    /// The records with changes not yet acknowledged by the server (their record or its
    /// protected companion is in the outbox), for a "waiting to sync" badge.
    pub fn pending_records(&self) -> Result<Vec<RecordId>> {
        let mut stmt = self.conn.prepare_cached("SELECT doc_id FROM outbox")?;
        let ids = stmt.query_map([], |row| row.get::<_, String>(0))?;
        let mut out = Vec::new();
        for id in ids {
            let id = id?;
            let record = id.strip_suffix(PROTECTED_SUFFIX).unwrap_or(&id);
            if let Ok(record) = record.parse::<RecordId>() {
                out.push(record);
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// How many documents wait to be sent, and how many the server refused.
    pub fn outbox_status(&self) -> Result<(i64, i64)> {
        Ok(self.conn.query_row(
            "SELECT count(*) - count(refused_code), count(refused_code) FROM outbox",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )?)
    }

    /// Applies one sync response in one transaction: the outcome of each upload in `sent`,
    /// every incoming change, the documents to drop, new reference data, and the new cursor.
    pub fn apply_sync(
        &mut self,
        sent: &[(Outgoing, UploadOutcome)],
        incoming: &[Incoming],
        received: &Received<'_>,
    ) -> Result<Applied> {
        let mut applied = Applied::default();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        for (upload, outcome) in sent {
            let doc_id = upload.part.doc_id(upload.record);
            match outcome {
                UploadOutcome::Stored { .. } => {
                    applied.stored += 1;
                    let sent_heads = heads_text(&upload.heads);
                    tx.execute(
                        "UPDATE documents SET synced_heads = ?2 WHERE doc_id = ?1",
                        params![doc_id, sent_heads],
                    )?;
                    // Done unless the document changed while the request was under way.
                    tx.execute(
                        "DELETE FROM outbox WHERE doc_id = ?1
                           AND (SELECT heads FROM documents WHERE doc_id = ?1) = ?2",
                        params![doc_id, sent_heads],
                    )?;
                    // A companion refused because its record was not on the server yet gets
                    // another chance now that the record is.
                    if upload.part == Part::Record {
                        tx.execute(
                            "UPDATE outbox SET refused_code = NULL, refused_message = NULL
                             WHERE doc_id = ?1 AND refused_code = ?2",
                            params![Part::Protected.doc_id(upload.record), ErrorCode::UnknownRecord.as_str()],
                        )?;
                    }
                    tx.execute("UPDATE outbox SET need_full = 0 WHERE doc_id = ?1", [&doc_id])?;
                }
                UploadOutcome::Refused { code, message } => {
                    // Unless the person changed the document while the request was away:
                    // then the new version deserves its own try.
                    tx.execute(
                        "UPDATE outbox SET refused_code = ?2, refused_message = ?3 WHERE doc_id = ?1
                           AND (SELECT heads FROM documents WHERE doc_id = ?1) = ?4",
                        params![doc_id, code.as_str(), message, heads_text(&upload.heads)],
                    )?;
                    applied.refused.push((doc_id, code.as_str().to_owned(), message.clone()));
                }
                UploadOutcome::NeedFull => {
                    let already_full: bool = tx
                        .query_row("SELECT need_full FROM outbox WHERE doc_id = ?1", [&doc_id], |row| row.get(0))
                        .optional()?
                        .unwrap_or(false);
                    if already_full {
                        // The whole document was sent and still lacks history: it cannot
                        // be stored as it is; say so rather than send it forever.
                        let message = "服务器无法接收此文档的完整版本 / the server cannot take this document even whole; run `xuncha verify`";
                        tx.execute(
                            "UPDATE outbox SET refused_code = ?3, refused_message = ?2 WHERE doc_id = ?1",
                            params![doc_id, message, ErrorCode::IncompleteDocument.as_str()],
                        )?;
                        let code = ErrorCode::IncompleteDocument.as_str().to_owned();
                        applied.refused.push((doc_id, code, message.into()));
                    } else {
                        tx.execute("UPDATE outbox SET need_full = 1 WHERE doc_id = ?1", [&doc_id])?;
                    }
                }
            }
        }
        for entry in incoming {
            let doc_id = entry.part.doc_id(entry.record);
            let Some(merged) = merge(&tx, entry)? else {
                want_full(&tx, &doc_id)?;
                continue;
            };
            note_synced(&tx, &doc_id, &merged.heads)?;
            if merged.complete {
                tx.execute("DELETE FROM sync_wants WHERE doc_id = ?1", [&doc_id])?;
            } else {
                want_full(&tx, &doc_id)?;
            }
            applied.documents += 1;
        }
        for (record, part) in received.dropped {
            if drop_document(&tx, *record, *part)? {
                applied.dropped += 1;
            } else {
                applied.kept += 1;
            }
        }
        crate::numbers::keep(&tx, received.numbers)?;
        if let Some((tag, data)) = received.reference {
            crate::reference::replace(&tx, tag, data)?;
            if let Some((recipient, wrapped)) = received.protected {
                crate::keys::set_protected(&tx, &self.secrets, recipient, wrapped)?;
            }
        }
        crate::set_value(&tx, CURSOR, &hex::encode(received.cursor))?;
        tx.commit()?;
        if applied.dropped > 0 {
            self.cache = crate::docs::DocCache::default();
        }
        Ok(applied)
    }
}

/// Removes a document the user may no longer see, with its list row and search entry;
/// `false` (and nothing removed) when it holds changes of this device not yet acknowledged,
/// or it is absent.
fn drop_document(tx: &rusqlite::Transaction<'_>, record: RecordId, part: Part) -> Result<bool> {
    let doc_id = part.doc_id(record);
    let pending: bool =
        tx.query_row("SELECT EXISTS (SELECT 1 FROM outbox WHERE doc_id = ?1)", [&doc_id], |r| r.get(0))?;
    if pending {
        return Ok(false);
    }
    let removed = tx.execute("DELETE FROM documents WHERE doc_id = ?1", [&doc_id])?;
    tx.execute("DELETE FROM sync_wants WHERE doc_id = ?1", [&doc_id])?;
    if part == Part::Record {
        let record_id = record.to_string();
        tx.execute(
            "DELETE FROM records_fts WHERE rowid = (SELECT rid FROM records WHERE record_id = ?1)",
            [&record_id],
        )?;
        tx.execute("DELETE FROM records WHERE record_id = ?1", [&record_id])?;
    }
    Ok(removed > 0)
}

fn want_full(tx: &rusqlite::Transaction<'_>, doc_id: &str) -> Result<()> {
    tx.execute("INSERT INTO sync_wants (doc_id) VALUES (?1) ON CONFLICT (doc_id) DO NOTHING", [doc_id])?;
    Ok(())
}

/// What merging changes from elsewhere into a document did.
#[derive(Debug)]
pub(crate) struct Merged {
    /// The document's heads afterwards.
    pub heads: Vec<ChangeHash>,
    /// Whether it received anything new.
    pub changed: bool,
    /// Whether it holds every change its changes depend on.
    pub complete: bool,
}

/// Merges changes from elsewhere (the server, a bundle) into a document, keeping its list
/// row and search entry; `None` when they are not a document on their own and the device
/// has none to merge them into (the whole document is needed).
pub(crate) fn merge(tx: &rusqlite::Transaction<'_>, entry: &Incoming) -> Result<Option<Merged>> {
    let doc_id = entry.part.doc_id(entry.record);
    let stored = load_stored(tx, &doc_id)?;
    match entry.part {
        Part::Record => {
            let (mut doc, before) = match stored {
                Some(stored) => {
                    let mut doc = RecordDoc::load_parts(&stored.snapshot, stored.chunks.iter().map(Vec::as_slice))?;
                    let before = doc.heads();
                    doc.load_changes(&entry.changes)?;
                    (doc, Some(before))
                }
                None => match RecordDoc::load(&entry.changes) {
                    Ok(doc) => (doc, None),
                    Err(_) => return Ok(None),
                },
            };
            if doc.id() != entry.record {
                return Err(StoreError::Domain(xuncha_domain::DomainError::NotARecord {
                    reason: format!("record {} was sent as {}", doc.id(), entry.record),
                }));
            }
            let complete = doc.missing_deps().is_empty();
            let heads = doc.heads();
            let changed = before.as_deref() != Some(heads.as_slice());
            if changed {
                persist(tx, entry.record, Part::Record, &mut doc, before.as_deref())?;
                index::upsert(tx, &doc.projection())?;
            }
            Ok(Some(Merged { heads, changed, complete }))
        }
        Part::Protected => {
            let (mut doc, before) = match stored {
                Some(stored) => {
                    let mut doc = ProtectedDoc::load_parts(&stored.snapshot, stored.chunks.iter().map(Vec::as_slice))?;
                    let before = doc.heads();
                    doc.load_changes(&entry.changes)?;
                    (doc, Some(before))
                }
                None => match ProtectedDoc::load_parts(&entry.changes, []) {
                    Ok(doc) => (doc, None),
                    Err(_) => return Ok(None),
                },
            };
            let complete = doc.missing_deps().is_empty();
            let heads = doc.heads();
            let changed = before.as_deref() != Some(heads.as_slice());
            if changed {
                persist(tx, entry.record, Part::Protected, &mut doc, before.as_deref())?;
            }
            Ok(Some(Merged { heads, changed, complete }))
        }
    }
}

/// The server has everything a document received from it: when the device has nothing of
/// its own waiting for that document, the server's knowledge is the whole document.
fn note_synced(tx: &rusqlite::Transaction<'_>, doc_id: &str, heads: &[ChangeHash]) -> Result<()> {
    tx.execute(
        "UPDATE documents SET synced_heads = ?2 WHERE doc_id = ?1 AND NOT EXISTS (SELECT 1 FROM outbox WHERE doc_id = ?1)",
        params![doc_id, heads_text(heads)],
    )?;
    Ok(())
}
