//! Export to CSV (one row per record, for spreadsheets) and JSON (whole records, with
//! their problems and conflicts). The output file is written whole or not at all.

use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use xuncha_domain::{RecordKind, validate};
use xuncha_store::Store;

use crate::args::{ExportArgs, ExportFormat};

/// Writes `bytes` to `path` atomically: a temporary file beside it, then a rename.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    xuncha_app::export::write_whole(path, bytes).with_context(|| {
        format!(
            "无法写入 {}：请换一个可写的位置 / cannot write {}: choose a writable location",
            path.display(),
            path.display()
        )
    })
}

/// Exports records; returns how many.
pub fn export(store: &Store, args: &ExportArgs) -> Result<usize> {
    let kind = match &args.kind {
        Some(text) => Some(RecordKind::parse(text).ok_or_else(|| xuncha_domain::DomainError::UnknownKind {
            input: text.clone(),
            expected: RecordKind::codes(),
        })?),
        None => None,
    };
    // Refuse an unwritable destination before doing any work.
    let dir = args.out.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        anyhow::bail!(crate::commands::BadInput(format!(
            "目录 {} 不存在 / the folder {} does not exist; create it or choose another --out",
            dir.display(),
            dir.display()
        )));
    }
    let rows = xuncha_app::export::all_rows(store, kind)?;
    let bytes = match args.format {
        ExportFormat::Csv => xuncha_app::export::csv_bytes(&rows)?,
        ExportFormat::Json => json_bytes(store, &rows)?,
    };
    write_whole(&args.out, &bytes)?;
    Ok(rows.len())
}

fn json_bytes(store: &Store, rows: &[xuncha_domain::Projection]) -> Result<Vec<u8>> {
    let bar = ProgressBar::new(rows.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("导出 export {bar:40} {pos}/{len} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
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
