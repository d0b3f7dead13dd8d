//! Documents on the device: loading a record from its snapshot and chunks, and writing an
//! edit as one transaction (chunk, compaction, projection, search index, outbox).

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior, params};
use xuncha_domain::{ChangeHash, Edit, Informant, InformantField, NewRecord, ProtectedDoc, RecordDoc, RecordId};

use crate::attachments::{NewAttachment, insert_blob, sha256_hex};
use crate::error::{Result, StoreError};
use crate::{Store, index};

/// Compact a document's chunks into a new snapshot past this many chunks...
const MAX_CHUNKS: i64 = 64;
/// ...or once the chunks together are larger than the snapshot and this floor.
const MIN_COMPACT_BYTES: i64 = 64 * 1024;

/// Which document of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The record itself.
    Record,
    /// Its protected companion (the informant of a gang clue).
    Protected,
}

impl Part {
    /// The stored name.
    pub fn code(self) -> &'static str {
        match self {
            Part::Record => "record",
            Part::Protected => "protected",
        }
    }

    /// The key of this part's document in the device database.
    pub fn doc_id(self, record: RecordId) -> String {
        match self {
            Part::Record => record.to_string(),
            Part::Protected => format!("{record}:protected"),
        }
    }
}

/// The stored parts of a document.
pub(crate) struct Stored {
    pub(crate) snapshot: Vec<u8>,
    pub(crate) chunks: Vec<Vec<u8>>,
}

pub(crate) fn load_stored(conn: &rusqlite::Connection, doc_id: &str) -> Result<Option<Stored>> {
    let snapshot: Option<Vec<u8>> =
        conn.query_row("SELECT snapshot FROM documents WHERE doc_id = ?1", [doc_id], |row| row.get(0)).optional()?;
    let Some(snapshot) = snapshot else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached("SELECT data FROM chunks WHERE doc_id = ?1 ORDER BY seq")?;
    let chunks = stmt.query_map([doc_id], |row| row.get(0))?.collect::<Result<Vec<Vec<u8>>, _>>()?;
    Ok(Some(Stored { snapshot, chunks }))
}

/// The record document to edit: the cached replica when it is exactly what the database
/// holds (same heads), else loaded from the database.
pub(crate) fn checked_out(
    tx: &rusqlite::Connection,
    doc_id: &str,
    cached: Option<RecordDoc>,
) -> Result<Option<RecordDoc>> {
    let stored_heads: Option<String> =
        tx.query_row("SELECT heads FROM documents WHERE doc_id = ?1", [doc_id], |row| row.get(0)).optional()?;
    let Some(stored_heads) = stored_heads else {
        return Ok(None);
    };
    if let Some(mut doc) = cached
        && heads_text(&doc.heads()) == stored_heads
    {
        return Ok(Some(doc));
    }
    let Some(stored) = load_stored(tx, doc_id)? else {
        return Ok(None);
    };
    Ok(Some(RecordDoc::load_parts(&stored.snapshot, stored.chunks.iter().map(Vec::as_slice))?))
}

/// A few recently edited documents kept in memory, so that saving every keystroke does not
/// reload the document. An entry is used only when its heads equal the stored heads, so
/// another process writing the same database is always noticed; a failed write drops it.
#[derive(Debug, Default)]
pub(crate) struct DocCache {
    entries: Vec<(String, RecordDoc)>,
}

impl DocCache {
    const CAPACITY: usize = 16;

    pub(crate) fn take(&mut self, doc_id: &str) -> Option<RecordDoc> {
        let index = self.entries.iter().position(|(id, _)| id == doc_id)?;
        Some(self.entries.remove(index).1)
    }

    pub(crate) fn put(&mut self, doc_id: String, doc: RecordDoc) {
        self.entries.retain(|(id, _)| *id != doc_id);
        if self.entries.len() >= Self::CAPACITY {
            self.entries.remove(0);
        }
        self.entries.push((doc_id, doc));
    }
}

pub(crate) fn heads_text(heads: &[ChangeHash]) -> String {
    let mut hex: Vec<String> = heads.iter().map(ToString::to_string).collect();
    hex.sort();
    hex.join(",")
}

