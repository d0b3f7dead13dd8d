//! The reference data the server sent this device (divisions, rounds, teams, household
//! rosters with masked numbers), kept in the encrypted database for pickers: replaced
//! whole, in the sync answer's transaction, whenever the server's differs.

use rusqlite::{OptionalExtension, Transaction, params};
use xuncha_domain::{DeviceEntry, DivisionEntry, Person, Reference, Roster, RosterHousehold, Round, Team, Yuan};

use crate::Store;
use crate::error::{Result, StoreError};

/// The sync-state key of the tag of the reference data held.
const TAG: &str = "reference_tag";

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> rusqlite::Result<T> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

/// Replaces the reference data and its tag, inside the caller's transaction.
pub(crate) fn replace(tx: &Transaction<'_>, tag: &[u8], data: &Reference) -> Result<()> {
    tx.execute_batch(
        "DELETE FROM ref_households; DELETE FROM ref_rosters; DELETE FROM ref_teams;
         DELETE FROM ref_rounds; DELETE FROM ref_divisions; DELETE FROM ref_people; DELETE FROM ref_devices;",
    )?;
    {
        let mut insert = tx.prepare("INSERT INTO ref_divisions (code, name, parent) VALUES (?1, ?2, ?3)")?;
        for d in &data.divisions {
            insert.execute(params![d.code, d.name, d.parent])?;
        }
        let mut insert =
            tx.prepare("INSERT INTO ref_rounds (id, name, start, end, units) VALUES (?1, ?2, ?3, ?4, ?5)")?;
        for r in &data.rounds {
            insert.execute(params![r.id, r.name, r.start, r.end, json(&r.units)])?;
        }
        let mut insert = tx.prepare(
            "INSERT INTO ref_teams (id, name, round_id, lead, deputies, members, places, units)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for t in &data.teams {
            insert.execute(params![
                t.id,
                t.name,
                t.round,
                t.lead,
                json(&t.deputies),
                json(&t.members),
                json(&t.places),
                json(&t.units)
            ])?;
        }
        let mut insert = tx.prepare("INSERT INTO ref_people (id, name) VALUES (?1, ?2)")?;
        for p in &data.people {
            insert.execute(params![p.id, p.name])?;
        }
        let mut insert = tx.prepare("INSERT INTO ref_devices (id, name, user_id) VALUES (?1, ?2, ?3)")?;
        for d in &data.devices {
            insert.execute(params![d.id, d.name, d.user])?;
        }
        let mut roster =
            tx.prepare("INSERT INTO ref_rosters (id, village, fund, imported_at) VALUES (?1, ?2, ?3, ?4)")?;
        let mut household = tx.prepare(
            "INSERT INTO ref_households (roster_id, seq, head, id_number, account, entitled_fen, paid_on, group_name, phone)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for r in &data.rosters {
            roster.execute(params![r.id, r.village, r.fund, r.imported_at_ms])?;
            for (seq, h) in r.households.iter().enumerate() {
                // Masked again here: whatever a server sends, full numbers never rest on a tablet.
                let h = h.masked();
                household.execute(params![
                    r.id,
                    i64::try_from(seq).unwrap_or(i64::MAX),
                    h.head,
                    h.id_number,
                    h.account,
                    h.entitled.fen(),
                    h.paid_on,
                    h.group,
                    h.phone
                ])?;
            }
        }
    }
    crate::set_value(tx, TAG, &hex::encode(tag))?;
    Ok(())
}

fn division_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<DivisionEntry> {
    Ok(DivisionEntry { code: row.get(0)?, name: row.get(1)?, parent: row.get(2)? })
}

fn household_from(row: &rusqlite::Row<'_>) -> rusqlite::Result<RosterHousehold> {
    Ok(RosterHousehold {
        head: row.get(0)?,
        id_number: row.get(1)?,
        account: row.get(2)?,
        entitled: Yuan::from_fen(row.get(3)?),
        paid_on: row.get(4)?,
        group: row.get(5)?,
        phone: row.get(6)?,
    })
}

const HOUSEHOLD_COLUMNS: &str = "head, id_number, account, entitled_fen, paid_on, group_name, phone";

impl Store {
    /// The tag of the reference data this device holds (empty before the first).
    pub fn reference_tag(&self) -> Result<Vec<u8>> {
        Ok(self.sync_value(TAG)?.and_then(|hex| hex::decode(hex).ok()).unwrap_or_default())
    }

