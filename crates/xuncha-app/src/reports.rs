//! The documents that go upward, from the device database: the PDFs `xuncha-report`
//! typesets (问题底稿, 谈话记录, 入户核查表, 问题清单, 整改台账, 情况统计表), and the workbook and
//! media archive of the records a filter picks. What each document needs (the records, the
//! 编号 of every record on the device, people's names, the sources a record cites, its
//! pictures, the village's roster, the totals) is gathered here, once, for the app and the
//! CLI alike. The app's exports run on a database connection of their own (the UI is never
//! held), write into the export folder, report their progress and can be cancelled.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{FixedOffset, NaiveDate, TimeZone};
use serde::Serialize;
use xuncha_domain::workflow;
use xuncha_domain::{Field, Mu, Projection, Record, RecordId, RecordKind, Yuan};
use xuncha_report::{Attachments, Context, Fonts, Paper, ReportError, RosterLine, Section, Summary};
use xuncha_store::{RecordFilter, Store, StoreError, Totals, TotalsFilter};

use crate::export::{self, ExportError};
use crate::reference::Names;
use crate::{App, AppError, BadInput, Result, archive, workbook};

/// What every document of a device shares: the index rows (for the names a scope prints), the
/// 编号 of every record, who user ids are, the 密级 mark and the day it is dated.
#[derive(Debug)]
pub struct Desk {
    rows: Vec<Projection>,
    numbers: BTreeMap<RecordId, String>,
    names: Names,
    mark: String,
    today: NaiveDate,
}

impl Desk {
    /// The desk of `store`: documents carry `mark` on every page and are dated `today`
    /// (which is also the day overdue is judged on).
    pub fn of(store: &Store, mark: &str, today: NaiveDate) -> Result<Desk> {
        let rows = export::all_rows(store, None)?;
        let numbers = export::numbers(store, &rows)?;
        Ok(Desk { rows, numbers, names: Names::of(store)?, mark: mark.to_owned(), today })
    }

    /// Every row of the index, most recently changed first (for the names of townships a
    /// scope gives by code).
    pub fn rows(&self) -> &[Projection] {
        &self.rows
    }

    /// A record's 编号 (the server's, or its provisional one while it has none).
    pub fn number(&self, id: RecordId) -> Option<String> {
        self.numbers.get(&id).cloned()
    }

    /// The 编号 of every record on the device.
    pub fn numbers(&self) -> &BTreeMap<RecordId, String> {
        &self.numbers
    }

    /// The day documents are dated, `YYYY-MM-DD`.
    pub fn today(&self) -> String {
        self.today.format("%Y-%m-%d").to_string()
    }

    /// Runs `f` with the typesetter's context.
    fn typeset<T>(&self, f: impl FnOnce(&Context<'_>) -> T) -> T {
        let name_of = |id: &str| self.names.name(Some(id)).unwrap_or_else(|| id.to_owned());
        let ctx = Context { mark: &self.mark, today: self.today, names: &name_of, numbers: &self.numbers };
        f(&ctx)
    }
}

/// A typeset document and what it covers.
#[derive(Debug, Clone)]
pub struct Made {
    pub paper: Paper,
    /// Which document it is.
    pub document: DocumentKind,
    /// How many records it covers.
    pub records: usize,
}

/// Which document or export a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    /// 问题底稿 of a problem record.
    Draft,
    /// 谈话记录 of a talk record.
    Talk,
    /// 入户核查表 of a fund check.
    Household,
    /// 问题清单.
    Problems,
    /// 整改台账.
    Rectification,
    /// 情况统计表.
    Summary,
    /// The workbook (XLSX) of records.
    Workbook,
    /// The zip of the records' attachments.
    Media,
    /// 同步包: a sync bundle for another side.
    Bundle,
    /// 同步包回执: the receipt of a sync bundle, for its sender.
    Receipt,
}

impl DocumentKind {
    /// Its Chinese name, as files and the command line name it.
    pub fn zh(self) -> &'static str {
        match self {
            DocumentKind::Draft => "问题底稿",
            DocumentKind::Talk => "谈话记录",
            DocumentKind::Household => "入户核查表",
            DocumentKind::Problems => "问题清单",
            DocumentKind::Rectification => "整改台账",
            DocumentKind::Summary => "情况统计表",
            DocumentKind::Workbook => "巡察记录",
            DocumentKind::Media => "附件包",
            DocumentKind::Bundle => "同步包",
            DocumentKind::Receipt => "同步包回执",
        }
    }
}

/// A record and its heads (what a sign-off or a document covers).
pub fn load(store: &Store, id: RecordId) -> Result<(Record, Vec<String>)> {
    let mut doc = store.record(id)?;
    let heads = doc.heads().iter().map(|h| h.to_string()).collect();
    Ok((doc.read(), heads))
}

/// The whole records of `rows`, in their order. `step` is called after each; an error it
/// returns (a cancelled export) stops the reading.
pub fn read(store: &Store, rows: &[Projection], step: &mut dyn FnMut() -> Result<()>) -> Result<Vec<Record>> {
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let id: RecordId = row.record_id.parse()?;
        records.push(store.record(id)?.read());
        step()?;
    }
    Ok(records)
}

/// The records `records` cite that the device holds (and are not among them).
pub fn cited(store: &Store, records: &[Record]) -> Result<Vec<Record>> {
    let mut ids: Vec<RecordId> = records.iter().flat_map(|r| r.sources.iter().map(|c| c.record)).collect();
    ids.sort_unstable();
    ids.dedup();
    ids.retain(|id| !records.iter().any(|r| r.id == *id));
    let mut sources = Vec::with_capacity(ids.len());
    for id in ids {
        match store.record(id) {
            Ok(mut doc) => sources.push(doc.read()),
            // Cited, but not (yet) on this device: the document says so.
            Err(StoreError::RecordNotFound { .. }) => {}
            Err(other) => return Err(other.into()),
        }
    }
    Ok(sources)
}

/// The record's pictures the device holds (its photos and signatures); the others are
/// listed in the document but not shown.
pub fn pictures(store: &Store, record: &Record) -> Attachments {
    let mut attachments = Attachments::new();
    for attachment in record.all_attachments() {
        if attachment.mime.starts_with("image/")
            && !attachments.contains_key(&attachment.sha256)
            && let Ok(bytes) = store.attachment(&attachment.sha256)
        {
            attachments.insert(attachment.sha256.clone(), bytes);
        }
    }
    attachments
}

