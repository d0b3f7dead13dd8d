//! The projection index: one row per record for lists, filters and district totals, and
//! full-text search that finds Chinese phrases without word breaking (`text.rs`); the one
//! SQL condition that says which records a filter picks, for totals, documents and exports
//! alike. A withdrawn draft has no row and no search entry: its document alone remains.

use rusqlite::{Row, Transaction, params, params_from_iter, types::Value as SqlValue};
use serde::{Deserialize, Serialize};
use xuncha_domain::numbering::NO_ROUND;
use xuncha_domain::{Projection, RecordDoc, RecordKind, ReviewStatus};

use crate::Store;
use crate::error::{Result, StoreError};

pub(crate) const COLUMNS_FOR_VERIFY: &str = COLUMNS;

const COLUMNS: &str = "record_id, kind, title, round, township_code, township_name, village_code, village_name, team,
    creator, status, created_at, updated_at, allocated_fen, disbursed_fen, item_count, households, households_verified,
    party_members, party_members_expelled, public_officials, contracts, contracts_rectified, land_recovered_centimu,
    income_recovered_fen, attachment_count, has_conflicts, problem_count, shortfall_fen, conclusion, handover_to,
    rect_unit, rect_deadline, rectified_at, clue_source, last_step, last_step_by, last_step_to, submitted_by,
    submitted_at";

