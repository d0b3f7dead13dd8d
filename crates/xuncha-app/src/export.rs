//! Export of the record list: CSV for spreadsheets (one row per record, Chinese
//! headers, a BOM so spreadsheet programs read UTF-8), written whole or not at all.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{FixedOffset, TimeZone};
use xuncha_domain::{Projection, RecordKind, ReviewStatus};
use xuncha_store::{ListFilter, Store};

/// A time as inspectors read it: China Standard Time, to the minute.
pub fn time(ms: i64) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("a valid offset");
    cst.timestamp_millis_opt(ms).single().map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, then a rename.
pub fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".partial-{}", std::process::id()));
    let tmp = PathBuf::from(tmp_name);
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Every row of the index (of one kind, or all), most recently changed first.
pub fn all_rows(store: &Store, kind: Option<RecordKind>) -> xuncha_store::Result<Vec<Projection>> {
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

/// The CSV of `rows`.
pub fn csv_bytes(rows: &[Projection]) -> Result<Vec<u8>, csv::Error> {
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
                time(r.created_at_ms),
                time(r.updated_at_ms),
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
