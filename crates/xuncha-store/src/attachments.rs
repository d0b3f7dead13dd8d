//! Attachments (photos, scans, PDFs) stored by SHA-256 inside the encrypted database, in
//! chunks, so they are encrypted at rest like everything else and written transactionally.
//! The same bytes attached twice are stored once.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Store;
use crate::error::{Result, StoreError};

/// The size of one stored chunk.
const CHUNK: usize = 256 * 1024;

/// What the device holds of an attachment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AttachmentInfo {
    pub sha256: String,
    pub mime: String,
    pub size: u64,
    pub added_at_ms: i64,
}

/// The lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn info_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<AttachmentInfo> {
    Ok(AttachmentInfo {
        sha256: row.get(0)?,
        mime: row.get(1)?,
        size: u64::try_from(row.get::<_, i64>(2)?).unwrap_or(0),
        added_at_ms: row.get(3)?,
    })
}

/// A file to attach to a record, with what the record says about it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewAttachment {
    pub bytes: Vec<u8>,
    pub mime: String,
    pub caption: String,
    pub taken_at_ms: Option<i64>,
    pub gps: Option<xuncha_domain::GeoPoint>,
}

impl NewAttachment {
    /// The reference a record keeps to this file (by its SHA-256).
    pub fn reference(&self) -> xuncha_domain::AttachmentRef {
        xuncha_domain::AttachmentRef {
            sha256: sha256_hex(&self.bytes),
            mime: self.mime.clone(),
            size: u64::try_from(self.bytes.len()).unwrap_or(u64::MAX),
            caption: self.caption.clone(),
            taken_at_ms: self.taken_at_ms,
            gps: self.gps,
        }
    }
}

/// Writes an attachment's bytes inside the caller's transaction (once per content).
/// Returns whether they were new.
pub(crate) fn insert_blob(
    tx: &rusqlite::Transaction<'_>,
    sha256: &str,
    bytes: &[u8],
    mime: &str,
    now_ms: i64,
) -> Result<bool> {
    let exists =
        tx.query_row("SELECT 1 FROM attachments WHERE sha256 = ?1", [sha256], |_| Ok(())).optional()?.is_some();
    if exists {
        return Ok(false);
    }
    let size = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT INTO attachments (sha256, mime, size, added_at) VALUES (?1, ?2, ?3, ?4)",
        params![sha256, mime, size, now_ms],
    )?;
    let mut insert = tx.prepare_cached("INSERT INTO attachment_chunks (sha256, idx, data) VALUES (?1, ?2, ?3)")?;
    for (idx, chunk) in bytes.chunks(CHUNK).enumerate() {
        insert.execute(params![sha256, i64::try_from(idx).unwrap_or(i64::MAX), chunk])?;
    }
    Ok(true)
}

impl Store {
    /// Stores `bytes` and returns their SHA-256. Storing bytes already present is a no-op.
    pub fn put_attachment(&mut self, bytes: &[u8], mime: &str, now_ms: i64) -> Result<AttachmentInfo> {
        let sha256 = sha256_hex(bytes);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_blob(&tx, &sha256, bytes, mime, now_ms)?;
        tx.commit()?;
        self.attachment_info(&sha256)?.ok_or(StoreError::AttachmentNotFound { sha256 })
    }

    /// What the device holds of an attachment.
    pub fn attachment_info(&self, sha256: &str) -> Result<Option<AttachmentInfo>> {
        Ok(self
            .conn
            .query_row("SELECT sha256, mime, size, added_at FROM attachments WHERE sha256 = ?1", [sha256], info_from)
            .optional()?)
    }

    /// The bytes of an attachment, checked against their hash.
    pub fn attachment(&self, sha256: &str) -> Result<Vec<u8>> {
        let info = self
            .attachment_info(sha256)?
            .ok_or_else(|| StoreError::AttachmentNotFound { sha256: sha256.to_owned() })?;
        let mut stmt = self.conn.prepare_cached("SELECT data FROM attachment_chunks WHERE sha256 = ?1 ORDER BY idx")?;
        let mut bytes = Vec::with_capacity(usize::try_from(info.size).unwrap_or(0));
        for chunk in stmt.query_map([sha256], |row| row.get::<_, Vec<u8>>(0))? {
            bytes.extend_from_slice(&chunk?);
        }
        if sha256_hex(&bytes) != sha256 {
            return Err(StoreError::AttachmentMismatch { sha256: sha256.to_owned() });
        }
        Ok(bytes)
    }