/// [`COLUMNS`] of `records r`.
fn prefixed_columns() -> String {
    COLUMNS.split(',').map(|c| format!("r.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

/// Writes a record's row and its search entry; a withdrawn record has neither.
pub(crate) fn upsert(tx: &Transaction<'_>, p: &Projection) -> Result<()> {
    if p.withdrawn {
        return remove(tx, &p.record_id);
    }
    let sql = format!(
        "INSERT INTO records ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
            ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30, ?31, ?32, ?33, ?34, ?35, ?36, ?37, ?38,
            ?39, ?40)
         ON CONFLICT (record_id) DO UPDATE SET kind = excluded.kind, title = excluded.title, round = excluded.round,
            township_code = excluded.township_code, township_name = excluded.township_name,
            village_code = excluded.village_code, village_name = excluded.village_name, team = excluded.team,
            creator = excluded.creator, status = excluded.status, created_at = excluded.created_at,
            updated_at = excluded.updated_at, allocated_fen = excluded.allocated_fen,
            disbursed_fen = excluded.disbursed_fen, item_count = excluded.item_count, households = excluded.households,
            households_verified = excluded.households_verified, party_members = excluded.party_members,
            party_members_expelled = excluded.party_members_expelled, public_officials = excluded.public_officials,
            contracts = excluded.contracts, contracts_rectified = excluded.contracts_rectified,
            land_recovered_centimu = excluded.land_recovered_centimu, income_recovered_fen = excluded.income_recovered_fen,
            attachment_count = excluded.attachment_count, has_conflicts = excluded.has_conflicts,
            problem_count = excluded.problem_count, shortfall_fen = excluded.shortfall_fen,
            conclusion = excluded.conclusion, handover_to = excluded.handover_to, rect_unit = excluded.rect_unit,
            rect_deadline = excluded.rect_deadline, rectified_at = excluded.rectified_at,
            clue_source = excluded.clue_source, last_step = excluded.last_step,
            last_step_by = excluded.last_step_by, last_step_to = excluded.last_step_to,
            submitted_by = excluded.submitted_by, submitted_at = excluded.submitted_at
         RETURNING rid"
    );
    let mut stmt = tx.prepare_cached(&sql)?;
    let rid: i64 = stmt.query_row(
        params![
            p.record_id,
            p.kind,
            p.title,
            p.round,
            p.township_code,
            p.township_name,
            p.village_code,
            p.village_name,
            p.team,
            p.creator,
            p.status,
            p.created_at_ms,
            p.updated_at_ms,
            p.allocated_fen,
            p.disbursed_fen,
            p.item_count,
            p.households,
            p.households_verified,
            p.party_members,
            p.party_members_expelled,
            p.public_officials,
            p.contracts,
            p.contracts_rectified,
            p.land_recovered_centimu,
            p.income_recovered_fen,
            p.attachment_count,
            p.has_conflicts,
            p.problem_count,
            p.shortfall_fen,
            p.conclusion,
            p.handover_to,
            p.rect_unit,
            p.rect_deadline,
            p.rectified_at_ms,
            p.clue_source,
            p.last_step,
            p.last_step_by,
            p.last_step_to,
            p.submitted_by,
            p.submitted_at_ms,
        ],
        |row| row.get(0),
    )?;
    tx.prepare_cached("DELETE FROM records_fts WHERE rowid = ?1")?.execute([rid])?;
    tx.prepare_cached("INSERT INTO records_fts (rowid, search_text) VALUES (?1, ?2)")?
        .execute(params![rid, crate::text::index_text(&p.search_text)])?;
    tx.prepare_cached("DELETE FROM citations WHERE record_id = ?1")?.execute([&p.record_id])?;
    for source in &p.sources {
        tx.prepare_cached("INSERT OR IGNORE INTO citations (record_id, source_id) VALUES (?1, ?2)")?
            .execute([&p.record_id, source])?;
    }
    tx.prepare_cached("DELETE FROM record_actors WHERE record_id = ?1")?.execute([&p.record_id])?;
    for actor in &p.actors {
        tx.prepare_cached("INSERT OR IGNORE INTO record_actors (record_id, user_id) VALUES (?1, ?2)")?
            .execute([&p.record_id, actor])?;
    }
    Ok(())
}

/// Removes a record's row and its search entry.
fn remove(tx: &Transaction<'_>, record_id: &str) -> Result<()> {
    tx.prepare_cached("DELETE FROM records_fts WHERE rowid = (SELECT rid FROM records WHERE record_id = ?1)")?
        .execute([record_id])?;
    tx.prepare_cached("DELETE FROM records WHERE record_id = ?1")?.execute([record_id])?;
    tx.prepare_cached("DELETE FROM citations WHERE record_id = ?1")?.execute([record_id])?;
    tx.prepare_cached("DELETE FROM record_actors WHERE record_id = ?1")?.execute([record_id])?;
    Ok(())
}

/// Rewrites every record's row and search entry from its document: rows are computed by
/// code, so an upgrade (a new column, a new validation rule) makes stale ones. A document
/// that does not load keeps its row; `verify` reports it.
pub(crate) fn rebuild(tx: &Transaction<'_>) -> Result<()> {
    let doc_ids: Vec<String> = tx
        .prepare("SELECT doc_id FROM documents WHERE part = 'record' ORDER BY doc_id")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for doc_id in doc_ids {
        let Some(stored) = crate::docs::load_stored(tx, &doc_id)? else {
            continue;
        };
        if let Ok(mut doc) = RecordDoc::load_parts(&stored.snapshot, stored.chunks.iter().map(Vec::as_slice)) {
            upsert(tx, &doc.projection())?;
        }
    }
    Ok(())
}

pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Projection> {
    Ok(Projection {
        record_id: row.get(0)?,
        kind: row.get(1)?,
        title: row.get(2)?,
        round: row.get(3)?,
        township_code: row.get(4)?,
        township_name: row.get(5)?,
        village_code: row.get(6)?,
        village_name: row.get(7)?,
        team: row.get(8)?,
        creator: row.get(9)?,
        status: row.get(10)?,
        created_at_ms: row.get(11)?,
        updated_at_ms: row.get(12)?,
        allocated_fen: row.get(13)?,
        disbursed_fen: row.get(14)?,
        item_count: row.get(15)?,
        households: row.get(16)?,
        households_verified: row.get(17)?,
        party_members: row.get(18)?,
        party_members_expelled: row.get(19)?,
        public_officials: row.get(20)?,
        contracts: row.get(21)?,
        contracts_rectified: row.get(22)?,
        land_recovered_centimu: row.get(23)?,
        income_recovered_fen: row.get(24)?,
        attachment_count: row.get(25)?,
        has_conflicts: row.get(26)?,
        problem_count: row.get(27)?,
        shortfall_fen: row.get(28)?,
        conclusion: row.get(29)?,
        handover_to: row.get(30)?,
        rect_unit: row.get(31)?,
        rect_deadline: row.get(32)?,
        rectified_at_ms: row.get(33)?,
        clue_source: row.get(34)?,
        last_step: row.get(35)?,
        last_step_by: row.get(36)?,
        last_step_to: row.get(37)?,
        submitted_by: row.get(38)?,
        submitted_at_ms: row.get(39)?,
        // Withdrawn records have no row.
        withdrawn: false,
        // The search text lives in the full-text index only.
        search_text: String::new(),
        sources: Vec::new(),
        actors: Vec::new(),
    })
}

/// The order of a list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ListSort {
    /// Last changed first.
    #[default]
    Updated,
    /// Submitted longest ago first: the review queue, first come first served.
    Submitted,
    /// The largest amount first (a fund check's allocation).
    Amount,
    /// By team, then township and village, each oldest submission first.
    Team,
}

impl ListSort {
    /// The ORDER BY of `records r`; the record id last, so pages never overlap.
    fn order_by(self) -> &'static str {
        match self {
            ListSort::Updated => "r.updated_at DESC, r.record_id",
            ListSort::Submitted => "r.submitted_at = 0, r.submitted_at, r.record_id",
            ListSort::Amount => "r.allocated_fen IS NULL, r.allocated_fen DESC, r.record_id",
            ListSort::Team => "r.team = '', r.team, r.township_name, r.village_name, r.submitted_at, r.record_id",
        }
    }
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub kind: Option<RecordKind>,
    pub status: Option<ReviewStatus>,
    /// Any of these statuses (a review queue may take two), besides `status`.
    pub statuses: Vec<ReviewStatus>,
    pub township_code: Option<String>,
    pub village_code: Option<String>,
    pub round: Option<String>,
    pub conflicts_only: bool,
    /// Full-text query (Chinese phrases of any length, or words).
    pub text: Option<String>,
    /// Only records the server refused (`Store::refused`).
    pub refused_only: bool,
    pub sort: ListSort,
    pub limit: u32,
    pub offset: u32,
}

