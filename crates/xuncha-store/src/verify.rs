//! Integrity verification of a device database: SQLite's own check, every document loads
//! and matches its stored heads, every record's index row and search entry match what its
//! document says (a withdrawn draft has neither), every attachment matches its hash.

use rusqlite::OptionalExtension;
use serde::Serialize;
use xuncha_domain::{ProtectedDoc, RecordDoc};

use crate::Store;
use crate::error::Result;

/// What `verify` checked and what it found wrong.
#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub documents: u64,
    pub records: u64,
    pub attachments: u64,
    /// Every problem found; empty when the database is sound.
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

impl Store {
    /// Checks the whole database. `progress` is called after each document with
    /// (done, total).
    pub fn verify(&self, mut progress: impl FnMut(u64, u64)) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        for line in stmt.query_map([], |row| row.get::<_, String>(0))? {
            let line = line?;
            if line != "ok" {
                report.problems.push(format!("sqlite integrity_check: {line}"));
            }
        }
        if let Err(error) = self.conn.execute("INSERT INTO records_fts (records_fts) VALUES ('integrity-check')", []) {
            report.problems.push(format!("search index: {error}"));
        }
        let mut stmt = self.conn.prepare("SELECT doc_id, record_id, part, heads FROM documents ORDER BY doc_id")?;
        let docs = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let total = u64::try_from(docs.len()).unwrap_or(0);
        for (done, (doc_id, record_id, part, stored_heads)) in docs.into_iter().enumerate() {
            report.documents += 1;
            self.verify_document(&doc_id, &record_id, &part, &stored_heads, &mut report)?;
            progress(u64::try_from(done + 1).unwrap_or(0), total);
        }
        let orphans: i64 = self.conn.query_row(
            "SELECT count(*) FROM records r WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.doc_id = r.record_id)",
            [],
            |row| row.get(0),
        )?;
        if orphans > 0 {
            report.problems.push(format!("{orphans} index rows have no document"));
        }
        for info in self.attachments()? {
            report.attachments += 1;
            match self.attachment(&info.sha256) {
                Ok(bytes) if u64::try_from(bytes.len()).unwrap_or(0) == info.size => {}
                Ok(bytes) => report.problems.push(format!(
                    "attachment {}: {} bytes, expected {}",
                    info.sha256,
                    bytes.len(),
                    info.size
                )),
                Err(error) => report.problems.push(format!("attachment {}: {error}", info.sha256)),
            }
        }
        Ok(report)
    }

    fn verify_document(
        &self,
        doc_id: &str,
        record_id: &str,
        part: &str,
        stored_heads: &str,
        report: &mut VerifyReport,
    ) -> Result<()> {
        let Some(stored) = self.stored_parts(doc_id)? else {
            return Ok(());
        };
        let snapshot = &stored.snapshot;
        let chunks = stored.chunks.iter().map(Vec::as_slice);
        let heads = if part == "protected" {
            match ProtectedDoc::load_parts(snapshot, chunks) {
                Ok(mut doc) => {
                    if doc.record_id().to_string() != record_id {
                        report.problems.push(format!("{doc_id}: belongs to record {}", doc.record_id()));
                    }
                    doc.heads()
                }
                Err(error) => {
                    report.problems.push(format!("{doc_id}: {error}"));
                    return Ok(());
                }
            }
        } else {
            report.records += 1;
            let mut doc = match RecordDoc::load_parts(snapshot, chunks) {
                Ok(doc) => doc,
                Err(error) => {
                    report.problems.push(format!("{doc_id}: {error}"));
                    return Ok(());
                }
            };
            if doc.id().to_string() != record_id {
                report.problems.push(format!("{doc_id}: holds record {}", doc.id()));
            }
            let expected = doc.projection();
            let expected_row = xuncha_domain::Projection {
                search_text: String::new(),
                sources: Vec::new(),
                actors: Vec::new(),
                ..expected.clone()
            };
            let row = self
                .conn
                .query_row(
                    &format!("SELECT {} FROM records WHERE record_id = ?1", crate::index::COLUMNS_FOR_VERIFY),
                    [record_id],
                    crate::index::from_row,
                )
                .optional()?;
            match row {
                None if expected.withdrawn => {}
                Some(_) if expected.withdrawn => {
                    report.problems.push(format!("{doc_id}: withdrawn, yet still has an index row"))
                }
                None => report.problems.push(format!("{doc_id}: no index row")),
                Some(row) if row != expected_row => {
                    report.problems.push(format!("{doc_id}: index row differs from the document"))
                }
                Some(_) => {}
            }
            let indexed: Option<String> = self
                .conn
                .query_row(
                    "SELECT f.search_text FROM records_fts f JOIN records r ON r.rid = f.rowid WHERE r.record_id = ?1",
                    [record_id],
                    |row| row.get(0),
                )
                .optional()?;
            let wanted = (!expected.withdrawn).then(|| crate::text::index_text(&expected.search_text));
            if indexed != wanted {
                report.problems.push(format!("{doc_id}: search entry missing or stale"));
            }
            doc.heads()
        };
        let mut hex: Vec<String> = heads.iter().map(ToString::to_string).collect();
        hex.sort();
        if hex.join(",") != stored_heads {
            report.problems.push(format!("{doc_id}: stored heads differ from the document's"));
        }
        Ok(())
    }
}