    /// A division by code.
    pub fn division(&self, code: &str) -> Result<Option<DivisionEntry>> {
        Ok(self
            .conn
            .query_row("SELECT code, name, parent FROM ref_divisions WHERE code = ?1", [code], division_from)
            .optional()?)
    }

    /// The divisions directly under `parent` (or every one without a parent known here),
    /// by name: the township → village cascade of the pickers.
    pub fn divisions_under(&self, parent: Option<&str>) -> Result<Vec<DivisionEntry>> {
        let mut stmt = match parent {
            Some(_) => self
                .conn
                .prepare_cached("SELECT code, name, parent FROM ref_divisions WHERE parent = ?1 ORDER BY name, code")?,
            None => self.conn.prepare_cached(
                "SELECT code, name, parent FROM ref_divisions d
                 WHERE NOT EXISTS (SELECT 1 FROM ref_divisions p WHERE p.code = d.parent) ORDER BY code",
            )?,
        };
        let rows = match parent {
            Some(parent) => stmt.query_map([parent], division_from)?.collect::<Result<Vec<_>, _>>()?,
            None => stmt.query_map([], division_from)?.collect::<Result<Vec<_>, _>>()?,
        };
        Ok(rows)
    }

    /// Divisions whose name is `name`, or whose code is `name`.
    pub fn divisions_named(&self, name: &str) -> Result<Vec<DivisionEntry>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT code, name, parent FROM ref_divisions WHERE name = ?1 OR code = ?1 ORDER BY code",
        )?;
        Ok(stmt.query_map([name.trim()], division_from)?.collect::<Result<Vec<_>, _>>()?)
    }

    /// Every division held.
    pub fn divisions(&self) -> Result<Vec<DivisionEntry>> {
        let mut stmt = self.conn.prepare_cached("SELECT code, name, parent FROM ref_divisions ORDER BY code")?;
        Ok(stmt.query_map([], division_from)?.collect::<Result<Vec<_>, _>>()?)
    }

    /// The rounds this device knows.
    pub fn rounds(&self) -> Result<Vec<Round>> {
        let mut stmt = self.conn.prepare_cached("SELECT id, name, start, end, units FROM ref_rounds ORDER BY start")?;
        let rows = stmt.query_map([], |row| {
            Ok(Round {
                id: row.get(0)?,
                name: row.get(1)?,
                start: row.get(2)?,
                end: row.get(3)?,
                units: from_json(&row.get::<_, String>(4)?)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The teams this device knows.
    pub fn teams(&self) -> Result<Vec<Team>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, name, round_id, lead, deputies, members, places, units FROM ref_teams ORDER BY round_id, name",
        )?;
        let rows = stmt.query_map([], |row| {
            Ok(Team {
                id: row.get(0)?,
                name: row.get(1)?,
                round: row.get(2)?,
                lead: row.get(3)?,
                deputies: from_json(&row.get::<_, String>(4)?)?,
                members: from_json(&row.get::<_, String>(5)?)?,
                places: from_json(&row.get::<_, String>(6)?)?,
                units: from_json(&row.get::<_, String>(7)?)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The rosters of a village (households included), by fund.
    pub fn rosters(&self, village: &str) -> Result<Vec<Roster>> {
        let heads: Vec<(String, String, String, i64)> = {
            let mut stmt = self.conn.prepare_cached(
                "SELECT id, village, fund, imported_at FROM ref_rosters WHERE village = ?1 ORDER BY fund",
            )?;
            stmt.query_map([village], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)))?
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut out = Vec::with_capacity(heads.len());
        for (id, village, fund, imported_at_ms) in heads {
            let mut stmt = self.conn.prepare_cached(&format!(
                "SELECT {HOUSEHOLD_COLUMNS} FROM ref_households WHERE roster_id = ?1 ORDER BY seq"
            ))?;
            let households = stmt.query_map([&id], household_from)?.collect::<Result<Vec<_>, _>>()?;
            out.push(Roster { id, village, fund, imported_at_ms, households });
        }
        Ok(out)
    }

    /// Households of a village's rosters whose head is named `head` (exactly), with the
    /// fund of the roster each comes from.
    pub fn roster_households_named(&self, village: &str, head: &str) -> Result<Vec<(String, RosterHousehold)>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT r.fund, {HOUSEHOLD_COLUMNS} FROM ref_households h JOIN ref_rosters r ON r.id = h.roster_id
             WHERE r.village = ?1 AND h.head = ?2 ORDER BY r.fund, h.seq"
        ))?;
        let rows = stmt.query_map(params![village, head.trim()], |row| {
            let fund: String = row.get(0)?;
            Ok((
                fund,
                RosterHousehold {
                    head: row.get(1)?,
                    id_number: row.get(2)?,
                    account: row.get(3)?,
                    entitled: Yuan::from_fen(row.get(4)?),
                    paid_on: row.get(5)?,
                    group: row.get(6)?,
                    phone: row.get(7)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Resolves what a person typed for a village (its name or code) through the reference
    /// data: exactly one village, or an error listing the candidates.
    pub fn resolve_village(&self, text: &str) -> Result<DivisionEntry> {
        let villages: Vec<DivisionEntry> = self
            .divisions_named(text)?
            .into_iter()
            .filter(|d| d.level() == Some(xuncha_domain::Level::Village))
            .collect();
        let mut found = villages.into_iter();
        match (found.next(), found.next()) {
            (Some(one), None) => Ok(one),
            (None, _) => Err(StoreError::UnknownDivision { input: text.to_owned(), candidates: self.similar(text)? }),
            (Some(first), Some(second)) => Err(StoreError::AmbiguousDivision {
                input: text.to_owned(),
                candidates: [first, second]
                    .iter()
                    .chain(found.as_slice())
                    .map(|v| self.describe(v))
                    .collect::<Result<Vec<_>>>()?
                    .join("、"),
            }),
        }
    }

    /// `name（code，township）` for error messages and pickers.
    fn describe(&self, division: &DivisionEntry) -> Result<String> {
        let parent = self.division(&division.parent)?.map(|p| p.name).unwrap_or_default();
        Ok(format!("{}（{}，{}）", division.name, division.code, parent))
    }

    /// Villages whose names contain `text`, for "did you mean".
    fn similar(&self, text: &str) -> Result<String> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT code, name, parent FROM ref_divisions WHERE instr(name, ?1) > 0 ORDER BY code LIMIT 10",
        )?;
        let mut found = stmt.query_map([text.trim()], division_from)?.collect::<Result<Vec<_>, _>>()?;
        // Nothing contains the whole name (a typo, a wrong character): names sharing one
        // of its characters, the suffixes every place name has aside.
        for c in text.trim().chars().filter(|c| !"村镇乡街道社区居委会".contains(*c)) {
            if found.len() >= 10 {
                break;
            }
            for division in stmt.query_map([c.to_string()], division_from)? {
                let division = division?;
                if found.len() < 10 && !found.iter().any(|f| f.code == division.code) {
                    found.push(division);
                }
            }
        }
        if found.is_empty() {
            return Ok("无 / none".to_owned());
        }
        Ok(found.iter().map(|v| self.describe(v)).collect::<Result<Vec<_>>>()?.join("、"))
    }

    /// The user directory held: who each user id is.
    pub fn people(&self) -> Result<Vec<Person>> {
        let mut stmt = self.conn.prepare_cached("SELECT id, name FROM ref_people ORDER BY id")?;
        let rows = stmt.query_map([], |row| Ok(Person { id: row.get(0)?, name: row.get(1)? }))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// The device directory held: which tablet each device id is, and whose.
    pub fn devices(&self) -> Result<Vec<DeviceEntry>> {
        let mut stmt = self.conn.prepare_cached("SELECT id, name, user_id FROM ref_devices ORDER BY id")?;
        let rows =
            stmt.query_map([], |row| Ok(DeviceEntry { id: row.get(0)?, name: row.get(1)?, user: row.get(2)? }))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Everything held, as the server sent it.
    pub fn reference(&self) -> Result<Reference> {
        let villages: Vec<String> = {
            let mut stmt = self.conn.prepare_cached("SELECT DISTINCT village FROM ref_rosters ORDER BY village")?;
            stmt.query_map([], |row| row.get(0))?.collect::<Result<Vec<_>, _>>()?
        };
        let mut rosters = Vec::new();
        for village in villages {
            rosters.extend(self.rosters(&village)?);
        }
        Ok(Reference {
            divisions: self.divisions()?,
            rounds: self.rounds()?,
            teams: self.teams()?,
            rosters,
            people: self.people()?,
            devices: self.devices()?,
        })
    }
}
