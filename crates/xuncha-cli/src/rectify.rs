//! `xuncha rectify`: the rectification ledger (整改台账) of problems the office handed to the
//! inspected organisation: starting it (整改中, with 责任单位, 责任人, 措施, 时限, 类型),
//! progress with 佐证材料, 销号, and the ledger with its deadline lights.

use anyhow::{Context, Result, bail};
use serde::Serialize;
use xuncha_domain::workflow::{self, Light};
use xuncha_domain::{Edit, ItemId, LedgerChange, RecordId, RectifyKind, ReviewStatus};
use xuncha_store::{ListFilter, NewAttachment, Store};

use crate::args::RectifyArgs;
use crate::commands::{BadInput, NotAllowed, attachment_file, parse_id, transition_edit};
use crate::{entropy, now_ms, show};

/// One line of the ledger.
#[derive(Debug, Serialize)]
struct LedgerRow {
    id: String,
    title: String,
    township: String,
    village: String,
    status: ReviewStatus,
    unit: String,
    owner: String,
    measures: String,
    deadline: Option<String>,
    kind: Option<RectifyKind>,
    /// Days to the deadline (negative: overdue); none once closed out or without one.
    days_left: Option<i64>,
    light: Option<Light>,
    overdue: bool,
    progress: usize,
}

/// The day deadlines are judged on.
fn today(given: Option<&str>) -> Result<String> {
    match given.map(str::trim) {
        Some(day) if xuncha_domain::is_date(day) => Ok(day.to_owned()),
        Some(day) => bail!(BadInput(format!("日期 “{day}” 应写成 YYYY-MM-DD / the date {day:?} must be YYYY-MM-DD"))),
        None => Ok(workflow::date_of_ms(now_ms())),
    }
}

/// Runs `xuncha rectify`.
pub fn run(store: &mut Store, args: &RectifyArgs, json: bool) -> Result<()> {
    let today = today(args.today.as_deref())?;
    if args.target == "list" {
        return list(store, args.overdue, &today, json);
    }
    if args.overdue {
        bail!(BadInput("--overdue 只用于 rectify list / --overdue goes with rectify list".into()));
    }
    let id = parse_id(&args.target)?;
    let record = store.record(id)?.read();
    let kind = match &args.kind {
        Some(text) => Some(RectifyKind::parse(text).ok_or_else(|| {
            BadInput(format!("未知的整改类型 “{text}”，可选：{} / unknown rectification kind", RectifyKind::codes()))
        })?),
        None => None,
    };
    let change = LedgerChange {
        unit: args.unit.clone(),
        owner: args.owner.clone(),
        measures: args.measures.clone(),
        deadline: args.deadline.clone(),
        kind,
    };
    let mut edits = Vec::new();
    if change != LedgerChange::default() {
        if record.review.status == ReviewStatus::OfficeApproved {
            // Handing the problem over for rectification and its ledger: one change.
            edits.push(transition_edit(store, id, ReviewStatus::Rectifying, &args.note, None, None)?);
        }
        edits.push(Edit::Ledger { change });
    }
    let mut files = Vec::new();
    if let Some(text) = &args.progress {
        for path in &args.attach {
            let caption = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            files.push(attachment_file(path, caption)?);
        }
        let attachments = files.iter().map(NewAttachment::reference).collect();
        edits.push(Edit::AddProgress { id: ItemId::new(now_ms(), &entropy()?), text: text.clone(), attachments });
    } else if !args.attach.is_empty() {
        bail!(BadInput("--attach 需要 --progress（佐证材料随整改进展提交）/ --attach goes with --progress".into()));
    }
    if args.close {
        edits.push(transition_edit(store, id, ReviewStatus::Rectified, &args.note, None, None)?);
    }
    if edits.is_empty() {
        bail!(BadInput(
            "没有要做的：请给出 --unit/--owner/--deadline/--kind/--measures、--progress 或 --close / nothing to do (see --help)"
                .into()
        ));
    }
    if let Some(role) = store.sync_value("role")? {
        xuncha_app::records::check_allowed(store, id, &edits, &role, now_ms()).map_err(|error| match error {
            xuncha_app::AppError::Forbidden(refusal) => anyhow::Error::from(NotAllowed(refusal.to_string())),
            other => anyhow::Error::from(other),
        })?;
    }
    store.edit_with_files(id, &edits, &files, now_ms())?;
    let row = ledger_row(store, id, &today)?.context("the record has no ledger")?;
    if json {
        return show::json(&row);
    }
    print_rows(&[row]);
    Ok(())
}