impl ListFilter {
    /// The first page of everything, newest first.
    pub fn page(limit: u32) -> ListFilter {
        ListFilter { limit, ..ListFilter::default() }
    }
}

/// District totals, as the commission publishes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Totals {
    pub records: i64,
    pub fund_checks: i64,
    pub gang_clues: i64,
    pub asset_checks: i64,
    pub conduct_issues: i64,
    pub with_conflicts: i64,
    pub allocated_fen: i64,
    pub disbursed_fen: i64,
    /// What households received short of their entitlement (差额), in fen.
    pub shortfall_fen: i64,
    pub households: i64,
    pub households_verified: i64,
    pub party_members: i64,
    pub party_members_expelled: i64,
    pub public_officials: i64,
    pub contracts: i64,
    pub contracts_rectified: i64,
    pub land_recovered_centimu: i64,
    pub income_recovered_fen: i64,
    /// The 巡察 figures upward (发现问题, 移交, 整改), over the same records.
    pub workflow: WorkflowTotals,
}

/// A count under a label (a kind, a source, a destination).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Count {
    /// The stored code.
    pub code: String,
    /// Its Chinese label.
    pub label: String,
    pub count: i64,
}

/// How far rectification has got for one round, township or responsible unit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RateRow {
    pub label: String,
    /// 已销号
    pub rectified: i64,
    /// Every problem handed over for rectification (整改中 and 已销号).
    pub total: i64,
    /// 整改中 past their deadline.
    pub overdue: i64,
    /// 整改完成率 in hundredths of a percent (10000 = 100%); 0 when there is none.
    pub rate_bp: i64,
}