/// The record's pictures the device does not hold yet, each once: (SHA-256, MIME type).
pub fn missing_pictures(store: &Store, record: &Record) -> Result<Vec<(String, String)>> {
    let mut missing: Vec<(String, String)> = Vec::new();
    for attachment in record.all_attachments() {
        if attachment.mime.starts_with("image/")
            && !missing.iter().any(|(sha, _)| *sha == attachment.sha256)
            && store.attachment_info(&attachment.sha256)?.is_none()
        {
            missing.push((attachment.sha256.clone(), attachment.mime.clone()));
        }
    }
    Ok(missing)
}

/// The households of the village's roster for the record's fund (the first roster of the
/// village when none matches), for a blank 入户核查表.
pub fn roster(store: &Store, record: &Record) -> Result<Vec<RosterLine>> {
    let Some(village) = record.division(Field::Village) else { return Ok(Vec::new()) };
    let fund = record.text(Field::FundName).map(str::trim).unwrap_or_default();
    let mut rosters = store.rosters(&village.code)?;
    rosters.sort_by_key(|r| r.fund != fund);
    Ok(rosters
        .into_iter()
        .next()
        .map(|r| r.households.into_iter().map(|h| RosterLine { head: h.head, entitled: h.entitled }).collect())
        .unwrap_or_default())
}

/// The 问题底稿 of a problem record, or the 谈话记录 of a talk; refused
/// (`report_not_applicable`) for a petition.
pub fn draft(store: &Store, fonts: &Fonts, desk: &Desk, id: RecordId) -> Result<Made> {
    let (record, heads) = load(store, id)?;
    let attachments = pictures(store, &record);
    let sources = cited(store, std::slice::from_ref(&record))?;
    let sources: Vec<&Record> = sources.iter().collect();
    let document = if record.kind == RecordKind::Talk { DocumentKind::Talk } else { DocumentKind::Draft };
    let paper = desk.typeset(|ctx| xuncha_report::draft(fonts, &record, &heads, &sources, &attachments, ctx))?;
    Ok(Made { paper, document, records: 1 })
}

/// The 入户核查表 of a fund check: filled in from the record, or `blank` to take into the
/// village (names and entitled amounts, from the roster when the record lists no household).
pub fn household(store: &Store, fonts: &Fonts, desk: &Desk, id: RecordId, blank: bool) -> Result<Made> {
    let (record, heads) = load(store, id)?;
    let attachments = if blank { Attachments::new() } else { pictures(store, &record) };
    let roster = roster(store, &record)?;
    let paper =
        desk.typeset(|ctx| xuncha_report::household(fonts, &record, &heads, &roster, blank, &attachments, ctx))?;
    Ok(Made { paper, document: DocumentKind::Household, records: 1 })
}

/// The 问题清单 of `records` (those that are problems), with the sources they cite.
pub fn problems(store: &Store, fonts: &Fonts, desk: &Desk, records: &[Record], scope: &str) -> Result<Made> {
    let sources = cited(store, records)?;
    let chosen: Vec<&Record> = records.iter().collect();
    let all: Vec<&Record> = chosen.iter().copied().chain(sources.iter()).collect();
    let paper = desk.typeset(|ctx| xuncha_report::problems(fonts, &chosen, &all, scope, ctx))?;
    let count = records.iter().filter(|r| workflow::is_problem(r.kind)).count();
    Ok(Made { paper, document: DocumentKind::Problems, records: count })
}

/// The 整改台账 of `records` (those with a ledger), overdue entries marked.
pub fn rectification(fonts: &Fonts, desk: &Desk, records: &[Record], scope: &str) -> Result<Made> {
    let chosen: Vec<&Record> = records.iter().collect();
    let paper = desk.typeset(|ctx| xuncha_report::rectification(fonts, &chosen, scope, ctx))?;
    let count = records.iter().filter(|r| r.rectification.is_some()).count();
    Ok(Made { paper, document: DocumentKind::Rectification, records: count })
}

/// The 情况统计表: the dashboard's figures over the records `filter` picks, on one page.
pub fn summary(store: &Store, fonts: &Fonts, desk: &Desk, filter: &RecordFilter, scope: &str) -> Result<Made> {
    let totals = store.totals_matching(filter, &desk.today())?;
    let records = usize::try_from(totals.records).unwrap_or_default();
    let paper = desk.typeset(|ctx| xuncha_report::summary(fonts, &figures(&totals), scope, ctx))?;
    Ok(Made { paper, document: DocumentKind::Summary, records })
}

/// What `filter` covers, printed under a document's title: 2024年第一轮 · 第一巡察组 · 东岭镇 ·
/// 2024-03-01 至 2024-06-30 (全部记录 when it picks everything). A township given by code is
/// named as `rows` (every record on the device) name it.
pub fn describe(rows: &[Projection], filter: &RecordFilter) -> String {
    let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
    let scope = &filter.scope;
    let mut parts: Vec<String> = Vec::new();
    parts.extend(text(&scope.round));
    parts.extend(text(&scope.team));
    if let Some(code) = text(&scope.township) {
        let name = rows.iter().find(|r| r.township_code == code && !r.township_name.is_empty());
        parts.push(name.map_or(code, |r| r.township_name.clone()));
    }
    parts.extend(filter.kind.map(|k| k.zh().to_owned()));
    parts.extend(filter.status.map(|s| s.zh().to_owned()));
    match (text(&scope.from), text(&scope.to)) {
        (Some(from), Some(to)) => parts.push(format!("{from} 至 {to}")),
        (Some(from), None) => parts.push(format!("{from} 起")),
        (None, Some(to)) => parts.push(format!("至 {to}")),
        (None, None) => {}
    }
    if parts.is_empty() { "全部记录".to_owned() } else { parts.join(" · ") }
}

fn count(n: i64, unit: &str) -> String {
    format!("{n} {unit}")
}

fn yuan(fen: i64) -> String {
    format!("{} 元", Yuan::from_fen(fen).grouped())
}

