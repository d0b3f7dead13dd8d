//! `xuncha export`: the record list as CSV, whole records as JSON, the workbook (XLSX, or
//! its tables as a zip of CSV files), the media archive and the Automerge archive, of the
//! records a round, team, township, kind and status pick (the [`Scope`] options, which
//! `xuncha report` takes too). Every output is written whole or not at all.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use xuncha_app::export::{ExportError, Selected};
use xuncha_app::{archive, workbook};
use xuncha_domain::{Projection, RecordKind, ReviewStatus, validate};
use xuncha_store::{RecordFilter, Store, TotalsFilter};

use crate::args::{ExportArgs, ExportFormat, Scope};
use crate::commands::BadInput;

/// Writes `bytes` to `path` atomically: a temporary file beside it, then a rename.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    xuncha_app::export::write_whole(path, bytes).with_context(|| cannot_write(path))
}

fn cannot_write(path: &Path) -> String {
    format!(
        "无法写入 {}：请换一个可写的位置 / cannot write {}: choose a writable location",
        path.display(),
        path.display()
    )
}

/// An export error as the command line reports it: a filter or destination that cannot be
/// used is bad input (exit status 6); store and domain errors keep their own statuses.
pub(crate) fn reported(error: ExportError) -> anyhow::Error {
    match error {
        error if error.is_bad_input() => BadInput(error.to_string()).into(),
        ExportError::Store(error) => error.into(),
        ExportError::Domain(error) => error.into(),
        error => error.into(),
    }
}

impl Scope {
    /// The store's filter of these options; an unknown kind or state is refused (exit
    /// status 6).
    pub fn filter(&self) -> Result<RecordFilter> {
        let kind = match &self.kind {
            Some(text) => Some(RecordKind::parse(text).ok_or_else(|| xuncha_domain::DomainError::UnknownKind {
                input: text.clone(),
                expected: RecordKind::codes(),
            })?),
            None => None,
        };
        let status = match &self.status {
            Some(text) => Some(ReviewStatus::parse(text).ok_or_else(|| {
                BadInput(format!(
                    "未知的审核状态 “{text}”，可选：{} / unknown state {text:?}; one of the codes or labels listed",
                    ReviewStatus::codes()
                ))
            })?),
            None => None,
        };
        let scope = TotalsFilter {
            township: self.township.clone(),
            round: self.round.clone(),
            team: self.team.clone(),
            from: None,
            to: None,
        };
        Ok(RecordFilter { scope, kind, status })
    }
}

/// Exports records; returns how many.
pub fn export(store: &Store, args: &ExportArgs) -> Result<usize> {
    let filter = args.scope.filter()?;
    // Refuse an unusable destination before doing any work.
    let dir = args.out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        anyhow::bail!(BadInput(format!(
            "目录 {} 不存在 / the folder {} does not exist; create it or choose another --out",
            dir.display(),
            dir.display()
        )));
    }
    if matches!(args.format, ExportFormat::Automerge) {
        xuncha_app::export::check_empty_folder(&args.out).map_err(reported)?;
    }
    let selected = xuncha_app::export::select(store, &filter).map_err(reported)?;
    let now = crate::now_ms();
    let count = selected.rows.len();
    match args.format {
        ExportFormat::Csv => write_whole(&args.out, &xuncha_app::export::csv_bytes(&selected.rows)?)?,
        ExportFormat::Json => write_whole(&args.out, &json_bytes(store, &selected.rows)?)?,
        ExportFormat::Xlsx | ExportFormat::CsvZip => {
            let records = records(store, &selected.in_number_order())?;
            let today = xuncha_domain::workflow::date_of_ms(now);
            let tables = workbook::tables(&records, &|id| selected.number(id), &today);
            let bytes = match args.format {
                ExportFormat::Xlsx => workbook::xlsx(&tables, now),
                _ => workbook::csv_zip(&tables, now),
            }
            .map_err(reported)?;
            write_whole(&args.out, &bytes)?;
        }
        ExportFormat::Media => media(store, &selected, &args.out, now)?,
        ExportFormat::Automerge => {
            let bar = bar(count as u64);
            let archived = selected.in_number_order().into_iter().map(|row| {
                let number = row.record_id.parse().ok().and_then(|id| selected.number(id)).unwrap_or_default();
                let record = archive::archived(store, &row, number);
                bar.inc(1);
                record
            });
            archive::automerge_folder(&args.out, archived).map_err(reported)?;
            bar.finish_and_clear();
        }
    }
    Ok(count)
}

fn media(store: &Store, selected: &Selected, out: &Path, now_ms: i64) -> Result<()> {
    let records = records(store, &selected.in_number_order())?;
    let mut fetch = archive::from_store(store);
    let mut listed = Vec::new();
    xuncha_app::export::write_whole_with(out, |file| -> Result<()> {
        let writer = std::io::BufWriter::new(file);
        let (mut writer, files) =
            archive::media_zip(writer, &records, &|id| selected.number(id), &mut fetch, now_ms).map_err(reported)?;
        writer.flush().with_context(|| cannot_write(out))?;
        listed = files;
        Ok(())
    })?;
    let missing = listed.iter().filter(|f| f.missing).count();
    println!(
        "附件 {} 个已收入{} / {} attachments archived{}",
        listed.len() - missing,
        if missing > 0 {
            format!("，{missing} 个不在本设备上（清单中注明，同步后可再导出）")
        } else {
            String::new()
        },
        listed.len() - missing,
        if missing > 0 {
            format!(", {missing} not on this device (listed as missing in manifest.csv; sync, then export again)")
        } else {
            String::new()
        },
    );
    Ok(())
}

fn bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("导出 export {bar:40} {pos}/{len} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// The whole records of `rows`, with a progress bar.
fn records(store: &Store, rows: &[Projection]) -> Result<Vec<xuncha_domain::Record>> {
    let bar = bar(rows.len() as u64);
    let records = xuncha_app::export::records(store, rows, || bar.inc(1)).map_err(reported)?;
    bar.finish_and_clear();
    Ok(records)
}

fn json_bytes(store: &Store, rows: &[Projection]) -> Result<Vec<u8>> {
    let bar = bar(rows.len() as u64);
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let id = row.record_id.parse()?;
        let mut doc = store.record(id)?;
        let record = doc.read();
        records.push(serde_json::json!({
            "record": record,
            "problems": validate(&record),
            "conflicts": doc.conflicts(),
        }));
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(serde_json::to_vec_pretty(&serde_json::json!({ "format": "xuncha-export", "version": 1, "records": records }))?)
}