/// The figures a 巡察办 reports upward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct WorkflowTotals {
    /// 发现问题: problems the office has approved (not found 不属实).
    pub problems_found: i64,
    pub problems_by_kind: Vec<Count>,
    /// How each was found: a gang clue's source; a record citing a 信访件 or a 谈话记录
    /// (信访举报, 个别谈话); otherwise 巡察发现.
    pub problems_by_source: Vec<Count>,
    /// 移交问题线索
    pub handed_over: i64,
    pub handed_over_by_destination: Vec<Count>,
    /// 整改中, 已销号, and 整改中 past their deadline (逾期).
    pub rectifying: i64,
    pub rectified: i64,
    pub overdue: i64,
    /// Rectifying with a deadline 10 days away or less (red) and 20 or less (yellow).
    pub red: i64,
    pub yellow: i64,
    /// 整改完成率 in hundredths of a percent (10000 = 100%).
    pub rectification_rate_bp: i64,
    pub by_round: Vec<RateRow>,
    pub by_township: Vec<RateRow>,
    pub by_unit: Vec<RateRow>,
    /// 予以了结
    pub closed: i64,
    /// Records still in the teams' hands: submitted, in review, returned.
    pub in_review: i64,
    pub returned: i64,
    /// 谈话记录 and 信访件 recorded.
    pub talks: i64,
    pub petitions: i64,
    /// The day overdue was judged on.
    pub today: String,
}

/// Which records the totals cover.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TotalsFilter {
    #[serde(default)]
    pub township: Option<String>,
    /// The round's name as records carry it (e.g. 2024年第一轮).
    #[serde(default)]
    pub round: Option<String>,
    /// The team's name as records carry it.
    #[serde(default)]
    pub team: Option<String>,
    /// Records created on or after this day (`YYYY-MM-DD`, UTC+8).
    #[serde(default)]
    pub from: Option<String>,
    /// Records created on or before this day.
    #[serde(default)]
    pub to: Option<String>,
}

/// Which records a document or an export covers: those the totals' filter picks (a
/// township by code or name, a round, a team, the days created), narrowed to one kind and
/// one state. Totals, the 问题清单, documents and exports all select through the one SQL
/// condition [`Store::rows_matching`] and [`Store::totals_matching`] share, so they cannot
/// disagree on which records a filter picks. Empty values pick every record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordFilter {
    pub scope: TotalsFilter,
    pub kind: Option<RecordKind>,
    pub status: Option<ReviewStatus>,
}

impl From<TotalsFilter> for RecordFilter {
    fn from(scope: TotalsFilter) -> RecordFilter {
        RecordFilter { scope, ..RecordFilter::default() }
    }
}

/// SQL conditions on `records r` joined by AND, with the values they bind (`?1`, `?2`, …).
#[derive(Debug, Default)]
struct Condition {
    clauses: Vec<String>,
    values: Vec<SqlValue>,
}

impl Condition {
    /// Binds `value`; returns its placeholder.
    fn bind(&mut self, value: SqlValue) -> String {
        self.values.push(value);
        format!("?{}", self.values.len())
    }

    fn and(&mut self, clause: String) {
        self.clauses.push(clause);
    }

    /// The condition as SQL (`1` when there is none).
    fn sql(&self) -> String {
        if self.clauses.is_empty() { "1".to_owned() } else { self.clauses.join(" AND ") }
    }
}

/// A filter's text, trimmed; `None` when empty.
fn given(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned)
}

/// The first millisecond of the day `value` (`YYYY-MM-DD` in China, UTC+8), `next` days on;
/// `None` when empty, refused when not a date.
fn day_start(value: &Option<String>, next: i64) -> Result<Option<i64>> {
    let Some(date) = given(value) else { return Ok(None) };
    let days = xuncha_domain::workflow::day_number(&date).ok_or_else(|| StoreError::BadFilter {
        detail: format!("日期 “{date}” 应写成 YYYY-MM-DD / the date {date:?} must be YYYY-MM-DD"),
    })?;
    Ok(Some((days + next) * 86_400_000 - 8 * 3_600_000))
}

/// How many records share one value of a column (a village, a round, a status).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Facet {
    /// The stored value: a division code, a round, a status or kind code.
    pub value: String,
    /// The name shown for it (a division's name; otherwise the value itself).
    pub label: String,
    /// For a village, the code of its township.
    pub parent: String,
    pub count: i64,
}

/// The values records hold for each filterable column, with counts: what the record
/// list offers as filters and what the dashboard charts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Facets {
    pub townships: Vec<Facet>,
    pub villages: Vec<Facet>,
    pub rounds: Vec<Facet>,
    pub kinds: Vec<Facet>,
    pub statuses: Vec<Facet>,
}