/// A document the store can persist.
pub(crate) trait Persist {
    fn heads(&mut self) -> Vec<ChangeHash>;
    fn save(&mut self) -> Vec<u8>;
    fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8>;
}

impl Persist for RecordDoc {
    fn heads(&mut self) -> Vec<ChangeHash> {
        RecordDoc::heads(self)
    }
    fn save(&mut self) -> Vec<u8> {
        RecordDoc::save(self)
    }
    fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        RecordDoc::save_after(self, heads)
    }
}

impl Persist for ProtectedDoc {
    fn heads(&mut self) -> Vec<ChangeHash> {
        ProtectedDoc::heads(self)
    }
    fn save(&mut self) -> Vec<u8> {
        ProtectedDoc::save(self)
    }
    fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        ProtectedDoc::save_after(self, heads)
    }
}

fn len_i64(bytes: &[u8]) -> i64 {
    i64::try_from(bytes.len()).unwrap_or(i64::MAX)
}

/// Writes a document's new state: a new document as a snapshot, an existing one as one
/// more chunk (compacting when the chunks have grown).
pub(crate) fn persist(
    tx: &Transaction<'_>,
    record: RecordId,
    part: Part,
    doc: &mut impl Persist,
    before: Option<&[ChangeHash]>,
) -> Result<()> {
    let doc_id = part.doc_id(record);
    let heads = heads_text(&doc.heads());
    let Some(before) = before else {
        let snapshot = doc.save();
        tx.execute(
            "INSERT INTO documents (doc_id, record_id, part, snapshot, snapshot_bytes, heads) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![doc_id, record.to_string(), part.code(), snapshot, len_i64(&snapshot), heads],
        )?;
        return Ok(());
    };
    let (chunk_count, chunk_bytes, snapshot_bytes, next_chunk): (i64, i64, i64, i64) = tx.query_row(
        "SELECT chunk_count, chunk_bytes, snapshot_bytes, next_chunk FROM documents WHERE doc_id = ?1",
        [&doc_id],
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
    )?;
    let chunk = doc.save_after(before);
    let grown = chunk_bytes + len_i64(&chunk);
    if chunk_count + 1 > MAX_CHUNKS || grown > snapshot_bytes.max(MIN_COMPACT_BYTES) {
        let snapshot = doc.save();
        tx.execute("DELETE FROM chunks WHERE doc_id = ?1", [&doc_id])?;
        tx.execute(
            "UPDATE documents SET snapshot = ?2, snapshot_bytes = ?3, chunk_count = 0, chunk_bytes = 0, heads = ?4
             WHERE doc_id = ?1",
            params![doc_id, snapshot, len_i64(&snapshot), heads],
        )?;
    } else {
        tx.execute("INSERT INTO chunks (doc_id, seq, data) VALUES (?1, ?2, ?3)", params![doc_id, next_chunk, chunk])?;
        tx.execute(
            "UPDATE documents SET chunk_count = chunk_count + 1, chunk_bytes = ?2, next_chunk = ?3, heads = ?4
             WHERE doc_id = ?1",
            params![doc_id, grown, next_chunk + 1, heads],
        )?;
    }
    Ok(())
}

pub(crate) fn mark_outbox(tx: &Transaction<'_>, doc_id: &str, now_ms: i64) -> Result<()> {
    // A new edit gives a refused document another chance: the person may have fixed it.
    tx.execute(
        "INSERT INTO outbox (doc_id, first_changed_at, last_changed_at, changes) VALUES (?1, ?2, ?2, 1)
         ON CONFLICT (doc_id) DO UPDATE SET last_changed_at = excluded.last_changed_at, changes = changes + 1,
             refused_code = NULL, refused_message = NULL",
        params![doc_id, now_ms],
    )?;
    Ok(())
}