    /// Every attachment on the device.
    pub fn attachments(&self) -> Result<Vec<AttachmentInfo>> {
        let mut stmt =
            self.conn.prepare("SELECT sha256, mime, size, added_at FROM attachments ORDER BY added_at, sha256")?;
        let rows = stmt.query_map([], info_from)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Attachments the server does not yet hold whole, oldest first.
    pub fn attachments_to_upload(&self) -> Result<Vec<AttachmentInfo>> {
        let mut stmt = self.conn.prepare(
            "SELECT sha256, mime, size, added_at FROM attachments WHERE uploaded = 0 ORDER BY added_at, sha256",
        )?;
        let rows = stmt.query_map([], info_from)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Up to `len` bytes of an attachment from `offset`, reading only the chunks needed.
    pub fn attachment_range(&self, sha256: &str, offset: u64, len: usize) -> Result<Vec<u8>> {
        let chunk = CHUNK as u64;
        let first = i64::try_from(offset / chunk).unwrap_or(i64::MAX);
        let last = i64::try_from((offset + len as u64).div_ceil(chunk)).unwrap_or(i64::MAX);
        let mut stmt = self.conn.prepare_cached(
            "SELECT idx, data FROM attachment_chunks WHERE sha256 = ?1 AND idx >= ?2 AND idx < ?3 ORDER BY idx",
        )?;
        let mut out = Vec::with_capacity(len);
        for row in
            stmt.query_map(params![sha256, first, last], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)))?
        {
            let (idx, data) = row?;
            let start = u64::try_from(idx).unwrap_or(0) * chunk;
            let skip = usize::try_from(offset.saturating_sub(start)).unwrap_or(0).min(data.len());
            out.extend_from_slice(&data[skip..]);
        }
        out.truncate(len);
        Ok(out)
    }

    /// Notes that the server holds an attachment whole.
    pub fn mark_attachment_uploaded(&mut self, sha256: &str) -> Result<()> {
        self.conn.execute("UPDATE attachments SET uploaded = 1 WHERE sha256 = ?1", [sha256])?;
        Ok(())
    }

    /// The thumbnail kept for an attachment at `side` px, if one was made.
    pub fn attachment_thumbnail(&self, sha256: &str, side: u32) -> Result<Option<Vec<u8>>> {
        Ok(self
            .conn
            .prepare_cached("SELECT jpeg FROM attachment_thumbs WHERE sha256 = ?1 AND side = ?2")?
            .query_row(params![sha256, side], |row| row.get(0))
            .optional()?)
    }

    /// Keeps a thumbnail made of an attachment on the device, in place of one of the same size.
    pub fn put_attachment_thumbnail(&mut self, sha256: &str, side: u32, jpeg: &[u8]) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if tx.query_row("SELECT 1 FROM attachments WHERE sha256 = ?1", [sha256], |_| Ok(())).optional()?.is_none() {
            return Err(StoreError::AttachmentNotFound { sha256: sha256.to_owned() });
        }
        tx.execute(
            "INSERT INTO attachment_thumbs (sha256, side, jpeg) VALUES (?1, ?2, ?3)
             ON CONFLICT (sha256, side) DO UPDATE SET jpeg = excluded.jpeg",
            params![sha256, side, jpeg],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Attachments the server does not hold yet and `peer` (a team relay) does not hold
    /// either, oldest first: what the relay should carry.
    pub fn attachments_for_peer(&self, peer: &str) -> Result<Vec<AttachmentInfo>> {
        let mut stmt = self.conn.prepare(
            "SELECT a.sha256, a.mime, a.size, a.added_at FROM attachments a
             WHERE a.uploaded = 0
               AND NOT EXISTS (SELECT 1 FROM peer_attachments p WHERE p.peer = ?1 AND p.sha256 = a.sha256)
             ORDER BY a.added_at, a.sha256",
        )?;
        let rows = stmt.query_map([peer], info_from)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Notes that `peer` holds an attachment whole.
    pub fn mark_attachment_held(&mut self, peer: &str, sha256: &str) -> Result<()> {
        mark_held(&self.conn, peer, sha256)
    }

    /// Stores an attachment that came from `peer` (a team relay), which therefore holds it.
    /// `carry` says whether this device takes it on to the server (the lead's device
    /// does, for its team; a member's leaves that to the lead, as with records).
    pub fn put_attachment_from_peer(
        &mut self,
        peer: &str,
        bytes: &[u8],
        mime: &str,
        carry: bool,
        now_ms: i64,
    ) -> Result<String> {
        let sha256 = sha256_hex(bytes);
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Bytes this device held already keep their own state.
        if insert_blob(&tx, &sha256, bytes, mime, now_ms)? && !carry {
            tx.execute("UPDATE attachments SET uploaded = 1 WHERE sha256 = ?1", [&sha256])?;
        }
        mark_held(&tx, peer, &sha256)?;
        tx.commit()?;
        Ok(sha256)
    }

    /// Stores an attachment fetched from the server (it holds it already).
    pub fn put_downloaded_attachment(&mut self, sha256: &str, bytes: &[u8], mime: &str, now_ms: i64) -> Result<()> {
        if sha256_hex(bytes) != sha256 {
            return Err(StoreError::AttachmentMismatch { sha256: sha256.to_owned() });
        }
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_blob(&tx, sha256, bytes, mime, now_ms)?;
        tx.execute("UPDATE attachments SET uploaded = 1 WHERE sha256 = ?1", [sha256])?;
        tx.commit()?;
        Ok(())
    }
}

fn mark_held(conn: &rusqlite::Connection, peer: &str, sha256: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO peer_attachments (peer, sha256) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![peer, sha256],
    )?;
    Ok(())
}