impl Store {
    /// The one SQL condition on `records r` that picks what `filter` picks: the township by
    /// code or name, the round and team as records carry them (blanks around them left
    /// out; 未定轮次 picks records of no round), the days records were created on (from and
    /// to both included, China time), the kind and the state (with the codes older
    /// versions stored for it). A date that is not `YYYY-MM-DD` is refused (`bad_filter`).
    fn condition(&self, filter: &RecordFilter) -> Result<Condition> {
        let scope = &filter.scope;
        let mut c = Condition::default();
        if let Some(township) = given(&scope.township) {
            let t = c.bind(SqlValue::Text(township));
            c.and(format!("(r.township_code = {t} OR r.township_name = {t})"));
        }
        if let Some(round) = given(&scope.round) {
            let unplaced = if round == NO_ROUND { " OR trim(r.round) = ''" } else { "" };
            let r = c.bind(SqlValue::Text(round));
            c.and(format!("(trim(r.round) = {r}{unplaced})"));
        }
        if let Some(team) = given(&scope.team) {
            let t = c.bind(SqlValue::Text(team));
            c.and(format!("trim(r.team) = {t}"));
        }
        if let Some(ms) = day_start(&scope.from, 0)? {
            let from = c.bind(SqlValue::Integer(ms));
            c.and(format!("r.created_at >= {from}"));
        }
        if let Some(ms) = day_start(&scope.to, 1)? {
            let to = c.bind(SqlValue::Integer(ms));
            c.and(format!("r.created_at < {to}"));
        }
        if let Some(kind) = filter.kind {
            let k = c.bind(SqlValue::Text(kind.code().to_owned()));
            c.and(format!("r.kind = {k}"));
        }
        if let Some(status) = filter.status {
            let mut codes = vec![status.code().to_owned()];
            let mut stmt = self.conn.prepare_cached("SELECT DISTINCT status FROM records")?;
            for stored in stmt.query_map([], |row| row.get::<_, String>(0))? {
                let stored = stored?;
                if stored != status.code() && ReviewStatus::from_stored(&stored) == Some(status) {
                    codes.push(stored);
                }
            }
            let codes: Vec<String> = codes.into_iter().map(|code| c.bind(SqlValue::Text(code))).collect();
            c.and(format!("r.status IN ({})", codes.join(", ")));
        }
        Ok(c)
    }