impl Store {
    fn write_tx(&mut self) -> Result<Transaction<'_>> {
        Ok(self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// Creates a record, with optional first edits in the same change set, as one transaction.
    pub fn create_record(&mut self, new: &NewRecord, edits: &[Edit], now_ms: i64) -> Result<RecordId> {
        let ctx = self.edit_context(now_ms);
        let mut doc = RecordDoc::create(new, &ctx)?;
        if !edits.is_empty() {
            doc.apply(edits, &ctx)?;
        }
        let tx = self.write_tx()?;
        persist(&tx, new.id, Part::Record, &mut doc, None)?;
        index::upsert(&tx, &doc.projection())?;
        mark_outbox(&tx, &Part::Record.doc_id(new.id), now_ms)?;
        tx.commit()?;
        Ok(new.id)
    }

    /// Loads a record's document.
    pub fn record(&self, id: RecordId) -> Result<RecordDoc> {
        let stored = load_stored(&self.conn, &Part::Record.doc_id(id))?
            .ok_or_else(|| StoreError::RecordNotFound { id: id.to_string() })?;
        let doc = RecordDoc::load_parts(&stored.snapshot, stored.chunks.iter().map(Vec::as_slice))?;
        if doc.id() != id {
            return Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: format!("the document stored as {id} holds record {}", doc.id()),
            });
        }
        Ok(doc)
    }

    /// A record's document to read, taken from the documents kept in memory when it is
    /// exactly what the database holds (so reading the record being typed into does not
    /// decode it again); give it back with [`Store::check_in`]. Not handing it back only
    /// costs a reload next time.
    pub fn check_out(&mut self, id: RecordId) -> Result<RecordDoc> {
        let doc_id = Part::Record.doc_id(id);
        let cached = self.cache.take(&doc_id);
        let doc = checked_out(&self.conn, &doc_id, cached)?
            .ok_or_else(|| StoreError::RecordNotFound { id: id.to_string() })?;
        if doc.id() != id {
            return Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: format!("the document stored as {id} holds record {}", doc.id()),
            });
        }
        Ok(doc)
    }

    /// Keeps a document from [`Store::check_out`] in memory for the next read or edit. It
    /// is used again only while its heads are the stored heads.
    pub fn check_in(&mut self, doc: RecordDoc) {
        self.cache.put(Part::Record.doc_id(doc.id()), doc);
    }

    /// The records on this device that cite `id` as a source, oldest first.
    pub fn cited_by(&self, id: RecordId) -> Result<Vec<RecordId>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.record_id FROM citations c JOIN records r ON r.record_id = c.record_id
             WHERE c.source_id = ?1 ORDER BY r.created_at, c.record_id",
        )?;
        let ids: Vec<String> = stmt.query_map([id.to_string()], |row| row.get(0))?.collect::<Result<_, _>>()?;
        Ok(ids.into_iter().filter_map(|id| id.parse().ok()).collect())
    }

    /// A record's row in the index (its title, kind and status without loading it), if it
    /// is on the device and not withdrawn.
    pub fn row(&self, id: RecordId) -> Result<Option<xuncha_domain::Projection>> {
        let sql = format!("SELECT {} FROM records WHERE record_id = ?1", crate::index::COLUMNS_FOR_VERIFY);
        Ok(self.conn.query_row(&sql, [id.to_string()], crate::index::from_row).optional()?)
    }

    /// Whether a record is on the device.
    pub fn has_record(&self, id: RecordId) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT 1 FROM documents WHERE doc_id = ?1", [Part::Record.doc_id(id)], |_| Ok(()))
            .optional()?
            .is_some())
    }

    /// Applies `edits` to a record as one change and one transaction. Returns the change,
    /// or `None` if the edits changed nothing. When this returns, the edit is on disk.
    pub fn edit(&mut self, id: RecordId, edits: &[Edit], now_ms: i64) -> Result<Option<ChangeHash>> {
        self.edit_with_attachments(id, edits, &[], now_ms)
    }

    /// Like [`Store::edit`], also storing `files` and adding a reference to each: the bytes,
    /// the references and the other edits land together or not at all.
    pub fn edit_with_attachments(
        &mut self,
        id: RecordId,
        edits: &[Edit],
        files: &[NewAttachment],
        now_ms: i64,
    ) -> Result<Option<ChangeHash>> {
        let mut all: Vec<Edit> = edits.to_vec();
        all.extend(files.iter().map(|file| Edit::AddAttachment { attachment: file.reference() }));
        self.edit_with_files(id, &all, files, now_ms)
    }

    /// Like [`Store::edit`], also storing `files` that the edits refer to in their own
    /// way (a progress entry's 佐证材料, a signature's picture): the bytes and the edits
    /// land together or not at all.
    pub fn edit_with_files(
        &mut self,
        id: RecordId,
        edits: &[Edit],
        files: &[NewAttachment],
        now_ms: i64,
    ) -> Result<Option<ChangeHash>> {
        let ctx = self.edit_context(now_ms);
        let doc_id = Part::Record.doc_id(id);
        let all = edits;
        let hashes: Vec<String> = files.iter().map(|f| sha256_hex(&f.bytes)).collect();
        let cached = self.cache.take(&doc_id);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut doc =
            checked_out(&tx, &doc_id, cached)?.ok_or_else(|| StoreError::RecordNotFound { id: id.to_string() })?;
        let before = doc.heads();
        let Some(change) = doc.apply(all, &ctx)? else {
            drop(tx);
            self.cache.put(doc_id, doc);
            return Ok(None);
        };
        for (file, sha256) in files.iter().zip(&hashes) {
            insert_blob(&tx, sha256, &file.bytes, &file.mime, now_ms)?;
        }
        persist(&tx, id, Part::Record, &mut doc, Some(&before))?;
        index::upsert(&tx, &doc.projection())?;
        mark_outbox(&tx, &doc_id, now_ms)?;
        tx.commit()?;
        self.cache.put(doc_id, doc);
        Ok(Some(change))
    }

    /// Merges changes of a record made elsewhere (another device, a sync response, an
    /// import): a whole saved document for a record new to this device, or incremental
    /// changes for one it has. Returns how many changes were new. One transaction.
    pub fn merge_record(&mut self, id: RecordId, bytes: &[u8]) -> Result<usize> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let stored = load_stored(&tx, &Part::Record.doc_id(id))?;
        let (mut doc, before, applied) = match stored {
            Some(stored) => {
                let mut doc = RecordDoc::load_parts(&stored.snapshot, stored.chunks.iter().map(Vec::as_slice))?;
                let before = doc.heads();
                let applied = doc.load_changes(bytes)?;
                (doc, Some(before), applied)
            }
            None => {
                let mut doc = RecordDoc::load(bytes)?;
                let applied = doc.heads().len();
                (doc, None, applied)
            }
        };
        if doc.id() != id {
            return Err(xuncha_domain::DomainError::NotARecord {
                reason: format!("the changes are for record {}, not {id}", doc.id()),
            }
            .into());
        }
        if before.as_deref() == Some(doc.heads().as_slice()) {
            return Ok(0);
        }
        persist(&tx, id, Part::Record, &mut doc, before.as_deref())?;
        index::upsert(&tx, &doc.projection())?;
        tx.commit()?;
        Ok(applied)
    }

    /// The changes of a record since `heads` (all of it for no heads), for another device.
    pub fn record_changes(&self, id: RecordId, heads: &[ChangeHash]) -> Result<Vec<u8>> {
        let mut doc = self.record(id)?;
        Ok(if heads.is_empty() { doc.save() } else { doc.save_after(heads) })
    }

    /// Sets (or clears) fields of the informant of a gang clue, in one transaction. The
    /// informant lives in the record's protected companion document.
    pub fn set_informant(
        &mut self,
        id: RecordId,
        fields: &[(InformantField, Option<&str>)],
        now_ms: i64,
    ) -> Result<()> {
        let record = self.record(id)?;
        if !record.kind().has_protected_person() {
            return Err(xuncha_domain::DomainError::FieldNotInKind {
                field: "informant".into(),
                kind: record.kind().code().into(),
            }
            .into());
        }
        let ctx = self.edit_context(now_ms);
        let doc_id = Part::Protected.doc_id(id);
        let sealer = self.sealer()?;
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (mut doc, before) = match load_stored(&tx, &doc_id)? {
            Some(stored) => {
                let mut doc = ProtectedDoc::load_parts(&stored.snapshot, stored.chunks.iter().map(Vec::as_slice))?;
                let heads = doc.heads();
                (doc, Some(heads))
            }
            None => (ProtectedDoc::create(id, &ctx)?, None),
        };
        // Each value is sealed to the district's protected-data key and to this device's
        // own: the server and every other device hold only ciphertext. An unchanged value
        // is not sealed again (a new ciphertext would be a change).
        let current = open_informant(&sealer, doc.informant());
        let mut changed = before.is_none();
        for (field, value) in fields {
            let value = value.filter(|v| !v.is_empty());
            if value == Some(current.get(*field)).filter(|v| !v.is_empty()) && !current.sealed.contains(field) {
                continue;
            }
            let sealed = value.map(|v| sealer.seal(v)).transpose()?;
            changed |= doc.set_informant(*field, sealed.as_deref(), &ctx)?.is_some();
        }
        if !changed {
            return Ok(());
        }
        persist(&tx, id, Part::Protected, &mut doc, before.as_deref())?;
        mark_outbox(&tx, &doc_id, now_ms)?;
        tx.commit()?;
        Ok(())
    }

    /// The informant of a gang clue, if recorded on this device.
    pub fn informant(&self, id: RecordId) -> Result<Option<Informant>> {
        let Some(stored) = load_stored(&self.conn, &Part::Protected.doc_id(id))? else {
            return Ok(None);
        };
        let doc = ProtectedDoc::load_parts(&stored.snapshot, stored.chunks.iter().map(Vec::as_slice))?;
        Ok(Some(open_informant(&self.sealer()?, doc.informant())))
    }

    /// A record's protected companion document as stored (its values sealed), if this
    /// device holds it: for archiving it whole (`xuncha export --format automerge`).
    pub fn protected_doc(&self, id: RecordId) -> Result<Option<ProtectedDoc>> {
        let Some(stored) = load_stored(&self.conn, &Part::Protected.doc_id(id))? else {
            return Ok(None);
        };
        Ok(Some(ProtectedDoc::load_parts(&stored.snapshot, stored.chunks.iter().map(Vec::as_slice))?))
    }

    /// How many documents have changes waiting to be sent.
    pub fn outbox_len(&self) -> Result<i64> {
        Ok(self.conn.query_row("SELECT count(*) FROM outbox", [], |row| row.get(0))?)
    }

    /// The ids of every record on the device, oldest first.
    pub fn record_ids(&self) -> Result<Vec<RecordId>> {
        let mut stmt = self.conn.prepare("SELECT doc_id FROM documents WHERE part = 'record' ORDER BY doc_id")?;
        let ids = stmt.query_map([], |row| row.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        ids.iter().map(|id| id.parse().map_err(StoreError::from)).collect()
    }

    pub(crate) fn stored_parts(&self, doc_id: &str) -> Result<Option<Stored>> {
        load_stored(&self.conn, doc_id)
    }

    /// Creates several records, each made at its own time, in one transaction: all of
    /// them land or none does.
    pub fn create_records(&mut self, records: &[(NewRecord, Vec<Edit>, i64)]) -> Result<()> {
        let contexts: Vec<_> = records.iter().map(|(_, _, now)| self.edit_context(*now)).collect();
        let tx = self.write_tx()?;
        for ((new, edits, now), ctx) in records.iter().zip(&contexts) {
            let mut doc = RecordDoc::create(new, ctx)?;
            if !edits.is_empty() {
                doc.apply(edits, ctx)?;
            }
            persist(&tx, new.id, Part::Record, &mut doc, None)?;
            index::upsert(&tx, &doc.projection())?;
            mark_outbox(&tx, &Part::Record.doc_id(new.id), *now)?;
        }
        tx.commit()?;
        Ok(())
    }
}

/// The informant as this device may read it: each sealed value opened with the device's
/// own key or the district's; one it cannot open is left empty and named in `sealed`.
fn open_informant(sealer: &crate::keys::Sealer, stored: Informant) -> Informant {
    let mut informant = Informant::default();
    for field in InformantField::ALL {
        match sealer.open(stored.get(*field)) {
            crate::keys::Opened::Text(text) => *informant.get_mut(*field) = text,
            crate::keys::Opened::Sealed => informant.sealed.push(*field),
        }
    }
    informant
}