/// The dashboard's figures as the 情况统计表's sections.
pub fn figures(totals: &Totals) -> Summary {
    let w = &totals.workflow;
    let percent = |bp: i64| format!("{}.{:02}%", bp / 100, bp % 100);
    let row = |label: &str, value: String| (label.to_owned(), value);
    let mut sections = vec![Section::new(
        "一、巡察发现问题",
        [
            row("发现问题", count(w.problems_found, "个")),
            row("移交问题线索", count(w.handed_over, "件")),
            row("整改中", count(w.rectifying, "个")),
            row("已销号", count(w.rectified, "个")),
            row("逾期未整改", count(w.overdue, "个")),
            row("整改完成率", percent(w.rectification_rate_bp)),
            row("予以了结", count(w.closed, "个")),
            row("审核中 / 退回补充", format!("{} / {} 个", w.in_review, w.returned)),
            row("谈话记录 / 信访件", format!("{} / {} 件", w.talks, w.petitions)),
        ],
    )];
    let counts = |list: &[xuncha_store::Count], unit: &str| {
        list.iter().map(|c| (c.label.clone(), count(c.count, unit))).collect::<Vec<_>>()
    };
    if !w.problems_by_kind.is_empty() {
        sections.push(Section::new("二、问题类别", counts(&w.problems_by_kind, "个")));
        sections.push(Section::new("三、问题来源", counts(&w.problems_by_source, "个")));
    }
    if !w.handed_over_by_destination.is_empty() {
        sections.push(Section::new("四、问题线索移交", counts(&w.handed_over_by_destination, "件")));
    }
    let mu = Mu::from_hundredths(totals.land_recovered_centimu).to_string();
    sections.push(Section::new(
        "五、专项检查情况",
        [
            row("记录总数", count(totals.records, "条")),
            row("扶贫资金检查", count(totals.fund_checks, "条")),
            row("扶贫资金拨付", yuan(totals.allocated_fen)),
            row("扶贫资金发放", yuan(totals.disbursed_fen)),
            row("应发未发（差额）", yuan(totals.shortfall_fen)),
            row("入户核实", format!("{} / {} 户", totals.households_verified, totals.households)),
            row("涉黑涉恶线索", count(totals.gang_clues, "条")),
            row("涉黑涉恶问题查处党员", count(totals.party_members, "名")),
            row("其中开除党籍", count(totals.party_members_expelled, "名")),
            row("涉及公职人员", count(totals.public_officials, "名")),
            row("农村集体“三资”核查", count(totals.asset_checks, "条")),
            row("规范农村集体合同", format!("{} / {} 份", totals.contracts_rectified, totals.contracts)),
            row("收回集体土地", format!("{mu} 亩")),
            row("增加集体收入", format!("{} / 年", yuan(totals.income_recovered_fen))),
            row("作风问题", count(totals.conduct_issues, "条")),
        ],
    ));
    Summary { sections }
}

// ---------------------------------------------------------------------------------------
// The app's exports.

/// A file an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ExportedFile {
    /// Where it is: in the export folder (the user's Downloads folder on a desktop).
    pub path: String,
    /// Its file name.
    pub name: String,
    /// The folder it is in.
    pub folder: String,
    pub document: DocumentKind,
    /// How many records it covers.
    pub records: u32,
    /// The pages of a PDF.
    pub pages: Option<u32>,
    /// Attachments it lists but does not hold (not on this device yet).
    pub missing: u32,
    /// The record's 编号, for a document of one record.
    pub number: Option<String>,
    /// Whether [`App::open_exported`] can open it on this device.
    pub openable: bool,
}

/// What an export is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
pub enum ExportStage {
    /// No export is running.
    #[default]
    Idle,
    /// Reading the records.
    Reading,
    /// Fetching pictures from the server that the device does not hold.
    Fetching,
    /// Typesetting the document.
    Typesetting,
    /// Putting the attachments into the archive (or a sync bundle).
    Archiving,
    /// Writing the file.
    Writing,
    /// Reading a sync bundle and checking its signatures.
    Verifying,
    /// Merging a sync bundle's records (one transaction).
    Merging,
    /// Storing the photos and files a sync bundle carries.
    Storing,
}

impl ExportStage {
    const ALL: [ExportStage; 9] = [
        ExportStage::Idle,
        ExportStage::Reading,
        ExportStage::Fetching,
        ExportStage::Typesetting,
        ExportStage::Archiving,
        ExportStage::Writing,
        ExportStage::Verifying,
        ExportStage::Merging,
        ExportStage::Storing,
    ];
}

/// How far the running export is (the UI asks while it waits).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ExportProgress {
    pub running: bool,
    pub document: Option<DocumentKind>,
    /// It reads a file in (导入同步包) rather than making one.
    pub importing: bool,
    pub stage: ExportStage,
    /// Steps done of `total` in this stage (records read, attachments archived).
    pub done: u32,
    pub total: u32,
    /// Cancelling was asked for; the export stops at its next step.
    pub cancelling: bool,
}

/// A running export, as its progress is read and its cancelling asked for.
#[derive(Debug)]
pub(crate) struct Job {
    document: DocumentKind,
    importing: bool,
    stage: AtomicU8,
    done: AtomicU32,
    total: AtomicU32,
    cancel: AtomicBool,
}

/// The export this app runs; dropping it ends it.
#[derive(Debug)]
pub(crate) struct Running<'a> {
    /// The app's slot it holds.
    slot: &'a Mutex<Option<Arc<Job>>>,
    job: Arc<Job>,
}

impl Running<'_> {
    fn stage(&self, stage: ExportStage, total: usize) {
        self.job.done.store(0, Ordering::Relaxed);
        self.job.total.store(u32::try_from(total).unwrap_or(u32::MAX), Ordering::Relaxed);
        self.job.stage.store(stage as u8, Ordering::Relaxed);
    }

    /// Whether cancelling was asked for.
    pub(crate) fn cancelled(&self) -> bool {
        self.job.cancel.load(Ordering::Relaxed)
    }

    /// Refuses to go on once cancelling was asked for.
    fn check(&self) -> Result<()> {
        if self.cancelled() { Err(AppError::Cancelled) } else { Ok(()) }
    }

    /// Where the job stands: `done` steps of `total` in `stage`.
    pub(crate) fn set(&self, stage: ExportStage, done: u64, total: u64) {
        self.job.done.store(u32::try_from(done).unwrap_or(u32::MAX), Ordering::Relaxed);
        self.job.total.store(u32::try_from(total).unwrap_or(u32::MAX), Ordering::Relaxed);
        self.job.stage.store(stage as u8, Ordering::Relaxed);
    }

    /// One step done; refuses to go on once cancelling was asked for.
    fn step(&self) -> Result<()> {
        self.job.done.fetch_add(1, Ordering::Relaxed);
        self.check()
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(|job| Arc::ptr_eq(job, &self.job)) {
            *slot = None;
        }
    }
}

/// Why a file written whole was not: the writing itself, or the work that fills it.
enum Failed {
    Io(std::io::Error),
    App(AppError),
}

impl From<std::io::Error> for Failed {
    fn from(error: std::io::Error) -> Failed {
        Failed::Io(error)
    }
}

