//! Record numbers (编号) as documents going upward print them: `{round}-{team}-{NNN}`.
//!
//! NNN is the record's 1-based ordinal, three digits zero-padded (a thousandth record gets
//! four), among the records of the same inspection round and team, ordered by creation
//! time and then id. A record without a round or team is numbered under "未定轮次" /
//! "未定组". Withdrawn drafts take no number (they have left lists, totals and exports).
//!
//! The number is a function of the set of records it is computed over: workbooks, archives
//! and reports number over every record the device holds, so one record has one number in
//! all of them. It is stable as long as no older record of the same round and team arrives
//! later (a colleague's record synced after newer ones were numbered shifts every number
//! after it): a known weakness, kept because numbers must not be stored in the documents
//! (two offline tablets would hand out the same one).

use std::collections::BTreeMap;

use crate::field::Field;
use crate::ids::RecordId;
use crate::projection::Projection;
use crate::record::Record;

/// The round of a record that has none.
pub const NO_ROUND: &str = "未定轮次";
/// The team of a record that has none.
pub const NO_TEAM: &str = "未定组";

/// What a record's number depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Numbered<'a> {
    pub id: RecordId,
    pub round: &'a str,
    pub team: &'a str,
    pub created_at_ms: i64,
}

impl<'a> Numbered<'a> {
    /// A record as numbering sees it; `None` for a withdrawn draft.
    pub fn of_record(record: &'a Record) -> Option<Numbered<'a>> {
        record.withdrawn.is_none().then(|| Numbered {
            id: record.id,
            round: record.text(Field::Round).unwrap_or_default(),
            team: record.text(Field::Team).unwrap_or_default(),
            created_at_ms: record.created_at_ms,
        })
    }

    /// A row of the index as numbering sees it (the same as its record): numbering a
    /// device's records needs no document loaded. `None` for a row whose id is malformed.
    pub fn of_row(row: &'a Projection) -> Option<Numbered<'a>> {
        (!row.withdrawn).then_some(())?;
        Some(Numbered {
            id: row.record_id.parse().ok()?,
            round: &row.round,
            team: &row.team,
            created_at_ms: row.created_at_ms,
        })
    }

    /// Where the record stands in number order: round, team, creation time, id.
    pub fn sort_key(&self) -> (&'a str, &'a str, i64, RecordId) {
        let (round, team) = self.group();
        (round, team, self.created_at_ms, self.id)
    }

    fn group(&self) -> (&'a str, &'a str) {
        let or = |text: &'a str, blank: &'static str| if text.trim().is_empty() { blank } else { text.trim() };
        (or(self.round, NO_ROUND), or(self.team, NO_TEAM))
    }
}

/// The number of every record in `records` (withdrawn drafts have none).
pub fn numbers(records: &[&Record]) -> BTreeMap<RecordId, String> {
    numbers_of(records.iter().filter_map(|r| Numbered::of_record(r)))
}

/// The number of every record in `records`, from what numbering depends on (a record
/// listed twice is numbered once).
pub fn numbers_of<'a>(records: impl IntoIterator<Item = Numbered<'a>>) -> BTreeMap<RecordId, String> {
    let mut groups: BTreeMap<(&str, &str), Vec<(i64, RecordId)>> = BTreeMap::new();
    for record in records {
        groups.entry(record.group()).or_default().push((record.created_at_ms, record.id));
    }
    let mut out = BTreeMap::new();
    for ((round, team), mut members) in groups {
        members.sort();
        members.dedup_by_key(|(_, id)| *id);
        for (ordinal, (_, id)) in members.into_iter().enumerate() {
            out.entry(id).or_insert_with(|| format!("{round}-{team}-{:03}", ordinal + 1));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> RecordId {
        RecordId::new(1_709_514_000_000, &[n; 10])
    }

    fn numbered(n: u8, round: &'static str, team: &'static str, at: i64) -> Numbered<'static> {
        Numbered { id: id(n), round, team, created_at_ms: at }
    }

    #[test]
    fn records_are_numbered_within_their_round_and_team_by_creation_time_then_id() {
        // (records, the number each expects by its id's seed)
        type Case<'a> = (&'a [Numbered<'static>], &'a [(u8, &'static str)]);
        let cases: &[Case<'_>] = &[
            (&[], &[]),
            (&[numbered(1, "2024年第一轮", "第一巡察组", 10)], &[(1, "2024年第一轮-第一巡察组-001")]),
            (
                // Out of order in the input; ordered by time.
                &[
                    numbered(1, "2024年第一轮", "第一巡察组", 30),
                    numbered(2, "2024年第一轮", "第一巡察组", 10),
                    numbered(3, "2024年第一轮", "第一巡察组", 20),
                ],
                &[
                    (2, "2024年第一轮-第一巡察组-001"),
                    (3, "2024年第一轮-第一巡察组-002"),
                    (1, "2024年第一轮-第一巡察组-003"),
                ],
            ),
            (
                // Each team and each round counts on its own.
                &[
                    numbered(1, "2024年第一轮", "第一巡察组", 10),
                    numbered(2, "2024年第一轮", "第二巡察组", 20),
                    numbered(3, "2024年第二轮", "第一巡察组", 30),
                    numbered(4, "2024年第一轮", "第一巡察组", 40),
                ],
                &[
                    (1, "2024年第一轮-第一巡察组-001"),
                    (2, "2024年第一轮-第二巡察组-001"),
                    (3, "2024年第二轮-第一巡察组-001"),
                    (4, "2024年第一轮-第一巡察组-002"),
                ],
            ),
            (
                // The same time: by id.
                &[numbered(9, "R", "T", 10), numbered(5, "R", "T", 10)],
                &[(5, "R-T-001"), (9, "R-T-002")],
            ),
            (
                // No round or team (blank counts as none); spaces around a name do not matter.
                &[
                    numbered(1, "", "", 10),
                    numbered(2, "  ", "第一巡察组", 20),
                    numbered(3, "2024年第一轮", "", 30),
                    numbered(4, " 2024年第一轮", "第一巡察组 ", 40),
                    numbered(5, "2024年第一轮", "第一巡察组", 50),
                ],
                &[
                    (1, "未定轮次-未定组-001"),
                    (2, "未定轮次-第一巡察组-001"),
                    (3, "2024年第一轮-未定组-001"),
                    (4, "2024年第一轮-第一巡察组-001"),
                    (5, "2024年第一轮-第一巡察组-002"),
                ],
            ),
            (
                // A record listed twice is numbered once.
                &[numbered(1, "R", "T", 10), numbered(1, "R", "T", 10), numbered(2, "R", "T", 20)],
                &[(1, "R-T-001"), (2, "R-T-002")],
            ),
        ];
        for (records, expected) in cases {
            let got = numbers_of(records.iter().copied());
            let expected: BTreeMap<RecordId, String> =
                expected.iter().map(|(n, s)| (id(*n), (*s).to_owned())).collect();
            assert_eq!(got, expected, "{records:?}");
        }
    }

    #[test]
    fn ordinals_past_999_keep_counting_and_an_older_arrival_shifts_the_later_numbers() {
        let many: Vec<Numbered<'static>> = (0..1000)
            .map(|n| Numbered { id: RecordId::new(n, &[0; 10]), round: "R", team: "T", created_at_ms: n })
            .collect();
        let got = numbers_of(many.iter().copied());
        assert_eq!(got[&many[0].id], "R-T-001");
        assert_eq!(got[&many[998].id], "R-T-999");
        assert_eq!(got[&many[999].id], "R-T-1000");

        // The documented weakness: a record created earlier that arrives later takes its
        // place in the order.
        let before = numbers_of([numbered(1, "R", "T", 20), numbered(2, "R", "T", 30)]);
        let after = numbers_of([numbered(1, "R", "T", 20), numbered(2, "R", "T", 30), numbered(3, "R", "T", 10)]);
        assert_eq!(before[&id(1)], "R-T-001");
        assert_eq!(after[&id(1)], "R-T-002");
        assert_eq!(after[&id(3)], "R-T-001");
    }

    #[test]
    fn a_record_and_its_index_row_get_the_same_number_and_withdrawn_drafts_none() {
        use crate::{NewRecord, RecordDoc, RecordKind};
        let ctx = crate::EditContext {
            author: crate::UserId::new("zhang.wei").unwrap(),
            device: crate::DeviceId::new("tablet-1").unwrap(),
            actor: automerge::ActorId::from([1u8; 16]),
            now_ms: 1_709_514_000_000,
        };
        let mut docs: Vec<RecordDoc> = (0..3u8)
            .map(|n| {
                let new = NewRecord {
                    id: id(n),
                    kind: RecordKind::FundCheck,
                    title: format!("记录{n}"),
                    round: "2024年第一轮".into(),
                    township: None,
                    village: None,
                    team: "第一巡察组".into(),
                };
                RecordDoc::create(&new, &crate::EditContext { now_ms: ctx.now_ms + i64::from(n), ..ctx.clone() })
                    .unwrap()
            })
            .collect();
        docs[1]
            .apply(&[crate::Edit::Withdraw], &crate::EditContext { now_ms: ctx.now_ms + 10, ..ctx.clone() })
            .unwrap();
        let records: Vec<Record> = docs.iter_mut().map(RecordDoc::read).collect();
        let by_record = numbers(&records.iter().collect::<Vec<_>>());
        let rows: Vec<Projection> = docs.iter_mut().map(RecordDoc::projection).collect();
        let by_row = numbers_of(rows.iter().filter_map(Numbered::of_row));
        assert_eq!(by_record, by_row);
        assert_eq!(by_record.len(), 2);
        assert_eq!(by_record[&id(0)], "2024年第一轮-第一巡察组-001");
        assert_eq!(by_record[&id(2)], "2024年第一轮-第一巡察组-002");
    }
}
