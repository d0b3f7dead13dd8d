//! Record numbers (编号) as documents going upward print them: `{round}-{team}-{NNN}`.
//!
//! The server hands numbers out (it is the one place that sees every record of a round):
//! NNN is the record's 1-based ordinal among the records of the same inspection round and
//! team, three digits zero-padded (a thousandth record gets four), given the first time the
//! server stores the record with a round, and never changed or reused after that. Devices
//! receive numbers with their sync and keep them; a record the server has not numbered yet
//! (made offline, or without a round) prints as [`provisional`] until it has one.
//!
//! Numbers must not be made on the devices: two offline tablets would hand out the same
//! one, and an older record arriving late would shift every number after it. The order
//! [`numbers_of`] computes (creation time, then id, within round and team) is the order the
//! server numbered the records it held before it handed numbers out (its migration), so
//! numbers printed by earlier versions stay what they were.

use std::collections::BTreeMap;

use crate::field::Field;
use crate::ids::RecordId;
use crate::projection::Projection;
use crate::record::Record;

/// The round of a record that has none.
pub const NO_ROUND: &str = "未定轮次";
/// The team of a record that has none.
pub const NO_TEAM: &str = "未定组";

/// What a provisional number starts with.
pub const PROVISIONAL: &str = "待编号";

/// A record's number as the server assigned it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Number {
    pub round: String,
    pub team: String,
    /// 1-based, within round and team.
    pub ordinal: u32,
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{:03}", self.round, self.team, self.ordinal)
    }
}

/// The group (round, team) a record is numbered in, once it can be: `None` while it has no
/// round (a draft may not have one yet) or is withdrawn. A record without a team counts
/// under [`NO_TEAM`]; spaces around names do not matter.
pub fn group_of(round: &str, team: &str, withdrawn: bool) -> Option<(String, String)> {
    let (round, team) = (round.trim(), team.trim());
    (!withdrawn && !round.is_empty())
        .then(|| (round.to_owned(), if team.is_empty() { NO_TEAM.to_owned() } else { team.to_owned() }))
}

/// What a record the server has not numbered yet shows where its number goes: unique on
/// the device (the end of its random id), and plainly not a number.
pub fn provisional(id: RecordId) -> String {
    let text = id.to_string();
    format!("{PROVISIONAL}-{}", &text[text.len().saturating_sub(8)..])
}

/// The number `numbers` holds for `id`, or its provisional one.
pub fn number_or_provisional(numbers: &BTreeMap<RecordId, String>, id: RecordId) -> String {
    numbers.get(&id).cloned().unwrap_or_else(|| provisional(id))
}

/// Ordinals for records that have none yet, in number order (round, team, creation time,
/// id), continuing after `taken` (the highest ordinal already given in each group). What
/// the server uses to number the records it held before it handed numbers out.
pub fn continue_numbering<'a>(
    records: impl IntoIterator<Item = Numbered<'a>>,
    taken: &BTreeMap<(String, String), u32>,
) -> Vec<(RecordId, Number)> {
    let mut members: Vec<(String, String, i64, RecordId)> = records
        .into_iter()
        .filter_map(|r| group_of(r.round, r.team, false).map(|(round, team)| (round, team, r.created_at_ms, r.id)))
        .collect();
    members.sort();
    members.dedup_by_key(|(_, _, _, id)| *id);
    let mut next: BTreeMap<(String, String), u32> = BTreeMap::new();
    members
        .into_iter()
        .map(|(round, team, _, id)| {
            let key = (round, team);
            let last = next.entry(key.clone()).or_insert_with(|| taken.get(&key).copied().unwrap_or(0));
            *last += 1;
            (id, Number { round: key.0, team: key.1, ordinal: *last })
        })
        .collect()
}

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
    fn the_servers_numbering_continues_each_group_and_leaves_records_without_a_round_out() {
        let records = [
            numbered(1, "R", "T", 30),
            numbered(2, "R", "T", 10),
            numbered(3, "R", "", 20),
            numbered(4, "  ", "T", 5),
            numbered(5, "R2", "T", 40),
            numbered(2, "R", "T", 10),
        ];
        let taken = BTreeMap::from([(("R".to_owned(), "T".to_owned()), 7)]);
        let got: Vec<(RecordId, String)> = continue_numbering(records.iter().copied(), &taken)
            .into_iter()
            .map(|(id, n)| (id, n.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                (id(2), "R-T-008".to_owned()),
                (id(1), "R-T-009".to_owned()),
                (id(3), format!("R-{NO_TEAM}-001")),
                (id(5), "R2-T-001".to_owned()),
            ]
        );
        // With nothing taken it numbers as earlier versions printed (for records with a round).
        let fresh: BTreeMap<RecordId, String> = continue_numbering(records.iter().copied(), &BTreeMap::new())
            .into_iter()
            .map(|(id, n)| (id, n.to_string()))
            .collect();
        let earlier = numbers_of(records.iter().copied().filter(|r| !r.round.trim().is_empty()));
        assert_eq!(fresh, earlier);

        assert_eq!(group_of(" R ", " ", false), Some(("R".to_owned(), NO_TEAM.to_owned())));
        assert_eq!(group_of("R", "T", true), None);
        assert_eq!(group_of(" ", "T", false), None);
    }

    #[test]
    fn a_provisional_number_is_unique_per_record_and_never_looks_like_a_number() {
        let (a, b) = (RecordId::new(1_709_514_000_000, &[1; 10]), RecordId::new(1_709_514_000_000, &[2; 10]));
        assert_ne!(provisional(a), provisional(b));
        assert!(provisional(a).starts_with(PROVISIONAL));
        let numbers = BTreeMap::from([(a, "R-T-001".to_owned())]);
        assert_eq!(number_or_provisional(&numbers, a), "R-T-001");
        assert_eq!(number_or_provisional(&numbers, b), provisional(b));
        assert_eq!(Number { round: "R".into(), team: "T".into(), ordinal: 1000 }.to_string(), "R-T-1000");
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
