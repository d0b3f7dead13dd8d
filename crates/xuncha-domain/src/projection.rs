//! Projection of a record to one flat row: what lists, filters, search and district
//! totals read without loading documents.

use serde::Serialize;

use crate::codes::{FundIssue, Outcome};
use crate::doc::{ChangeAuthor, RecordDoc};
use crate::field::{Field, ItemField, ItemList, Value};
use crate::record::Record;

/// One flat row per record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Projection {
    pub record_id: String,
    pub kind: String,
    pub title: String,
    pub round: String,
    pub township_code: String,
    pub township_name: String,
    pub village_code: String,
    pub village_name: String,
    pub team: String,
    pub creator: String,
    pub status: String,
    pub created_at_ms: i64,
    /// The latest time among the document's head changes.
    pub updated_at_ms: i64,
    /// Fund checks: allocated and disbursed, in fen.
    pub allocated_fen: Option<i64>,
    pub disbursed_fen: Option<i64>,
    /// Fund checks: what households received short of their entitlement (差额), in fen.
    pub shortfall_fen: i64,
    /// Items in the record's lists.
    pub item_count: i64,
    pub households: i64,
    pub households_verified: i64,
    /// Gang clues: subjects who are party members, and of those, the ones expelled.
    pub party_members: i64,
    pub party_members_expelled: i64,
    pub public_officials: i64,
    /// Asset checks: contracts, rectified contracts, land (hundredths of mu) and income (fen/year) recovered.
    pub contracts: i64,
    pub contracts_rectified: i64,
    pub land_recovered_centimu: i64,
    pub income_recovered_fen: i64,
    pub attachment_count: i64,
    pub has_conflicts: bool,
    pub problem_count: i64,
    /// Whether the draft was withdrawn: such a record has no row in lists, search or totals.
    pub withdrawn: bool,
    /// Every searchable word of the record (never its protected fields). Rows read back
    /// from a device's index leave it empty: the text lives in the full-text index.
    pub search_text: String,
    /// The records this one cites as its sources. Rows read back from a device's index
    /// leave it empty (the store keeps citations in their own table).
    pub sources: Vec<String>,
    /// The workflow: the verification conclusion's code, whom a 问题线索 went to (移交), the
    /// rectification's responsible unit and deadline, and when it was closed out (销号).
    pub conclusion: String,
    pub handover_to: String,
    pub rect_unit: String,
    pub rect_deadline: String,
    pub rectified_at_ms: i64,
    /// A gang clue's source (the others are found by the patrol or through what they cite).
    pub clue_source: String,
    /// The latest workflow step: its id, who took it and the status it led to (all empty
    /// before the first). A device tells its user what changed since they last looked by it.
    pub last_step: String,
    pub last_step_by: String,
    pub last_step_to: String,
    /// Who last submitted the record for review (提交审核), and when (0: never): the
    /// review queue shows and sorts by them.
    pub submitted_by: String,
    pub submitted_at_ms: i64,
    /// Everyone who took a workflow step on the record (提交, 签批, 退回补充, 移交…), each
    /// once, in order of user id: a device tells them, as it tells the creator, of the steps
    /// others take after. Rows read back from a device's index leave it empty (the store
    /// keeps them in a table of their own); not sent to the screen.
    #[serde(skip)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub actors: Vec<String>,
}