    /// The rows of the records `filter` picks, most recently changed first. Reads only the
    /// index.
    pub fn rows_matching(&self, filter: &RecordFilter) -> Result<Vec<Projection>> {
        let c = self.condition(filter)?;
        let sql = format!(
            "SELECT {} FROM records r WHERE {} ORDER BY r.updated_at DESC, r.record_id",
            prefixed_columns(),
            c.sql()
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(c.values), from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Every township, village, round, kind and status on the device, with counts.
    pub fn facets(&self) -> Result<Facets> {
        let group = |sql: &str| -> Result<Vec<Facet>> {
            let mut stmt = self.conn.prepare_cached(sql)?;
            let rows = stmt
                .query_map([], |row| {
                    Ok(Facet { value: row.get(0)?, label: row.get(1)?, parent: row.get(2)?, count: row.get(3)? })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        };
        Ok(Facets {
            townships: group(
                "SELECT township_code, max(township_name), '', count(*) FROM records
                 WHERE township_code <> '' GROUP BY township_code ORDER BY township_code",
            )?,
            villages: group(
                "SELECT village_code, max(village_name), max(township_code), count(*) FROM records
                 WHERE village_code <> '' GROUP BY village_code ORDER BY village_code",
            )?,
            rounds: group(
                "SELECT round, round, '', count(*) FROM records WHERE round <> '' GROUP BY round ORDER BY round DESC",
            )?,
            kinds: group("SELECT kind, kind, '', count(*) FROM records GROUP BY kind ORDER BY kind")?,
            statuses: group("SELECT status, status, '', count(*) FROM records GROUP BY status ORDER BY status")?,
        })
    }

    /// Records matching `filter`, most recently changed first (for a text query, most
    /// recently created first).
    /// Reads only the index: no document is loaded.
    pub fn list(&self, filter: &ListFilter) -> Result<Vec<Projection>> {
        let mut clauses: Vec<String> = Vec::new();
        let mut args: Vec<SqlValue> = Vec::new();
        let push = |clauses: &mut Vec<String>, args: &mut Vec<SqlValue>, clause: &str, value: SqlValue| {
            args.push(value);
            clauses.push(clause.replace('?', &format!("?{}", args.len())));
        };
        if let Some(kind) = filter.kind {
            push(&mut clauses, &mut args, "r.kind = ?", SqlValue::Text(kind.code().into()));
        }
        if let Some(status) = filter.status {
            push(&mut clauses, &mut args, "r.status = ?", SqlValue::Text(status.code().into()));
        }
        if !filter.statuses.is_empty() {
            let mut any = Vec::new();
            for status in &filter.statuses {
                args.push(SqlValue::Text(status.code().into()));
                any.push(format!("?{}", args.len()));
            }
            clauses.push(format!("r.status IN ({})", any.join(", ")));
        }
        if let Some(code) = &filter.township_code {
            push(&mut clauses, &mut args, "r.township_code = ?", SqlValue::Text(code.clone()));
        }
        if let Some(code) = &filter.village_code {
            push(&mut clauses, &mut args, "r.village_code = ?", SqlValue::Text(code.clone()));
        }
        if let Some(round) = &filter.round {
            push(&mut clauses, &mut args, "r.round = ?", SqlValue::Text(round.clone()));
        }
        if filter.conflicts_only {
            clauses.push("r.has_conflicts = 1".into());
        }
        if filter.refused_only {
            clauses.push(format!("r.record_id IN ({})", crate::sync::REFUSED_RECORDS));
        }
        let mut from = "records r".to_owned();
        let mut order = filter.sort.order_by();
        if let Some(text) = filter.text.as_deref() {
            let Some(query) = crate::text::query(text) else {
                return Ok(Vec::new());
            };
            // Walk the full-text index newest record first and stop at the page's end.
            from = "records_fts f JOIN records r ON r.rid = f.rowid".to_owned();
            push(&mut clauses, &mut args, "records_fts MATCH ?", SqlValue::Text(query));
            if filter.sort == ListSort::Updated {
                order = "f.rowid DESC";
            }
        }
        let columns = prefixed_columns();
        let where_sql = if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
        let limit = if filter.limit == 0 { 50 } else { filter.limit };
        let sql =
            format!("SELECT {columns} FROM {from} {where_sql} ORDER BY {order} LIMIT {limit} OFFSET {}", filter.offset);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args), from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Full-text search, most recently created first.
    pub fn search(&self, query: &str, limit: u32) -> Result<Vec<Projection>> {
        self.list(&ListFilter { text: Some(query.to_owned()), limit, ..ListFilter::default() })
    }

    /// How many records are on the device, leaving out withdrawn drafts.
    pub fn count(&self) -> Result<i64> {
        Ok(self.conn.query_row("SELECT count(*) FROM records", [], |row| row.get(0))?)
    }

    /// District totals over every record on the device, or one township's, with overdue
    /// rectifications judged on today's date (UTC+8).
    pub fn totals(&self, township_code: Option<&str>) -> Result<Totals> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let filter = TotalsFilter { township: township_code.map(str::to_owned), ..TotalsFilter::default() };
        self.totals_for(&filter, &xuncha_domain::workflow::date_of_ms(now))
    }

    /// Totals over the records `filter` picks, overdue judged on `today` (`YYYY-MM-DD`).
    pub fn totals_for(&self, filter: &TotalsFilter, today: &str) -> Result<Totals> {
        self.totals_matching(&RecordFilter::from(filter.clone()), today)
    }

    /// Totals over the records `filter` picks (the same records as
    /// [`Store::rows_matching`]), overdue judged on `today` (`YYYY-MM-DD`).
    pub fn totals_matching(&self, filter: &RecordFilter, today: &str) -> Result<Totals> {
        let mut totals = self.base_totals(filter)?;
        totals.workflow = self.workflow_totals(filter, today)?;
        Ok(totals)
    }

    fn workflow_totals(&self, filter: &RecordFilter, today: &str) -> Result<WorkflowTotals> {
        use xuncha_domain::workflow::{Light, is_problem, light};
        use xuncha_domain::{ClueSource, HandoverTo};
        let c = self.condition(filter)?;
        let sql = format!(
            "SELECT r.kind, r.status, r.conclusion, r.handover_to, r.rect_unit, r.rect_deadline, r.round,
                    r.township_name, r.clue_source,
                    (SELECT group_concat(s.kind) FROM citations c JOIN records s ON s.record_id = c.source_id
                      WHERE c.record_id = r.record_id)
             FROM records r WHERE {}",
            c.sql()
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(c.values), |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, String>(4)?,
                row.get::<_, String>(5)?,
                row.get::<_, String>(6)?,
                row.get::<_, String>(7)?,
                row.get::<_, String>(8)?,
                row.get::<_, Option<String>>(9)?,
            ))
        })?;
        let mut w = WorkflowTotals { today: today.to_owned(), ..WorkflowTotals::default() };
        let bump = |list: &mut Vec<Count>, code: &str, label: &str| match list.iter_mut().find(|c| c.code == code) {
            Some(c) => c.count += 1,
            None => list.push(Count { code: code.to_owned(), label: label.to_owned(), count: 1 }),
        };
        let rate = |list: &mut Vec<RateRow>, label: &str, rectified: bool, overdue: bool| {
            let row = match list.iter_mut().position(|r| r.label == label) {
                Some(at) => &mut list[at],
                None => {
                    list.push(RateRow { label: label.to_owned(), ..RateRow::default() });
                    list.last_mut().expect("just pushed")
                }
            };
            row.total += 1;
            row.rectified += i64::from(rectified);
            row.overdue += i64::from(overdue);
        };
        for row in rows {
            let (kind, status, conclusion, handover_to, unit, deadline, round, township, clue_source, cited) = row?;
            let Some(kind) = RecordKind::parse(&kind) else { continue };
            let status = ReviewStatus::from_stored(&status).unwrap_or(ReviewStatus::Draft);
            match kind {
                RecordKind::Talk => w.talks += 1,
                RecordKind::Petition => w.petitions += 1,
                _ => {}
            }
            match status {
                ReviewStatus::Submitted | ReviewStatus::DeputyReviewed | ReviewStatus::LeadSigned => w.in_review += 1,
                ReviewStatus::Returned => w.returned += 1,
                _ => {}
            }
            if !is_problem(kind) || !status.is_approved() || conclusion == xuncha_domain::Conclusion::Unfounded.code() {
                continue;
            }
            w.problems_found += 1;
            bump(&mut w.problems_by_kind, kind.code(), kind.zh());
            let cited = cited.unwrap_or_default();
            let (code, label) = if let Some(source) = ClueSource::parse(&clue_source) {
                (source.code(), source.zh())
            } else if cited.split(',').any(|k| k == RecordKind::Petition.code()) {
                (ClueSource::PetitionReport.code(), ClueSource::PetitionReport.zh())
            } else if cited.split(',').any(|k| k == RecordKind::Talk.code()) {
                ("talk", "个别谈话")
            } else {
                (ClueSource::Patrol.code(), ClueSource::Patrol.zh())
            };
            bump(&mut w.problems_by_source, code, label);
            match status {
                ReviewStatus::HandedOver => {
                    w.handed_over += 1;
                    let to = HandoverTo::parse(&handover_to);
                    bump(
                        &mut w.handed_over_by_destination,
                        to.map_or("unknown", HandoverTo::code),
                        to.map_or("（未注明）", HandoverTo::zh),
                    );
                }
                ReviewStatus::Closed => w.closed += 1,
                ReviewStatus::Rectifying | ReviewStatus::Rectified => {
                    let rectified = status == ReviewStatus::Rectified;
                    let shown = (!rectified).then(|| light(&deadline, today)).flatten();
                    let overdue =
                        !rectified && xuncha_domain::workflow::days_between(today, &deadline).is_some_and(|d| d < 0);
                    if rectified {
                        w.rectified += 1;
                    } else {
                        w.rectifying += 1;
                    }
                    w.overdue += i64::from(overdue);
                    w.red += i64::from(shown == Some(Light::Red));
                    w.yellow += i64::from(shown == Some(Light::Yellow));
                    let blank = |s: &str| if s.trim().is_empty() { "（未填）".to_owned() } else { s.to_owned() };
                    rate(&mut w.by_round, &blank(&round), rectified, overdue);
                    rate(&mut w.by_township, &blank(&township), rectified, overdue);
                    rate(&mut w.by_unit, &blank(&unit), rectified, overdue);
                }
                _ => {}
            }
        }
        let bp = |done: i64, total: i64| if total == 0 { 0 } else { (done * 10_000 + total / 2) / total };
        w.rectification_rate_bp = bp(w.rectified, w.rectified + w.rectifying);
        for list in [&mut w.by_round, &mut w.by_township, &mut w.by_unit] {
            for row in list.iter_mut() {
                row.rate_bp = bp(row.rectified, row.total);
            }
            list.sort_by(|a, b| a.label.cmp(&b.label));
        }
        for list in [&mut w.problems_by_kind, &mut w.problems_by_source, &mut w.handed_over_by_destination] {
            list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.code.cmp(&b.code)));
        }
        Ok(w)
    }

    /// The 问题清单: every problem record (not talks or petitions) `filter` picks, by
    /// township, village and time.
    pub fn problems(&self, filter: &TotalsFilter) -> Result<Vec<Projection>> {
        let c = self.condition(&RecordFilter::from(filter.clone()))?;
        let sql = format!(
            "SELECT {} FROM records r WHERE r.kind NOT IN ('talk', 'petition') AND {}
             ORDER BY r.township_code, r.village_code, r.created_at, r.record_id",
            prefixed_columns(),
            c.sql()
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(c.values), from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The records `id` cites, as its citations say (those on this device).
    pub fn sources_of(&self, id: &str) -> Result<Vec<String>> {
        let mut stmt =
            self.conn.prepare_cached("SELECT source_id FROM citations WHERE record_id = ?1 ORDER BY source_id")?;
        let ids = stmt.query_map([id], |row| row.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(ids)
    }

    fn base_totals(&self, filter: &RecordFilter) -> Result<Totals> {
        let c = self.condition(filter)?;
        let sql = "SELECT count(*),
                COALESCE(SUM(kind = 'fund_check'), 0), COALESCE(SUM(kind = 'gang_clue'), 0),
                COALESCE(SUM(kind = 'asset_check'), 0), COALESCE(SUM(kind = 'conduct_issue'), 0),
                COALESCE(SUM(has_conflicts), 0), COALESCE(SUM(allocated_fen), 0), COALESCE(SUM(disbursed_fen), 0),
                COALESCE(SUM(households), 0), COALESCE(SUM(households_verified), 0), COALESCE(SUM(party_members), 0),
                COALESCE(SUM(party_members_expelled), 0), COALESCE(SUM(public_officials), 0), COALESCE(SUM(contracts), 0),
                COALESCE(SUM(contracts_rectified), 0), COALESCE(SUM(land_recovered_centimu), 0),
                COALESCE(SUM(income_recovered_fen), 0), COALESCE(SUM(shortfall_fen), 0)
             FROM records r WHERE ";
        let sql = format!("{sql}{}", c.sql());
        Ok(self.conn.query_row(&sql, params_from_iter(c.values), |row| {
            Ok(Totals {
                records: row.get(0)?,
                fund_checks: row.get(1)?,
                gang_clues: row.get(2)?,
                asset_checks: row.get(3)?,
                conduct_issues: row.get(4)?,
                with_conflicts: row.get(5)?,
                allocated_fen: row.get(6)?,
                disbursed_fen: row.get(7)?,
                households: row.get(8)?,
                households_verified: row.get(9)?,
                party_members: row.get(10)?,
                party_members_expelled: row.get(11)?,
                public_officials: row.get(12)?,
                contracts: row.get(13)?,
                contracts_rectified: row.get(14)?,
                land_recovered_centimu: row.get(15)?,
                income_recovered_fen: row.get(16)?,
                shortfall_fen: row.get(17)?,
                workflow: WorkflowTotals::default(),
            })
        })?)
    }
}
