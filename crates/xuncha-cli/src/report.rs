//! `xuncha report`: the documents that go upward (问题底稿, 谈话记录, 入户核查表, 问题清单,
//! 整改台账, 情况统计表) as PDF from the device database: the arguments, the scope of a
//! round's document and the file; what each document gathers is `xuncha_app::reports`, the
//! app's own, typeset by `xuncha-report`.

use anyhow::{Context as _, Result};
use xuncha_app::AppError;
use xuncha_app::reports::{self, Desk};
use xuncha_domain::{Projection, Record, RecordKind, ReviewStatus};
use xuncha_report::Paper;
use xuncha_store::{Store, TotalsFilter};

use crate::commands::{BadInput, parse_id};

/// `xuncha report …`: one document, written to `--out`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

/// Which document.
#[derive(Debug, clap::Subcommand)]
pub enum ReportCommand {
    /// 问题底稿 of a problem record (谈话记录 for a talk record): the finding, its sources,
    /// verification and conclusion, the supporting materials with their SHA-256 and photos,
    /// the sign-offs with their signatures.
    Draft {
        /// The record's id.
        id: String,
        #[command(flatten)]
        common: ReportCommon,
    },
    /// 入户核查表 of a fund check: the households with 应享/实领/差额 and a signature column.
    Household {
        /// The fund check's id.
        id: String,
        /// Blank, to take into the village: names and entitled amounts only (from the
        /// record, or the village's roster when the record lists no household yet).
        #[arg(long)]
        blank: bool,
        #[command(flatten)]
        common: ReportCommon,
    },
    /// 问题清单 of a round: one row per problem with its source, conclusion and where it went.
    Problems {
        #[command(flatten)]
        scope: ReportScope,
        #[command(flatten)]
        common: ReportCommon,
    },
    /// 整改台账 of a round, overdue entries marked.
    Rectification {
        #[command(flatten)]
        scope: ReportScope,
        #[command(flatten)]
        common: ReportCommon,
    },
    /// The round's 情况统计表: the dashboard's figures on one page.
    Summary {
        #[command(flatten)]
        scope: ReportScope,
        #[command(flatten)]
        common: ReportCommon,
    },
}

/// Which records a round's document covers.
#[derive(Debug, clap::Args)]
pub struct ReportScope {
    /// The round's name as records carry it, e.g. 2024年第一轮.
    #[arg(long)]
    pub round: String,
    /// Only this team's records (its name).
    #[arg(long)]
    pub team: Option<String>,
    /// Only this township (its code or name).
    #[arg(long)]
    pub township: Option<String>,
    /// Only this kind (fund_check, gang_clue, asset_check, conduct_issue).
    #[arg(long)]
    pub kind: Option<String>,
    /// Only records in this state (e.g. rectifying, handed_over).
    #[arg(long)]
    pub status: Option<String>,
}

/// What every document takes.
#[derive(Debug, clap::Args)]
pub struct ReportCommon {
    /// The PDF to write (written whole or not at all).
    #[arg(long)]
    pub out: std::path::PathBuf,
    /// The 密级 mark on every page; "" for none.
    #[arg(long)]
    pub mark: Option<String>,
    /// The day the document is dated and overdue is judged on (YYYY-MM-DD; today by default).
    #[arg(long)]
    pub today: Option<String>,
}

impl ReportCommand {
    fn common(&self) -> &ReportCommon {
        match self {
            ReportCommand::Draft { common, .. }
            | ReportCommand::Household { common, .. }
            | ReportCommand::Problems { common, .. }
            | ReportCommand::Rectification { common, .. }
            | ReportCommand::Summary { common, .. } => common,
        }
    }
}

/// Runs a `report` subcommand: typesets the document and writes it whole.
pub fn run(store: &Store, args: &ReportArgs, json: bool) -> Result<()> {
    let out = &args.command.common().out;
    // Refuse an unwritable destination before any work.
    let dir = out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    if !dir.is_dir() {
        anyhow::bail!(BadInput(format!(
            "目录 {} 不存在 / the folder {} does not exist; create it or choose another --out",
            dir.display(),
            dir.display()
        )));
    }
    let fonts = reports::fonts()?;
    let today = match args.command.common().today.as_deref() {
        Some(day) if xuncha_domain::is_date(day.trim()) => day.trim().to_owned(),
        Some(day) => {
            anyhow::bail!(BadInput(format!("日期 “{day}” 应写成 YYYY-MM-DD / the date {day:?} must be YYYY-MM-DD")))
        }
        None => xuncha_domain::workflow::date_of_ms(crate::now_ms()),
    };
    let mark = args.command.common().mark.clone().unwrap_or_else(|| xuncha_report::DEFAULT_MARK.to_owned());
    let today = chrono::NaiveDate::parse_from_str(&today, "%Y-%m-%d").context("today")?;
    let desk = Desk::of(store, &mark, today).map_err(reported)?;
    let made = match &args.command {
        ReportCommand::Draft { id, .. } => reports::draft(store, &fonts, &desk, parse_id(id)?),
        ReportCommand::Household { id, blank, .. } => reports::household(store, &fonts, &desk, parse_id(id)?, *blank),
        ReportCommand::Problems { scope, .. } => {
            let records = scoped(store, desk.rows(), scope)?;
            reports::problems(store, &fonts, &desk, &records, &scope.describe())
        }
        ReportCommand::Rectification { scope, .. } => {
            let records = scoped(store, desk.rows(), scope)?;
            reports::rectification(&fonts, &desk, &records, &scope.describe())
        }
        ReportCommand::Summary { scope, .. } => {
            // The round must exist on this device: a misspelt name would print zeros.
            scoped_rows(desk.rows(), scope)?;
            let filter = TotalsFilter {
                township: scope.township.clone(),
                round: Some(scope.round.clone()),
                team: scope.team.clone(),
                ..TotalsFilter::default()
            };
            reports::summary(store, &fonts, &desk, &filter, &scope.describe())
        }
    }
    .map_err(reported)?;
    xuncha_report::release_caches();
    crate::export::write_whole(out, &made.paper.bytes)?;
    report_written(out, &made.paper, made.document.zh(), json)
}