/// The rows `filter` picks (only problems, for `problems_only`), in the order of their
/// numbers; refused (`nothing_to_export`) when there are none.
fn picked(store: &Store, desk: &Desk, filter: &RecordFilter, problems_only: bool) -> Result<Vec<Projection>> {
    let mut rows = store.rows_matching(filter)?;
    if problems_only {
        rows.retain(|r| RecordKind::parse(&r.kind).is_some_and(workflow::is_problem));
    }
    if rows.is_empty() {
        return Err(AppError::BadInput(BadInput::NothingToExport));
    }
    Ok(export::in_number_order(&rows, &desk.numbers))
}

/// A picture the server may send: downloads give up after this long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);

impl App {
    /// The fonts every document and watermark is drawn with: from
    /// [`crate::Config::fonts_dir`] when it is set, else from the search path of
    /// [`Fonts::load`]. They are read when a document or a photo needs them, shared by
    /// whatever needs them at the same time, and dropped when the last of those is done:
    /// some 53 MB that would otherwise stay in the app's memory after its first photo
    /// (reading them again takes tens of milliseconds; [`Fonts::load_from`] gives the
    /// memory back). A failure is not kept, so fonts installed meanwhile are found the
    /// next time.
    pub(crate) fn fonts(&self) -> Result<Arc<Fonts>, ReportError> {
        let mut shared = self.fonts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(fonts) = shared.upgrade() {
            return Ok(fonts);
        }
        let fonts = Arc::new(match &self.config.fonts_dir {
            Some(dir) => Fonts::load_from(dir)?,
            None => Fonts::load()?,
        });
        *shared = Arc::downgrade(&fonts);
        Ok(fonts)
    }

    /// Whether the fonts are in memory now (held by a document or a photo being made).
    #[doc(hidden)]
    pub fn fonts_in_memory(&self) -> bool {
        self.fonts.lock().unwrap_or_else(PoisonError::into_inner).strong_count() > 0
    }

