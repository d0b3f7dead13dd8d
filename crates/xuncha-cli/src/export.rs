//! Export to CSV (one row per record, for spreadsheets) and JSON (whole records, with
//! their problems and conflicts). The output file is written whole or not at all.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use xuncha_domain::{RecordKind, ReviewStatus, validate};
use xuncha_store::{ListFilter, Store};

use crate::args::{ExportArgs, ExportFormat};

/// Writes `bytes` to `path` atomically: a temporary file beside it, then a rename.
pub fn write_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".partial-{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(error) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(error).with_context(|| {
            format!(
                "无法写入 {}：请换一个可写的位置 / cannot write {}: choose a writable location",
                path.display(),
                path.display()
            )
        });
    }
    Ok(())
}

fn all_rows(store: &Store, kind: Option<RecordKind>) -> Result<Vec<xuncha_domain::Projection>> {
    let mut rows = Vec::new();
    let page = 1000;
    loop {
        let filter = ListFilter {
            kind,
            limit: page,
            offset: u32::try_from(rows.len()).unwrap_or(u32::MAX),
            ..ListFilter::default()
        };
        let batch = store.list(&filter)?;
        let done = batch.len() < page as usize;
        rows.extend(batch);
        if done {
            return Ok(rows);
        }
    }
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
    let rows = all_rows(store, kind)?;
    let bytes = match args.format {
        ExportFormat::Csv => csv_bytes(&rows)?,
        ExportFormat::Json => json_bytes(store, &rows)?,
    };
    write_whole(&args.out, &bytes)?;
    Ok(rows.len())
}

fn csv_bytes(rows: &[xuncha_domain::Projection]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    // A BOM so that spreadsheet programs read the Chinese text as UTF-8.
    out.extend_from_slice("\u{feff}".as_bytes());
    {
        let mut writer = csv::Writer::from_writer(&mut out);
        writer.write_record([
            "编号 id",
            "类型 kind",
            "标题 title",
            "巡察轮次 round",
            "乡镇代码",
            "乡镇",
            "村代码",
            "村",
            "巡察组 team",
            "创建人 creator",
            "审核状态 status",
            "创建时间 created",
            "更新时间 updated",
            "拨付金额(元)",
            "发放金额(元)",
            "农户数",
            "已核实农户",
            "涉及党员",
            "开除党籍",
            "合同数",
            "已整改合同",
            "收回土地(亩)",
            "增加集体收入(元/年)",
            "附件数",
            "有冲突",
            "待补问题数",
        ])?;
        for r in rows {
            let money =
                |fen: Option<i64>| fen.map(|f| xuncha_domain::Yuan::from_fen(f).to_string()).unwrap_or_default();
            writer.write_record([
                r.record_id.clone(),
                RecordKind::parse(&r.kind).map_or(r.kind.clone(), |k| k.zh().to_owned()),
                r.title.clone(),
                r.round.clone(),
                r.township_code.clone(),
                r.township_name.clone(),
                r.village_code.clone(),
                r.village_name.clone(),
                r.team.clone(),
                r.creator.clone(),
                ReviewStatus::parse(&r.status).map_or(r.status.clone(), |s| s.zh().to_owned()),
                crate::show::time(r.created_at_ms),
                crate::show::time(r.updated_at_ms),
                money(r.allocated_fen),
                money(r.disbursed_fen),
                r.households.to_string(),
                r.households_verified.to_string(),
                r.party_members.to_string(),
                r.party_members_expelled.to_string(),
                r.contracts.to_string(),
                r.contracts_rectified.to_string(),
                xuncha_domain::Mu::from_hundredths(r.land_recovered_centimu).to_string(),
                money(Some(r.income_recovered_fen)),
                r.attachment_count.to_string(),
                if r.has_conflicts { "是" } else { "否" }.to_owned(),
                r.problem_count.to_string(),
            ])?;
        }
        writer.flush()?;
    }
    Ok(out)
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
