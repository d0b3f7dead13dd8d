//! `xuncha report`: the documents that go upward (问题底稿, 谈话记录, 入户核查表, 问题清单,
//! 整改台账, 情况统计表) as PDF from the device database: the arguments (a round's document
//! takes the [`Scope`] options `xuncha export` takes, `--round` required) and the file; what
//! each document gathers is `xuncha_app::reports`, the app's own, typeset by `xuncha-report`.

use anyhow::{Context as _, Result};
use xuncha_app::AppError;
use xuncha_app::reports::{self, Desk};
use xuncha_domain::Record;
use xuncha_report::{Fonts, Paper};
use xuncha_store::Store;

use crate::args::Scope;
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
    #[command(mut_arg("round", |round| round.required(true)))]
    Problems {
        #[command(flatten)]
        scope: Scope,
        #[command(flatten)]
        common: ReportCommon,
    },
    /// 整改台账 of a round, overdue entries marked.
    #[command(mut_arg("round", |round| round.required(true)))]
    Rectification {
        #[command(flatten)]
        scope: Scope,
        #[command(flatten)]
        common: ReportCommon,
    },
    /// The round's 情况统计表: the dashboard's figures on one page.
    #[command(mut_arg("round", |round| round.required(true)))]
    Summary {
        #[command(flatten)]
        scope: Scope,
        #[command(flatten)]
        common: ReportCommon,
    },
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
    let fonts = Fonts::load()?;
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
            let (records, covers) = scoped(store, &desk, scope)?;
            reports::problems(store, &fonts, &desk, &records, &covers)
        }
        ReportCommand::Rectification { scope, .. } => {
            let (records, covers) = scoped(store, &desk, scope)?;
            reports::rectification(&fonts, &desk, &records, &covers)
        }
        ReportCommand::Summary { scope, .. } => {
            let filter = scope.filter()?;
            // Refused as an export is when it picks nothing: a misspelt round would print zeros.
            xuncha_app::export::rows(store, &filter).map_err(crate::export::reported)?;
            reports::summary(store, &fonts, &desk, &filter, &reports::describe(desk.rows(), &filter))
        }
    }
    .map_err(reported)?;
    xuncha_report::release_caches();
    crate::export::write_whole(out, &made.paper.bytes)?;
    // A record's document says which 编号 it printed.
    let number = match &args.command {
        ReportCommand::Draft { id, .. } | ReportCommand::Household { id, .. } => desk.number(parse_id(id)?),
        _ => None,
    };
    report_written(out, &made.paper, made.document.zh(), number.as_deref(), json)
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

fn report_written(out: &std::path::Path, paper: &Paper, what: &str, number: Option<&str>, json: bool) -> Result<()> {
    if json {
        println!(
            "{}",
            serde_json::json!({ "out": out.display().to_string(), "document": what, "number": number, "pages": paper.pages, "bytes": paper.bytes.len() })
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

/// The records `scope` picks, read whole in the order of their numbers, and what they
/// cover. A round, township or team that picks nothing on the device is refused with the
/// ones there are, as exports refuse it.
fn scoped(store: &Store, desk: &Desk, scope: &Scope) -> Result<(Vec<Record>, String)> {
    let filter = scope.filter()?;
    let rows = xuncha_app::export::rows(store, &filter).map_err(crate::export::reported)?;
    let rows = xuncha_app::export::in_number_order(&rows, desk.numbers());
    let records = reports::read(store, &rows, &mut || Ok(())).map_err(reported)?;
    Ok((records, reports::describe(desk.rows(), &filter)))
}