    fn running_export(&self) -> MutexGuard<'_, Option<Arc<Job>>> {
        self.export.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts an export, or refuses while another one runs.
    pub(crate) fn start_export(&self, document: DocumentKind) -> Result<Running<'_>> {
        self.start_job(document, false)
    }

    /// Starts an export or an import (of a sync bundle), or refuses while another runs.
    pub(crate) fn start_job(&self, document: DocumentKind, importing: bool) -> Result<Running<'_>> {
        let mut running = self.running_export();
        if running.is_some() {
            return Err(AppError::ExportRunning);
        }
        let job = Arc::new(Job {
            document,
            importing,
            stage: AtomicU8::new(ExportStage::Reading as u8),
            done: AtomicU32::new(0),
            total: AtomicU32::new(0),
            cancel: AtomicBool::new(false),
        });
        *running = Some(Arc::clone(&job));
        Ok(Running { slot: &self.export, job })
    }

    /// How far the running export is (idle when none runs).
    pub fn export_progress(&self) -> ExportProgress {
        let Some(job) = self.running_export().clone() else { return ExportProgress::default() };
        let stage = job.stage.load(Ordering::Relaxed);
        ExportProgress {
            running: true,
            document: Some(job.document),
            importing: job.importing,
            stage: ExportStage::ALL.into_iter().find(|s| *s as u8 == stage).unwrap_or_default(),
            done: job.done.load(Ordering::Relaxed),
            total: job.total.load(Ordering::Relaxed),
            cancelling: job.cancel.load(Ordering::Relaxed),
        }
    }

    /// Asks the running export to stop: it stops at its next step, writes nothing and
    /// answers `cancelled`.
    pub fn cancel_export(&self) -> ExportProgress {
        if let Some(job) = self.running_export().as_ref() {
            job.cancel.store(true, Ordering::Relaxed);
        }
        self.export_progress()
    }

    /// A connection of the export's own, so the UI goes on reading and editing meanwhile.
    pub(crate) fn export_store(&self) -> Result<Store> {
        self.with(|s| Ok(s.store.open_another()?))
    }

    fn desk(&self, store: &Store) -> Result<Desk> {
        let today = NaiveDate::parse_from_str(&self.today(), "%Y-%m-%d")
            .map_err(|e| AppError::BadInput(BadInput::BadRequest(e.to_string())))?;
        Desk::of(store, xuncha_report::DEFAULT_MARK, today)
    }

    /// A new file in the export folder: `{stem}-{YYYYMMDD-HHMMSS}.{ext}`, China Standard Time,
    /// numbered on when a file of that name exists.
    pub(crate) fn export_path(&self, stem: &str, ext: &str) -> Result<PathBuf> {
        let dir = &self.config.export_dir;
        std::fs::create_dir_all(dir)
            .map_err(|e| AppError::Io { path: dir.display().to_string(), detail: e.to_string() })?;
        let cst = FixedOffset::east_opt(8 * 3600).expect("a valid offset");
        let stamp = cst
            .timestamp_millis_opt(self.clock.now_ms())
            .single()
            .map(|t| t.format("%Y%m%d-%H%M%S").to_string())
            .unwrap_or_default();
        let stem = match archive::file_name(stem, 80) {
            name if name.is_empty() => "xuncha".to_owned(),
            name => name,
        };
        let mut path = dir.join(format!("{stem}-{stamp}.{ext}"));
        let mut n = 2;
        while path.exists() {
            path = dir.join(format!("{stem}-{stamp}-{n}.{ext}"));
            n += 1;
        }
        Ok(path)
    }

    pub(crate) fn write(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        export::write_whole(path, bytes)
            .map_err(|e| AppError::Io { path: path.display().to_string(), detail: e.to_string() })
    }

    pub(crate) fn exported(&self, path: &Path, document: DocumentKind, records: usize) -> ExportedFile {
        ExportedFile {
            path: path.display().to_string(),
            name: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            folder: path.parent().map(|d| d.display().to_string()).unwrap_or_default(),
            document,
            records: u32::try_from(records).unwrap_or(u32::MAX),
            pages: None,
            missing: 0,
            number: None,
            openable: opener().is_some(),
        }
    }

    /// Fetches the record's pictures the device does not hold from the server (or the team
    /// relay while the server is out of reach), as far as it answers: the first failure (offline) stops the fetching, and the document lists
    /// those pictures without showing them. Returns how many are still missing.
    fn fetch_pictures(&self, store: &mut Store, record: &Record, job: &Running<'_>) -> Result<usize> {
        let missing = missing_pictures(store, record)?;
        if missing.is_empty() {
            return Ok(0);
        }
        job.stage(ExportStage::Fetching, missing.len());
        let mut left = missing.len();
        for (sha256, mime) in &missing {
            let fetched = xuncha_sync::relay::download_attachment_anywhere(store, sha256, mime, FETCH_TIMEOUT);
            if self.runtime.block_on(fetched).is_err() {
                break;
            }
            left -= 1;
            job.step()?;
        }
        Ok(left)
    }

    /// A document of one record (问题底稿, 谈话记录, 入户核查表), written into the export folder.
    fn record_document(&self, id: RecordId, document: DocumentKind) -> Result<ExportedFile> {
        let job = self.start_export(document)?;
        let mut store = self.export_store()?;
        let record = store.record(id)?.read();
        let missing =
            if document == DocumentKind::Household { 0 } else { self.fetch_pictures(&mut store, &record, &job)? };
        job.check()?;
        job.stage(ExportStage::Typesetting, 1);
        let fonts = self.fonts()?;
        let desk = self.desk(&store)?;
        let made = match document {
            DocumentKind::Household => household(&store, &fonts, &desk, id, false)?,
            _ => draft(&store, &fonts, &desk, id)?,
        };
        xuncha_report::release_caches();
        job.check()?;
        job.stage(ExportStage::Writing, 1);
        let number = desk.number(id);
        let stem = format!(
            "{}-{}",
            made.document.zh(),
            number.clone().unwrap_or_else(|| record.title_or_placeholder().to_owned())
        );
        let path = self.export_path(&stem, "pdf")?;
        self.write(&path, &made.paper.bytes)?;
        Ok(ExportedFile {
            pages: Some(u32::try_from(made.paper.pages).unwrap_or(u32::MAX)),
            missing: u32::try_from(missing).unwrap_or(u32::MAX),
            number,
            ..self.exported(&path, made.document, 1)
        })
    }

    /// 生成底稿: the 问题底稿 of a problem record (the 谈话记录 of a talk) as a PDF in the
    /// export folder, with its photos and signatures (fetched from the server first when
    /// the device does not hold them and the server answers).
    pub fn report_draft(&self, id: RecordId) -> Result<ExportedFile> {
        let kind = self.with(|s| Ok(s.store.record(id)?.read().kind))?;
        self.record_document(id, if kind == RecordKind::Talk { DocumentKind::Talk } else { DocumentKind::Draft })
    }

    /// The 入户核查表 of a fund check, filled in from the record, as a PDF in the export folder.
    pub fn report_household(&self, id: RecordId) -> Result<ExportedFile> {
        self.record_document(id, DocumentKind::Household)
    }

    /// The records `filter` picks (only problems, for `problems_only`), read whole with
    /// progress, and what they cover; refused (`nothing_to_export`) when there are none.
    fn filtered_records(
        &self,
        store: &Store,
        desk: &Desk,
        filter: &RecordFilter,
        problems_only: bool,
        job: &Running<'_>,
    ) -> Result<(Vec<Record>, String)> {
        let rows = picked(store, desk, filter, problems_only)?;
        job.stage(ExportStage::Reading, rows.len());
        let records = read(store, &rows, &mut || job.step())?;
        Ok((records, describe(desk.rows(), filter)))
    }

    /// A document of the records `filter` picks (问题清单, 整改台账, 情况统计表), as a PDF in
    /// the export folder.
    fn filter_document(&self, filter: &TotalsFilter, document: DocumentKind) -> Result<ExportedFile> {
        let filter = RecordFilter::from(filter.clone());
        let job = self.start_export(document)?;
        let store = self.export_store()?;
        let desk = self.desk(&store)?;
        let made = match document {
            DocumentKind::Summary => {
                picked(&store, &desk, &filter, false)?;
                job.stage(ExportStage::Typesetting, 1);
                summary(&store, &*self.fonts()?, &desk, &filter, &describe(desk.rows(), &filter))?
            }
            _ => {
                let (records, scope) = self.filtered_records(&store, &desk, &filter, true, &job)?;
                if document == DocumentKind::Rectification && !records.iter().any(|r| r.rectification.is_some()) {
                    return Err(AppError::BadInput(BadInput::NothingToExport));
                }
                job.stage(ExportStage::Typesetting, 1);
                let fonts = self.fonts()?;
                match document {
                    DocumentKind::Rectification => rectification(&fonts, &desk, &records, &scope)?,
                    _ => problems(&store, &fonts, &desk, &records, &scope)?,
                }
            }
        };
        xuncha_report::release_caches();
        job.check()?;
        job.stage(ExportStage::Writing, 1);
        let path = self.export_path(&format!("{}-{}", made.document.zh(), describe(desk.rows(), &filter)), "pdf")?;
        self.write(&path, &made.paper.bytes)?;
        Ok(ExportedFile {
            pages: Some(u32::try_from(made.paper.pages).unwrap_or(u32::MAX)),
            ..self.exported(&path, made.document, made.records)
        })
    }

    /// 导出问题清单: the problems `filter` picks, with their sources, as a PDF.
    pub fn report_problems(&self, filter: &TotalsFilter) -> Result<ExportedFile> {
        self.filter_document(filter, DocumentKind::Problems)
    }

    /// 导出整改台账: the rectification ledger of the problems `filter` picks, as a PDF.
    pub fn report_rectification(&self, filter: &TotalsFilter) -> Result<ExportedFile> {
        self.filter_document(filter, DocumentKind::Rectification)
    }

    /// The 情况统计表 of the records `filter` picks, as a one-page PDF.
    pub fn report_summary(&self, filter: &TotalsFilter) -> Result<ExportedFile> {
        self.filter_document(filter, DocumentKind::Summary)
    }

    /// 导出 Excel: the workbook of the records `filter` picks (the records, their lists, the
    /// sign-offs, the rectification ledger and the sources), numbered, in the export folder.
    pub fn export_workbook(&self, filter: &TotalsFilter) -> Result<ExportedFile> {
        let job = self.start_export(DocumentKind::Workbook)?;
        let store = self.export_store()?;
        let desk = self.desk(&store)?;
        let (records, scope) = self.filtered_records(&store, &desk, &filter.clone().into(), false, &job)?;
        job.stage(ExportStage::Writing, 1);
        let tables = workbook::tables(&records, &|id| desk.number(id), &desk.today());
        let bytes = workbook::xlsx(&tables, self.clock.now_ms())?;
        job.check()?;
        let path = self.export_path(&format!("{}-{scope}", DocumentKind::Workbook.zh()), "xlsx")?;
        self.write(&path, &bytes)?;
        Ok(self.exported(&path, DocumentKind::Workbook, records.len()))
    }

    /// 导出附件包: every attachment of the records `filter` picks (photos, signatures,
    /// rectification evidence) in a zip, one folder per 编号, with `manifest.csv`; those the
    /// device does not hold are listed there as missing.
    pub fn export_media(&self, filter: &TotalsFilter) -> Result<ExportedFile> {
        let job = self.start_export(DocumentKind::Media)?;
        let store = self.export_store()?;
        let desk = self.desk(&store)?;
        let (records, scope) = self.filtered_records(&store, &desk, &filter.clone().into(), false, &job)?;
        let attachments: usize = records
            .iter()
            .map(|r| r.all_attachments().map(|a| &a.sha256).collect::<std::collections::BTreeSet<_>>().len())
            .sum();
        job.stage(ExportStage::Archiving, attachments);
        let path = self.export_path(&format!("{}-{scope}", DocumentKind::Media.zh()), "zip")?;
        let mut from_store = archive::from_store(&store);
        let mut fetch = |attachment: &xuncha_domain::AttachmentRef| -> Result<Option<Vec<u8>>, ExportError> {
            if job.step().is_err() {
                return Err(ExportError::Io {
                    path: attachment.sha256.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::Interrupted, "cancelled"),
                });
            }
            from_store(attachment)
        };
        let mut listed = Vec::new();
        let written = export::write_whole_with(&path, |file| -> Result<(), Failed> {
            let writer = std::io::BufWriter::new(file);
            let (writer, files) =
                archive::media_zip(writer, &records, &|id| desk.number(id), &mut fetch, self.clock.now_ms())
                    .map_err(|e| Failed::App(e.into()))?;
            writer.into_inner().map_err(|e| Failed::Io(e.into_error()))?;
            listed = files;
            Ok(())
        });
        match written {
            Ok(()) => {}
            Err(_) if job.cancelled() => return Err(AppError::Cancelled),
            Err(Failed::App(error)) => return Err(error),
            Err(Failed::Io(error)) => {
                return Err(AppError::Io { path: path.display().to_string(), detail: error.to_string() });
            }
        }
        Ok(ExportedFile {
            missing: u32::try_from(listed.iter().filter(|f| f.missing).count()).unwrap_or(u32::MAX),
            ..self.exported(&path, DocumentKind::Media, records.len())
        })
    }

    /// Opens a PDF attachment (a scanned 发放清册, a bank statement) with the system's
    /// viewer: written once into the export folder, where the viewer can read it.
    pub fn open_attachment(&self, sha256: &str) -> Result<()> {
        if sha256.len() != 64 || !sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(AppError::BadInput(BadInput::BadRequest(format!("not an attachment: {sha256}"))));
        }
        let bytes = self.attachment(sha256, "application/pdf")?;
        let io = |error: std::io::Error| AppError::Io {
            path: self.config.export_dir.display().to_string(),
            detail: error.to_string(),
        };
        std::fs::create_dir_all(&self.config.export_dir).map_err(io)?;
        let file = self.config.export_dir.join(format!("附件-{}.pdf", &sha256[..12]));
        if !file.is_file() {
            let partial = file.with_extension("pdf.part");
            std::fs::write(&partial, &bytes).map_err(io)?;
            std::fs::rename(&partial, &file).map_err(io)?;
        }
        self.open_exported(&file.display().to_string())
    }

    /// Opens a file this app exported with the system's viewer (a PDF viewer prints it).
    /// Only files in the export folder are opened; `cannot_open` where the system offers
    /// no viewer to start (tablets: the file is in the Downloads folder).
    pub fn open_exported(&self, path: &str) -> Result<()> {
        let refused = || AppError::BadInput(BadInput::BadRequest(format!("not an exported file: {path}")));
        let dir = self.config.export_dir.canonicalize().map_err(|_| refused())?;
        let file = Path::new(path).canonicalize().map_err(|_| refused())?;
        if !file.starts_with(&dir) || !file.is_file() {
            return Err(refused());
        }
        let cannot = || AppError::CannotOpen { path: file.display().to_string() };
        let program = opener().ok_or_else(cannot)?;
        let mut child = std::process::Command::new(program)
            .arg(&file)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|_| cannot())?;
        // The viewer outlives the opener; the opener's exit is collected off the caller's thread.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        Ok(())
    }
}