fn ledger_row(store: &Store, id: RecordId, today: &str) -> Result<Option<LedgerRow>> {
    let record = store.record(id)?.read();
    let Some(ledger) = record.rectification.clone() else {
        return Ok(None);
    };
    let open = record.review.status == ReviewStatus::Rectifying;
    let days_left = ledger.deadline.as_deref().and_then(|d| workflow::days_between(today, d)).filter(|_| open);
    let light = ledger.deadline.as_deref().and_then(|d| workflow::light(d, today)).filter(|_| open);
    let place = |field| record.division(field).map(|d| d.name.clone()).unwrap_or_default();
    Ok(Some(LedgerRow {
        id: record.id.to_string(),
        title: record.title_or_placeholder().to_owned(),
        township: place(xuncha_domain::Field::Township),
        village: place(xuncha_domain::Field::Village),
        status: record.review.status,
        unit: ledger.unit,
        owner: ledger.owner,
        measures: ledger.measures,
        deadline: ledger.deadline,
        kind: ledger.kind,
        overdue: days_left.is_some_and(|d| d < 0),
        days_left,
        light,
        progress: ledger.progress.len(),
    }))
}

/// `rectify list`: every problem being rectified or closed out, overdue first.
fn list(store: &Store, overdue_only: bool, today: &str, json: bool) -> Result<()> {
    let mut rows = Vec::new();
    for status in [ReviewStatus::Rectifying, ReviewStatus::Rectified] {
        let mut offset = 0;
        loop {
            let page = store.list(&ListFilter { status: Some(status), limit: 500, offset, ..ListFilter::default() })?;
            for projection in &page {
                let id: RecordId = projection.record_id.parse()?;
                if let Some(row) = ledger_row(store, id, today)? {
                    rows.push(row);
                }
            }
            if page.len() < 500 {
                break;
            }
            offset += 500;
        }
    }
    if overdue_only {
        rows.retain(|r| r.overdue);
    }
    rows.sort_by_key(|r| (r.status == ReviewStatus::Rectified, r.days_left.unwrap_or(i64::MAX), r.id.clone()));
    if json {
        return show::json(&serde_json::json!({ "today": today, "rows": rows }));
    }
    println!("整改台账 / rectification ledger (as of {today}): {} 条", rows.len());
    print_rows(&rows);
    Ok(())
}

fn print_rows(rows: &[LedgerRow]) {
    for row in rows {
        let when = match (row.status, row.days_left) {
            (ReviewStatus::Rectified, _) => "已销号".to_owned(),
            (_, Some(d)) if d < 0 => format!("逾期 {} 天", -d),
            (_, Some(d)) => format!("剩 {d} 天"),
            (_, None) => "未定时限".to_owned(),
        };
        println!(
            "{} {} {}{} [{}] 责任单位 {} · 责任人 {} · 时限 {} · {} · {} · 进展 {} 条",
            row.light.map_or("  ", |l| match l {
                Light::Green => "🟢",
                Light::Yellow => "🟡",
                Light::Red => "🔴",
            }),
            row.id,
            row.township,
            row.village,
            row.title,
            row.unit,
            row.owner,
            row.deadline.as_deref().unwrap_or("—"),
            row.kind.map_or("—", RectifyKind::zh),
            when,
            row.progress
        );
    }
}