impl RecordDoc {
    /// The record's flat row.
    pub fn projection(&mut self) -> Projection {
        let record = self.read();
        let has_conflicts = self.has_conflicts();
        let heads = self.heads();
        let updated_at_ms = heads
            .iter()
            .filter_map(|h| {
                let meta = self.automerge().get_change_meta_by_hash(h)?;
                Some(
                    ChangeAuthor::from_message(meta.message.as_deref())
                        .map_or(meta.timestamp.saturating_mul(1000), |a| a.at),
                )
            })
            .max()
            .unwrap_or(record.created_at_ms);
        project(&record, updated_at_ms, has_conflicts)
    }
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Builds the row from a record read at the time it was last changed.
pub fn project(record: &Record, updated_at_ms: i64, has_conflicts: bool) -> Projection {
    let division = |field| record.division(field).cloned().unwrap_or_default();
    let township = division(Field::Township);
    let village = division(Field::Village);
    let beneficiaries = record.items(ItemList::Beneficiaries);
    let subjects = record.items(ItemList::Subjects);
    let contracts = record.items(ItemList::Contracts);
    let party_members = count(subjects.iter().filter(|s| s.is_party_member()).count());
    let expelled = record.text(Field::Outcome) == Some(Outcome::Expelled.code());
    let item_count = record.lists.values().map(|items| count(items.len())).sum();
    let last = record.review.steps.last();
    let submitted = record.review.steps.iter().rev().find(|s| s.to == crate::ReviewStatus::Submitted);
    Projection {
        record_id: record.id.to_string(),
        kind: record.kind.code().to_owned(),
        title: record.text(Field::Title).unwrap_or_default().to_owned(),
        round: record.text(Field::Round).unwrap_or_default().to_owned(),
        township_code: township.code,
        township_name: township.name,
        village_code: village.code,
        village_name: village.name,
        team: record.text(Field::Team).unwrap_or_default().to_owned(),
        creator: record.creator.clone(),
        status: record.review.status.code().to_owned(),
        created_at_ms: record.created_at_ms,
        updated_at_ms,
        allocated_fen: record.money(Field::Allocated).map(|y| y.fen()),
        disbursed_fen: record.money(Field::Disbursed).map(|y| y.fen()),
        shortfall_fen: record.shortfall().shortfall.fen(),
        item_count,
        households: count(beneficiaries.len()),
        households_verified: count(beneficiaries.iter().filter(|b| b.flag(ItemField::Verified)).count()),
        party_members,
        party_members_expelled: if expelled { party_members } else { 0 },
        public_officials: count(subjects.iter().filter(|s| s.flag(ItemField::PublicOfficial)).count()),
        contracts: count(contracts.len()),
        contracts_rectified: count(
            contracts
                .iter()
                .filter(|c| c.text(ItemField::Status) == Some(crate::ContractStatus::Rectified.code()))
                .count(),
        ),
        land_recovered_centimu: record.area(Field::LandRecovered).map_or(0, |m| m.hundredths()),
        income_recovered_fen: record.money(Field::IncomeRecovered).map_or(0, |y| y.fen()),
        attachment_count: count(record.attachments.len()),
        has_conflicts,
        problem_count: count(crate::validate::validate(record).len()),
        withdrawn: record.withdrawn.is_some(),
        search_text: search_text(record),
        sources: record.sources.iter().map(|c| c.record.to_string()).collect(),
        conclusion: record.review.conclusion.map(|c| c.code().to_owned()).unwrap_or_default(),
        handover_to: record
            .review
            .steps
            .iter()
            .rev()
            .find_map(|s| s.handover.as_ref().map(|h| h.to.code().to_owned()))
            .unwrap_or_default(),
        rect_unit: record.rectification.as_ref().map(|r| r.unit.clone()).unwrap_or_default(),
        rect_deadline: record.rectification.as_ref().and_then(|r| r.deadline.clone()).unwrap_or_default(),
        rectified_at_ms: record
            .review
            .steps
            .iter()
            .rev()
            .find(|s| s.to == crate::ReviewStatus::Rectified)
            .map_or(0, |s| s.at_ms),
        clue_source: record.text(Field::ClueSource).unwrap_or_default().to_owned(),
        last_step: last.map(|s| s.id.clone()).unwrap_or_default(),
        last_step_by: last.map(|s| s.by.clone()).unwrap_or_default(),
        last_step_to: last.map(|s| s.to.code().to_owned()).unwrap_or_default(),
        submitted_by: submitted.map(|s| s.by.clone()).unwrap_or_default(),
        submitted_at_ms: submitted.map_or(0, |s| s.at_ms),
        actors: record
            .review
            .steps
            .iter()
            .map(|s| s.by.clone())
            .filter(|by| !by.is_empty())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect(),
    }
}

/// All the words a person may search a record by: texts, names, labels of its codes.
fn search_text(record: &Record) -> String {
    let mut words: Vec<String> = vec![record.kind.zh().to_owned(), record.review.status.zh().to_owned()];
    for (field, value) in &record.fields {
        match (field.ty(), value) {
            (crate::field::FieldType::Choice(vocabulary), Value::Choice(code)) => words.push(vocabulary.zh(code)),
            (_, Value::Text(text)) => words.push(text.clone()),
            (_, Value::Division(division)) => {
                words.push(division.name.clone());
                words.push(division.code.clone());
            }
            _ => {}
        }
    }
    for items in record.lists.values() {
        for item in items {
            for (field, value) in &item.values {
                match (field.ty(), value) {
                    (crate::field::FieldType::Choice(vocabulary), Value::Choice(code)) => {
                        words.push(vocabulary.zh(code))
                    }
                    (crate::field::FieldType::Text, Value::Text(text))
                        if !matches!(field, ItemField::From | ItemField::To) =>
                    {
                        words.push(text.clone());
                    }
                    _ => {}
                }
            }
        }
    }
    words.extend(record.issues.iter().map(|i: &FundIssue| i.zh().to_owned()));
    words.extend(record.tags.iter().cloned());
    words.extend(record.attachments.iter().map(|a| a.caption.clone()));
    words.extend(record.review.comments.iter().map(|c| c.text.clone()));
    words.push(record.narrative.clone());
    words.retain(|w| !w.trim().is_empty());
    words.join(" ")
}