/// The program that opens a file with the system's viewer, where there is one.
fn opener() -> Option<PathBuf> {
    let name = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(target_os = "windows") {
        "explorer"
    } else if cfg!(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd")) {
        "xdg-open"
    } else {
        return None;
    };
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(name)).find(|p| p.is_file()).or_else(|| {
        // Windows names programs with their extension.
        cfg!(target_os = "windows").then(|| PathBuf::from(format!("{name}.exe")))
    })
}

#[cfg(test)]
mod tests {
    //! How a scope reads (which records a filter picks is the store's, tested there); the
    //! app's exports written into its export folder (a PDF read back with poppler's
    //! `pdftotext` where it is installed, the workbook and the media archive opened as
    //! zips); progress and cancelling, each app its own.

    use std::io::Read;

    use xuncha_domain::{ActorId, DeviceId, Division, ErrorCode, UserId};
    use xuncha_store::{Identity, KdfParams};

    use super::*;
    use crate::{Config, DB_FILE, NewRecordInput, NoEvents, SystemClock};

    const PIN: &str = "246810";

    /// An unlocked app over a device database whose server does not answer.
    fn set_up() -> (tempfile::TempDir, App) {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path().join("data"));
        config.export_dir = dir.path().join("Downloads");
        config.kdf = KdfParams::FAST_INSECURE;
        std::fs::create_dir_all(&config.data_dir).unwrap();
        let identity = Identity {
            device_id: DeviceId::new("dev-1").unwrap(),
            user_id: UserId::new("wang").unwrap(),
            user_name: "王巡察".into(),
            actor: ActorId::from([7; 16]),
        };
        let mut store = Store::create(&config.data_dir.join(DB_FILE), PIN, &identity, config.kdf).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        store.set_sync_value("server_url", &url).unwrap();
        drop(store);
        let app = App::new(config, Arc::new(NoEvents), Arc::new(SystemClock)).unwrap();
        app.unlock(PIN).unwrap();
        (dir, app)
    }

    fn create(app: &App, kind: RecordKind, title: &str) -> RecordId {
        let input = NewRecordInput {
            kind,
            title: title.into(),
            round: "2024年第一轮".into(),
            township: Some(Division::new("330199101000", "东岭镇")),
            village: Some(Division::new("330199101001", "上坪村")),
            team: "第一巡察组".into(),
        };
        let id = app.create(&input).unwrap().record.id;
        // Records made in one millisecond are numbered by id; these are made apart.
        std::thread::sleep(Duration::from_millis(5));
        id
    }

    fn round(name: &str) -> TotalsFilter {
        TotalsFilter { round: Some(name.into()), ..TotalsFilter::default() }
    }

    /// The names of the files in a zip.
    fn entries(path: &str) -> Vec<String> {
        let zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
        zip.file_names().map(|name| name.unwrap().into_owned()).collect()
    }

    /// The text of a PDF as poppler reads it, spaces and line breaks left out; `None`
    /// where poppler is not installed.
    fn pdf_text(path: &str) -> Option<String> {
        let out = std::process::Command::new("pdftotext").args(["-raw", path, "-"]).output().ok()?;
        assert!(out.status.success(), "pdftotext {path}: {}", String::from_utf8_lossy(&out.stderr));
        Some(String::from_utf8(out.stdout).unwrap().chars().filter(|c| !c.is_whitespace()).collect())
    }

    #[test]
    fn the_documents_and_exports_land_in_the_export_folder() {
        let (dir, app) = set_up();
        let check = create(&app, RecordKind::FundCheck, "上坪村到户补贴发放检查");
        let talk = create(&app, RecordKind::Talk, "与上坪村会计的个别谈话");
        let petition = create(&app, RecordKind::Petition, "反映上坪村补贴发放问题");
        let downloads = dir.path().join("Downloads");

        // Not synced yet: the 底稿 carries the record's provisional number.
        let early = app.report_draft(check).unwrap();
        let provisional = xuncha_domain::numbering::provisional(check);
        assert_eq!(early.number.as_deref(), Some(provisional.as_str()));
        if let Some(text) = pdf_text(&early.path) {
            assert!(text.contains(&provisional), "{provisional} is not in the draft: {text}");
        }
        // A sync brings the server's numbers (the fund check first, then the talk).
        let mut store = Store::open(&dir.path().join("data").join(DB_FILE), PIN).unwrap();
        let given =
            [(check, "2024年第一轮-第一巡察组-001".to_owned()), (talk, "2024年第一轮-第一巡察组-002".to_owned())];
        let received =
            xuncha_store::Received { cursor: b"c", dropped: &[], reference: None, protected: None, numbers: &given };
        store.apply_sync(&[], &[], &received).unwrap();
        drop(store);

        // 导出 Excel of the round: every record of it, in a workbook of typed sheets.
        let book = app.export_workbook(&round("2024年第一轮")).unwrap();
        assert_eq!((book.document, book.records), (DocumentKind::Workbook, 3));
        assert!(book.name.starts_with("巡察记录-2024年第一轮-") && book.name.ends_with(".xlsx"), "{}", book.name);
        assert_eq!(Path::new(&book.folder), downloads);
        let sheets = entries(&book.path);
        assert!(sheets.contains(&"xl/workbook.xml".to_owned()), "{sheets:?}");
        let mut zip = zip::ZipArchive::new(std::fs::File::open(&book.path).unwrap()).unwrap();
        let mut strings = String::new();
        zip.by_name("xl/sharedStrings.xml").unwrap().read_to_string(&mut strings).unwrap();
        for text in ["上坪村到户补贴发放检查", "与上坪村会计的个别谈话", "2024年第一轮-第一巡察组-001"]
        {
            assert!(strings.contains(text), "{text} is not in the workbook");
        }
        // A filter that picks nothing writes nothing.
        let none = app.export_workbook(&round("2099年第九轮")).unwrap_err();
        assert_eq!((none.code(), none.cause()), (ErrorCode::BadInput, Some(ErrorCode::NothingToExport)));
        let bad = app.export_workbook(&TotalsFilter { from: Some("五月".into()), ..TotalsFilter::default() });
        assert_eq!(bad.unwrap_err().code(), ErrorCode::BadFilter);

        // 导出附件包: no attachments yet, the manifest only.
        let media = app.export_media(&TotalsFilter::default()).unwrap();
        assert_eq!((media.document, media.records, media.missing), (DocumentKind::Media, 3, 0));
        assert_eq!(entries(&media.path), ["manifest.csv"]);

        // 生成底稿: the 问题底稿 of the fund check, the 谈话记录 of the talk, each with its 编号.
        let draft = app.report_draft(check).unwrap();
        assert_eq!(draft.document, DocumentKind::Draft);
        assert_eq!(draft.number.as_deref(), Some("2024年第一轮-第一巡察组-001"));
        assert!(draft.pages.unwrap() >= 1);
        assert!(draft.name.starts_with("问题底稿-2024年第一轮-第一巡察组-001-"), "{}", draft.name);
        let bytes = std::fs::read(&draft.path).unwrap();
        assert!(bytes.starts_with(b"%PDF"));
        if let Some(text) = pdf_text(&draft.path) {
            for word in ["问题底稿", "上坪村到户补贴发放检查", "2024年第一轮-第一巡察组-001"] {
                assert!(text.contains(word), "{word} is not in the draft: {text}");
            }
        }
        let minutes = app.report_draft(talk).unwrap();
        assert_eq!(
            (minutes.document, minutes.number.as_deref()),
            (DocumentKind::Talk, Some("2024年第一轮-第一巡察组-002"))
        );
        let refused = app.report_draft(petition).unwrap_err();
        assert_eq!(refused.code(), ErrorCode::ReportNotApplicable);
        let household = app.report_household(check).unwrap();
        assert_eq!(household.document, DocumentKind::Household);

        // The round's 问题清单 lists its one problem; no ledger yet, so no 整改台账.
        let list = app.report_problems(&round("2024年第一轮")).unwrap();
        assert_eq!((list.document, list.records), (DocumentKind::Problems, 1));
        if let Some(text) = pdf_text(&list.path) {
            assert!(text.contains("上坪村到户补贴发放检查") && !text.contains("与上坪村会计的个别谈话"), "{text}");
        }
        let ledger = app.report_rectification(&round("2024年第一轮")).unwrap_err();
        assert_eq!(ledger.cause(), Some(ErrorCode::NothingToExport));
        let summary = app.report_summary(&round("2024年第一轮")).unwrap();
        assert_eq!((summary.document, summary.pages), (DocumentKind::Summary, Some(1)));

        // Only exported files are opened.
        let outside = dir.path().join("data").join(DB_FILE);
        assert_eq!(app.open_exported(&outside.display().to_string()).unwrap_err().cause(), Some(ErrorCode::BadRequest));

        // Nothing runs now; a locked app exports nothing.
        assert_eq!(app.export_progress(), ExportProgress::default());
        app.lock();
        assert!(matches!(app.report_draft(check), Err(AppError::Locked)));
        assert!(matches!(app.export_workbook(&TotalsFilter::default()), Err(AppError::Locked)));
        assert_eq!(app.export_progress(), ExportProgress::default(), "a refused export leaves none running");
    }

    #[test]
    fn a_bundle_import_runs_as_a_job_with_its_stages_and_stops_when_cancelled() {
        use xuncha_sync::bundle::{Stage, Step};
        let (_a_dir, a) = set_up();
        let (_b_dir, b) = set_up();
        let id = create(&a, RecordKind::FundCheck, "上坪村到户补贴发放检查");
        let bundle = a.export_bundle(&b.bundle_key().unwrap(), false).unwrap();
        assert_eq!(a.export_progress(), ExportProgress::default(), "the export's job ended");

        // How a bundle's steps read as the job's progress, and 取消 stops it.
        let job = b.start_job(DocumentKind::Bundle, true).unwrap();
        let mut watch = crate::bundles::watch(&job, true);
        assert!(watch(Step { stage: Stage::Verifying, done: 3, total: 10 }));
        let progress = b.export_progress();
        assert_eq!(
            (progress.importing, progress.document, progress.stage, progress.done, progress.total),
            (true, Some(DocumentKind::Bundle), ExportStage::Verifying, 3, 10)
        );
        assert!(matches!(b.import_bundle(&bundle.path), Err(AppError::ExportRunning)), "one job at a time");
        b.cancel_export();
        assert!(!watch(Step { stage: Stage::Files, done: 0, total: 2 }), "cancelled");
        assert_eq!(b.export_progress().stage, ExportStage::Storing);
        drop(watch);
        drop(job);

        // 取消 while the bundle is read, through the app: the bundle comes through a pipe
        // that gives nothing until the cancelling was asked for; nothing is applied.
        let pipe = _b_dir.path().join("U盘.xcb");
        let made = std::process::Command::new("mkfifo").arg(&pipe).status().unwrap();
        assert!(made.success());
        let bytes = std::fs::read(&bundle.path).unwrap();
        let cancelled = std::thread::scope(|scope| {
            let importing = scope.spawn(|| b.import_bundle(pipe.to_str().unwrap()));
            let mut writer = std::fs::OpenOptions::new().write(true).open(&pipe).unwrap();
            for waited in 0.. {
                if b.export_progress().running {
                    break;
                }
                assert!(waited < 2_000, "the import never started");
                std::thread::sleep(Duration::from_millis(5));
            }
            assert!(b.cancel_export().cancelling);
            std::io::Write::write_all(&mut writer, &bytes).unwrap();
            drop(writer);
            importing.join().unwrap()
        });
        assert!(matches!(cancelled, Err(AppError::Cancelled)), "{cancelled:?}");
        assert!(b.record(id).is_err(), "a cancelled import applied nothing");
        assert_eq!(b.export_progress(), ExportProgress::default(), "the cancelled job ended");

        let imported = b.import_bundle(&bundle.path).unwrap();
        assert_eq!((imported.documents, imported.merged), (1, 1));
        assert!(imported.answer.is_some(), "a receipt for the sender");
        assert_eq!(b.record(id).unwrap().record.text(xuncha_domain::Field::Title), Some("上坪村到户补贴发放检查"));
        assert_eq!(b.export_progress(), ExportProgress::default(), "the import's job ended");
    }

    #[test]
    fn an_export_reports_its_progress_and_stops_when_cancelled() {
        let (_dir, app) = set_up();
        assert_eq!(app.export_progress(), ExportProgress::default());
        let job = app.start_export(DocumentKind::Workbook).unwrap();
        job.stage(ExportStage::Reading, 3);
        job.step().unwrap();
        let expected = ExportProgress {
            running: true,
            document: Some(DocumentKind::Workbook),
            importing: false,
            stage: ExportStage::Reading,
            done: 1,
            total: 3,
            cancelling: false,
        };
        assert_eq!(app.export_progress(), expected);
        // One export at a time.
        assert!(matches!(app.export_media(&TotalsFilter::default()), Err(AppError::ExportRunning)));
        assert_eq!(app.export_progress(), expected);

        assert!(app.cancel_export().cancelling);
        assert!(matches!(job.step(), Err(AppError::Cancelled)));
        drop(job);
        assert_eq!(app.export_progress(), ExportProgress::default());
        // Another app of the process has exports of its own.
        let (_other_dir, other) = set_up();
        let _running = other.start_export(DocumentKind::Media).unwrap();
        assert_eq!(app.export_progress(), ExportProgress::default());
        assert!(other.export_progress().running);
    }

    #[test]
    fn report_and_export_errors_carry_their_codes() {
        let errors = [
            ReportError::FontsMissing { searched: String::new() },
            ReportError::FontUnreadable { path: String::new(), message: String::new() },
            ReportError::Template { template: String::new(), message: String::new() },
            ReportError::NotApplicable { zh: String::new(), en: String::new() },
        ];
        for error in errors {
            let typesetter = error.code();
            assert_eq!(AppError::Report(error).code().as_str(), typesetter);
        }
        let exports = [
            (
                ExportError::UnknownRound { input: "x".into(), known: String::new() },
                ErrorCode::BadInput,
                Some(ErrorCode::BadFilter),
            ),
            (
                ExportError::UnknownTeam { input: "x".into(), known: String::new() },
                ErrorCode::BadInput,
                Some(ErrorCode::BadFilter),
            ),
            (ExportError::TooManyRows { sheet: "记录", rows: 2_000_000 }, ErrorCode::ExportFailed, None),
            (ExportError::Store(StoreError::BadFilter { detail: String::new() }), ErrorCode::BadFilter, None),
        ];
        for (error, code, cause) in exports {
            let error = AppError::Export(error);
            assert_eq!((error.code(), error.cause()), (code, cause), "{error}");
        }
    }

    #[test]
    fn a_scope_names_the_round_team_township_kind_state_and_days() {
        let (_dir, app) = set_up();
        create(&app, RecordKind::FundCheck, "上坪村到户补贴发放检查");
        let rows = app.with(|s| Ok(export::all_rows(&s.store, None)?)).unwrap();
        let filter = RecordFilter {
            scope: TotalsFilter {
                township: Some("330199101000".into()),
                round: Some("2024年第一轮".into()),
                team: Some("第一巡察组".into()),
                from: Some("2024-03-01".into()),
                to: None,
            },
            kind: Some(RecordKind::FundCheck),
            status: Some(xuncha_domain::ReviewStatus::Rectifying),
        };
        assert_eq!(
            describe(&rows, &filter),
            "2024年第一轮 · 第一巡察组 · 东岭镇 · 扶贫资金检查 · 整改中 · 2024-03-01 起"
        );
        assert_eq!(describe(&rows, &RecordFilter::default()), "全部记录");
    }
}
