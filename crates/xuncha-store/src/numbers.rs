//! Record numbers (编号) as the server gave them (`xuncha_domain::numbering`). The device
//! never makes one: it keeps what its syncs bring, asks for the numbers of records the
//! server holds that it has none of, and forgets the numbers of records it no longer holds.

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use xuncha_domain::RecordId;

use crate::error::Result;
use crate::{Part, Store};

/// Keeps the numbers a sync brought (a number never changes; a later one for the same
/// record replaces it all the same, the server being the authority), inside the sync's
/// transaction, and drops those of records that are gone.
pub(crate) fn keep(tx: &rusqlite::Transaction<'_>, numbers: &[(RecordId, String)]) -> Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO record_numbers (record_id, number) VALUES (?1, ?2)
         ON CONFLICT (record_id) DO UPDATE SET number = excluded.number",
    )?;
    for (record, number) in numbers {
        insert.execute(params![record.to_string(), number])?;
    }
    tx.execute("DELETE FROM record_numbers WHERE record_id NOT IN (SELECT record_id FROM documents)", [])?;
    Ok(())
}

impl Store {
    /// Every record number the device holds.
    pub fn record_numbers(&self) -> Result<BTreeMap<RecordId, String>> {
        let mut stmt = self.conn.prepare_cached("SELECT record_id, number FROM record_numbers")?;
        let rows = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))?;
        let mut numbers = BTreeMap::new();
        for row in rows {
            let (id, number) = row?;
            if let Ok(id) = id.parse() {
                numbers.insert(id, number);
            }
        }
        Ok(numbers)
    }

    /// The number of one record, if the server has given it one.
    pub fn record_number(&self, id: RecordId) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row("SELECT number FROM record_numbers WHERE record_id = ?1", [id.to_string()], |row| row.get(0))
            .optional()?)
    }

    /// Records (at most `limit`) the server holds (they were sent and acknowledged, or came
    /// from it) that should have a number by now (they have a round and are not withdrawn)
    /// and have none on the device: what a sync asks the server for.
    pub fn numbers_wanted(&self, limit: usize) -> Result<Vec<RecordId>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.record_id FROM records r
             JOIN documents d ON d.doc_id = r.record_id AND d.part = ?1
             WHERE d.synced_heads != '' AND trim(r.round) != ''
               AND NOT EXISTS (SELECT 1 FROM record_numbers n WHERE n.record_id = r.record_id)
             ORDER BY r.created_at, r.record_id LIMIT ?2",
        )?;
        let part = Part::Record.code();
        let ids =
            stmt.query_map(params![part, i64::try_from(limit).unwrap_or(i64::MAX)], |row| row.get::<_, String>(0))?;
        let mut wanted = Vec::new();
        for id in ids {
            if let Ok(id) = id?.parse() {
                wanted.push(id);
            }
        }
        Ok(wanted)
    }
}