/// An app error as the command line reports it: the store's, the domain's and the
/// typesetter's errors keep their own exit statuses.
fn reported(error: AppError) -> anyhow::Error {
    match error {
        AppError::Store(error) => error.into(),
        AppError::Domain(error) => error.into(),
        AppError::Report(error) => error.into(),
        error => error.into(),
    }
}

fn report_written(out: &std::path::Path, paper: &Paper, what: &str, json: bool) -> Result<()> {
    if json {
        println!(
            "{}",
            serde_json::json!({ "out": out.display().to_string(), "document": what, "pages": paper.pages, "bytes": paper.bytes.len() })
        );
    } else {
        println!(
            "已生成{what}（{} 页，{} 字节）→ {} / wrote {what}: {} pages",
            paper.pages,
            paper.bytes.len(),
            out.display(),
            paper.pages
        );
    }
    Ok(())
}

impl ReportScope {
    /// 2024年第一轮 · 第一巡察组 · …: what the document covers, printed under its title.
    pub fn describe(&self) -> String {
        let mut parts = vec![self.round.trim().to_owned()];
        parts.extend(self.team.iter().map(|t| t.trim().to_owned()));
        parts.extend(self.township.iter().map(|t| t.trim().to_owned()));
        if let Some(kind) = self.kind.as_deref().and_then(RecordKind::parse) {
            parts.push(kind.zh().to_owned());
        }
        if let Some(status) = self.status.as_deref().and_then(ReviewStatus::parse) {
            parts.push(status.zh().to_owned());
        }
        parts.join(" · ")
    }
}

/// The index rows of the scope; refuses a round (or team) no record of the device names.
fn scoped_rows<'a>(rows: &'a [Projection], scope: &ReportScope) -> Result<Vec<&'a Projection>> {
    let round = scope.round.trim();
    let in_round: Vec<&Projection> = rows.iter().filter(|r| r.round.trim() == round).collect();
    if in_round.is_empty() {
        let mut known: Vec<&str> = rows.iter().map(|r| r.round.trim()).filter(|r| !r.is_empty()).collect();
        known.sort_unstable();
        known.dedup();
        anyhow::bail!(BadInput(format!(
            "本机没有巡察轮次 “{round}” 的记录（已有：{}） / no record of the round {round:?} on this device (rounds: {})",
            known.join("、"),
            known.join(", ")
        )));
    }
    let kind = match scope.kind.as_deref() {
        Some(text) => Some(RecordKind::parse(text).ok_or_else(|| xuncha_domain::DomainError::UnknownKind {
            input: text.to_owned(),
            expected: RecordKind::codes(),
        })?),
        None => None,
    };
    let status = match scope.status.as_deref() {
        Some(text) => Some(ReviewStatus::parse(text).ok_or_else(|| {
            BadInput(format!("未知状态 “{text}” / unknown status {text:?}: one of {}", ReviewStatus::codes()))
        })?),
        None => None,
    };
    let team = scope.team.as_deref().map(str::trim);
    if let Some(team) = team
        && !in_round.iter().any(|r| r.team.trim() == team)
    {
        anyhow::bail!(BadInput(format!(
            "该轮次没有巡察组 “{team}” 的记录 / no record of the team {team:?} in the round {round:?}"
        )));
    }
    let township = scope.township.as_deref().map(str::trim);
    Ok(in_round
        .into_iter()
        .filter(|r| team.is_none_or(|t| r.team.trim() == t))
        .filter(|r| township.is_none_or(|t| r.township_code.trim() == t || r.township_name.trim() == t))
        .filter(|r| kind.is_none_or(|k| r.kind == k.code()))
        .filter(|r| status.is_none_or(|s| ReviewStatus::from_stored(&r.status) == Some(s)))
        .collect())
}

/// The records of the scope, read whole.
fn scoped(store: &Store, rows: &[Projection], scope: &ReportScope) -> Result<Vec<Record>> {
    let rows: Vec<Projection> = scoped_rows(rows, scope)?.into_iter().cloned().collect();
    reports::read(store, &rows, &mut || Ok(())).map_err(reported)
}
