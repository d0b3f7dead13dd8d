//! What is new to the user: a workflow step someone else took on a record they made or took
//! a step on themselves (a 退回补充, a sign-off, an approval, a hand-over: a 副组长 hears
//! when the 组长 returns a record they signed) that they have not looked at on this device.
//! Opening the record marks its latest step seen. Device-only: nothing here syncs.

use std::collections::BTreeSet;

use rusqlite::params;
use xuncha_domain::RecordId;

use crate::Store;
use crate::error::Result;

/// The records `?1` made or took a step on, with a later step by someone else that `?1`
/// has not seen.
const NEWS: &str = "SELECT r.record_id FROM records r LEFT JOIN record_seen s ON s.record_id = r.record_id
     WHERE r.last_step <> '' AND r.last_step_by <> ?1
       AND (s.step IS NULL OR s.step <> r.last_step)
       AND (r.creator = ?1 OR EXISTS (SELECT 1 FROM record_actors a WHERE a.record_id = r.record_id AND a.user_id = ?1))";

impl Store {
    /// The records the user made or took a step on, with a step by someone else they have not seen.
    pub fn news(&self, user: &str) -> Result<BTreeSet<RecordId>> {
        let mut stmt = self.conn.prepare_cached(NEWS)?;
        let ids = stmt.query_map([user], |row| row.get::<_, String>(0))?;
        let mut out = BTreeSet::new();
        for id in ids {
            if let Ok(id) = id?.parse() {
                out.insert(id);
            }
        }
        Ok(out)
    }

    /// Marks the record's latest step seen (the user opened it). Returns whether that
    /// changed anything.
    pub fn mark_seen(&mut self, id: RecordId) -> Result<bool> {
        let changed = self.conn.execute(
            "INSERT INTO record_seen (record_id, step)
             SELECT record_id, last_step FROM records WHERE record_id = ?1 AND last_step <> ''
             ON CONFLICT (record_id) DO UPDATE SET step = excluded.step WHERE step <> excluded.step",
            params![id.to_string()],
        )?;
        Ok(changed > 0)
    }
}
