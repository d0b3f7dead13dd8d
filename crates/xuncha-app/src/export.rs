//! Export of records: which records (a round, a team, a township, a kind, a status: the
//! store's [`RecordFilter`]) and their numbers, the record list as CSV for spreadsheets (one row per record, Chinese headers, a
//! BOM so spreadsheet programs read UTF-8), and files written whole or not at all. The
//! workbooks are in [`crate::workbook`], the media and Automerge archives in
//! [`crate::archive`].

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{FixedOffset, TimeZone};
use xuncha_domain::numbering::{self, NO_ROUND, Numbered};
use xuncha_domain::{DomainError, Projection, Record, RecordId, RecordKind, ReviewStatus};
use xuncha_store::{ListFilter, RecordFilter, Store, StoreError, TotalsFilter};

/// What went wrong exporting.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("无法生成工作簿：{0} / cannot make the workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("无法生成 CSV：{0} / cannot write the CSV: {0}")]
    Csv(#[from] csv::Error),
    #[error("无法生成压缩包：{0} / cannot write the zip archive: {0}")]
    Zip(#[from] zip::result::ZipError),
    #[error("无法生成清单：{0} / cannot write the manifest: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "无法写入 {path}：{source}；请换一个可写的位置 / cannot write {path}: {source}; choose a writable location"
    )]
    Io { path: String, source: std::io::Error },
    #[error(
        "工作表“{sheet}”有 {rows} 行，超过 Excel 的上限：请按轮次或乡镇分开导出 / the sheet {sheet} has {rows} rows, more than Excel holds; export by round or township"
    )]
    TooManyRows { sheet: &'static str, rows: usize },
    #[error("工作表的列数超过 Excel 的上限 / a sheet has more columns than Excel holds")]
    TooManyColumns,
    #[error(
        "本设备上没有乡镇“{input}”：请写乡镇的名称或 12 位代码，本设备上有：{known} / no township {input:?} on this device; give a township's name or 12-digit code, here: {known}"
    )]
    UnknownTownship { input: String, known: String },
    #[error(
        "本设备上没有巡察轮次“{input}”的记录：本设备上有：{known} / no records of the round {input:?} on this device; here: {known}"
    )]
    UnknownRound { input: String, known: String },
    #[error(
        "没有巡察组“{input}”的记录，可选的巡察组：{known} / no records of the team {input:?}; the teams there are: {known}"
    )]
    UnknownTeam { input: String, known: String },
    #[error(
        "{path} 已存在且不为空：请换一个新目录，或先清空它 / {path} exists and is not empty; choose a new folder or empty it first"
    )]
    NotEmpty { path: String },
    #[error("{path} 是文件，不是目录：--out 请给一个目录 / {path} is a file, not a folder; give a folder for --out")]
    NotAFolder { path: String },
}

impl ExportError {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ExportError + '_ {
        move |source| ExportError::Io { path: path.display().to_string(), source }
    }

    /// Whether the error is about what was asked (a filter, the destination), not the data.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ExportError::UnknownTownship { .. }
                | ExportError::UnknownRound { .. }
                | ExportError::UnknownTeam { .. }
                | ExportError::NotEmpty { .. }
                | ExportError::NotAFolder { .. }
                | ExportError::TooManyRows { .. }
        )
    }
}

/// The records an export covers, and the number (编号) of every record on the device.
#[derive(Debug, Clone, Default)]
pub struct Selected {
    /// Index rows of the selected records, most recently changed first.
    pub rows: Vec<Projection>,
    /// The number of every record on the device ([`numbers`]), so a record's number does not
    /// depend on what else is exported.
    pub numbers: BTreeMap<RecordId, String>,
}

impl Selected {
    /// A record's number.
    pub fn number(&self, id: RecordId) -> Option<String> {
        self.numbers.get(&id).cloned()
    }

    /// The rows in the order of their numbers ([`in_number_order`]).
    pub fn in_number_order(&self) -> Vec<Projection> {
        in_number_order(&self.rows, &self.numbers)
    }
}

/// `rows` in the order of their numbers: those the server numbered by round, team and
/// ordinal, then those not numbered yet by round, team and creation.
pub fn in_number_order(rows: &[Projection], numbers: &BTreeMap<RecordId, String>) -> Vec<Projection> {
    let mut keyed: Vec<_> = rows
        .iter()
        .map(|row| {
            let numbered = Numbered::of_row(row).map(|n| n.sort_key());
            let given = numbered
                .and_then(|(_, _, _, id)| numbers.get(&id))
                .filter(|n| !n.starts_with(numbering::PROVISIONAL))
                .and_then(|n| n.rsplit_once('-'))
                .and_then(|(group, ordinal)| Some((group.to_owned(), ordinal.parse::<u32>().ok()?)));
            ((given.is_none(), given, numbered), row)
        })
        .collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    keyed.into_iter().map(|(_, row)| row.clone()).collect()
}

/// The 编号 of every record of `all`, which holds every record on the device: the number the
/// server gave it, or its provisional one ([`numbering::provisional`]) while it has none. A
/// record has one number in every document and export, whatever else they cover. The one
/// place documents and exports take numbers from.
pub fn numbers(store: &Store, all: &[Projection]) -> Result<BTreeMap<RecordId, String>, StoreError> {
    let given = store.record_numbers()?;
    Ok(all
        .iter()
        .filter_map(Numbered::of_row)
        .map(|row| (row.id, numbering::number_or_provisional(&given, row.id)))
        .collect())
}

/// Selects the records `filter` picks (as [`rows`] does), with the numbers of every
/// record on the device.
pub fn select(store: &Store, filter: &RecordFilter) -> Result<Selected, ExportError> {
    let rows = rows(store, filter)?;
    Ok(Selected { rows, numbers: numbers(store, &all_rows(store, None)?)? })
}

/// The rows of the records `filter` picks ([`Store::rows_matching`]), most recently
/// changed first. When it picks none, a township, round or team that picks no record on
/// the device (a team: none of the round), and for a township or round that the device's
/// reference data does not know either, is refused with the ones there are, since a typing
/// slip would otherwise export nothing.
pub fn rows(store: &Store, filter: &RecordFilter) -> Result<Vec<Projection>, ExportError> {
    let rows = store.rows_matching(filter)?;
    if rows.is_empty() {
        check_known(store, &filter.scope)?;
    }
    Ok(rows)
}

/// Refuses a township, round or team of `scope` that picks nothing by itself (see [`rows`]).
fn check_known(store: &Store, scope: &TotalsFilter) -> Result<(), ExportError> {
    let given = |value: &Option<String>| value.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned);
    let picked = |scope: TotalsFilter| store.rows_matching(&RecordFilter::from(scope));
    if let Some(township) = given(&scope.township) {
        let known = store.division(&township)?.is_some() || !store.divisions_named(&township)?.is_empty();
        let only = TotalsFilter { township: Some(township.clone()), ..TotalsFilter::default() };
        if !known && picked(only)?.is_empty() {
            let names: BTreeSet<String> = all_rows(store, None)?
                .iter()
                .filter(|r| !r.township_code.is_empty() || !r.township_name.is_empty())
                .map(|r| format!("{}（{}）", r.township_name, r.township_code))
                .collect();
            return Err(ExportError::UnknownTownship { input: township, known: listed(names) });
        }
    }
    let round = TotalsFilter { round: given(&scope.round), ..TotalsFilter::default() };
    if let Some(name) = &round.round {
        let known = store.rounds()?.iter().any(|r| r.name == *name);
        if !known && picked(round.clone())?.is_empty() {
            let names: BTreeSet<String> = all_rows(store, None)?
                .iter()
                .map(|r| if r.round.trim().is_empty() { NO_ROUND.to_owned() } else { r.round.trim().to_owned() })
                .collect();
            return Err(ExportError::UnknownRound { input: name.clone(), known: listed(names) });
        }
    }
    if let Some(team) = given(&scope.team) {
        let of_team = TotalsFilter { team: Some(team.clone()), ..round.clone() };
        if picked(of_team)?.is_empty() {
            let names: BTreeSet<String> =
                picked(round)?.iter().map(|r| r.team.trim().to_owned()).filter(|t| !t.is_empty()).collect();
            return Err(ExportError::UnknownTeam { input: team, known: listed(names) });
        }
    }
    Ok(())
}

fn listed(names: BTreeSet<String>) -> String {
    if names.is_empty() { "（无记录）".to_owned() } else { names.into_iter().collect::<Vec<_>>().join("、") }
}

/// The whole records of `rows`, in their order; `progress` is called after each. Reading a
/// document (decompressing it, and finding which sign-offs later changes void) is most of
/// an export's time, so the rows are read in parallel, a connection of their own for each
/// core.
pub fn records(store: &Store, rows: &[Projection], progress: impl Fn() + Sync) -> Result<Vec<Record>, ExportError> {
    const PER_THREAD: usize = 100;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8).min(rows.len() / PER_THREAD);
    if threads < 2 {
        return read_records(store, rows, &progress);
    }
    let others = (1..threads).map(|_| store.open_another()).collect::<Result<Vec<Store>, _>>()?;
    let mut chunks = rows.chunks(rows.len().div_ceil(threads));
    let first = chunks.next().unwrap_or_default();
    let progress = &progress;
    std::thread::scope(|scope| {
        let workers: Vec<_> =
            chunks.zip(others).map(|(rows, store)| scope.spawn(move || read_records(&store, rows, progress))).collect();
        let mut out = read_records(store, first, progress)?;
        for worker in workers {
            out.extend(worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))?);
        }
        Ok(out)
    })
}

fn read_records(store: &Store, rows: &[Projection], progress: &impl Fn()) -> Result<Vec<Record>, ExportError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let id: RecordId = row.record_id.parse()?;
        out.push(store.record(id)?.read());
        progress();
    }
    Ok(out)
}

/// A time as inspectors read it: China Standard Time, to the minute.
pub fn time(ms: i64) -> String {
    let cst = FixedOffset::east_opt(8 * 3600).expect("a valid offset");
    cst.timestamp_millis_opt(ms).single().map_or_else(|| ms.to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, then a rename.
pub fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_whole_with(path, |file| file.write_all(bytes))
}

/// The temporary name beside `path` that a file or folder is built under.
fn partial(path: &Path) -> PathBuf {
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(format!(".partial-{}", std::process::id()));
    PathBuf::from(tmp_name)
}

/// Writes the file at `path` atomically with `write`: into a temporary file beside it,
/// synced, then renamed into place; on any error the temporary file is removed and `path`
/// is left as it was.
pub fn write_whole_with<E: From<std::io::Error>>(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> Result<(), E>,
) -> Result<(), E> {
    let tmp = partial(path);
    let written = (|| -> Result<(), E> {
        let mut file = std::fs::File::create(&tmp)?;
        write(&mut file)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Fills the folder `dir` atomically with `fill`: into a temporary folder beside it, every
/// file synced, then renamed into place. `dir` must not exist or be empty; on any error the
/// temporary folder is removed and `dir` is left as it was.
pub fn write_folder_whole<T>(dir: &Path, fill: impl FnOnce(&Path) -> Result<T, ExportError>) -> Result<T, ExportError> {
    check_empty_folder(dir)?;
    let tmp = partial(dir);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(ExportError::io(&tmp))?;
    }
    std::fs::create_dir(&tmp).map_err(ExportError::io(&tmp))?;
    let filled = (|| -> Result<T, ExportError> {
        let value = fill(&tmp)?;
        sync_folder(&tmp)?;
        if dir.exists() {
            std::fs::remove_dir(dir).map_err(ExportError::io(dir))?;
        }
        std::fs::rename(&tmp, dir).map_err(ExportError::io(dir))?;
        Ok(value)
    })();
    if filled.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    filled
}

/// Refuses a destination folder that is a file or holds anything.
pub fn check_empty_folder(dir: &Path) -> Result<(), ExportError> {
    if dir.is_file() {
        return Err(ExportError::NotAFolder { path: dir.display().to_string() });
    }
    if dir.is_dir() && std::fs::read_dir(dir).map_err(ExportError::io(dir))?.next().is_some() {
        return Err(ExportError::NotEmpty { path: dir.display().to_string() });
    }
    Ok(())
}

/// Syncs every file of `dir` and the folder itself.
fn sync_folder(dir: &Path) -> Result<(), ExportError> {
    for entry in std::fs::read_dir(dir).map_err(ExportError::io(dir))? {
        let path = entry.map_err(ExportError::io(dir))?.path();
        std::fs::File::open(&path).and_then(|f| f.sync_all()).map_err(ExportError::io(&path))?;
    }
    std::fs::File::open(dir).and_then(|f| f.sync_all()).map_err(ExportError::io(dir))
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

#[cfg(test)]
mod tests {
    use xuncha_domain::{ActorId, DeviceId, Division, Edit, NewRecord, UserId};
    use xuncha_store::{Identity, KdfParams};

    use super::*;

    const T0: i64 = 1_709_514_000_000;

    fn store(dir: &Path) -> Store {
        let identity = Identity {
            device_id: DeviceId::new("tablet-1").unwrap(),
            user_id: UserId::new("zhang.wei").unwrap(),
            user_name: "张伟".into(),
            actor: ActorId::from([5u8; 16]),
        };
        Store::create(&dir.join("device.db"), "246810", &identity, KdfParams::FAST_INSECURE).unwrap()
    }

    /// Record `n`: a kind, a township, a round and a team by `n`, created in reverse order of
    /// `n` within each team (so number order is not creation order across the device).
    fn new_record(n: usize) -> (NewRecord, Vec<Edit>, i64) {
        let (kind, township, round, team) = match n % 4 {
            0 => (RecordKind::FundCheck, ("330199101000", "东岭镇"), "2024年第一轮", "第一巡察组"),
            1 => (RecordKind::AssetCheck, ("330199101000", "东岭镇"), "2024年第一轮", "第二巡察组"),
            2 => (RecordKind::FundCheck, ("330199102000", "西溪乡"), "2024年第二轮", "第一巡察组"),
            _ => (RecordKind::Petition, ("330199102000", "西溪乡"), "", ""),
        };
        let at = T0 + 1_000_000 - i64::try_from(n).unwrap() * 1000;
        let new = NewRecord {
            id: RecordId::new(at, &[u8::try_from(n % 256).unwrap(); 10]),
            kind,
            title: format!("记录{n}"),
            round: round.into(),
            township: Some(Division::new(township.0, township.1)),
            village: None,
            team: team.into(),
        };
        (new, Vec::new(), at)
    }

    /// A filter of a township, a round and a team (`None`: any).
    fn scope(township: Option<&str>, round: Option<&str>, team: Option<&str>) -> RecordFilter {
        let text = |v: Option<&str>| v.map(str::to_owned);
        let scope =
            TotalsFilter { township: text(township), round: text(round), team: text(team), from: None, to: None };
        RecordFilter::from(scope)
    }

    #[test]
    fn selections_pick_by_round_township_kind_and_status_and_number_over_the_whole_device() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store(dir.path());
        let records: Vec<_> = (0..12).map(new_record).collect();
        store.create_records(&records).unwrap();
        // The server numbered three records of one team, in the order they reached it.
        let given: Vec<(RecordId, String)> = [(0, 1), (8, 2), (4, 3)]
            .iter()
            .map(|&(n, ordinal)| (records[n].0.id, format!("2024年第一轮-第一巡察组-{ordinal:03}")))
            .collect();
        let received =
            xuncha_store::Received { cursor: b"c", dropped: &[], reference: None, protected: None, numbers: &given };
        store.apply_sync(&[], &[], &received).unwrap();
        let all = select(&store, &RecordFilter::default()).unwrap();
        assert_eq!(all.rows.len(), 12);
        let kind = |kind, filter: RecordFilter| RecordFilter { kind: Some(kind), ..filter };
        let status = |status| RecordFilter { status: Some(status), ..RecordFilter::default() };
        // (filter, how many it picks)
        let cases = [
            (scope(None, Some("2024年第一轮"), None), 6),
            (scope(None, Some("未定轮次"), None), 3),
            (scope(Some("西溪乡"), None, None), 6),
            (scope(Some("330199101000"), None, None), 6),
            (scope(None, None, Some("第二巡察组")), 3),
            (kind(RecordKind::FundCheck, RecordFilter::default()), 6),
            (kind(RecordKind::FundCheck, scope(Some("东岭镇"), Some(" 2024年第一轮 "), None)), 3),
            (status(ReviewStatus::Draft), 12),
            (status(ReviewStatus::Submitted), 0),
        ];
        for (filter, picked) in cases {
            let selected = select(&store, &filter).unwrap();
            assert_eq!(selected.rows.len(), picked, "{filter:?}");
            // The numbers are the whole device's, whatever is picked.
            assert_eq!(selected.numbers, all.numbers, "{filter:?}");
        }
        // Number order: the server's numbers by ordinal (not creation, here the reverse of
        // n), then the records not numbered yet, each with its provisional number.
        let ordered: Vec<String> = all.in_number_order().iter().map(|r| r.title.clone()).collect();
        assert_eq!(ordered[..3], ["记录0", "记录8", "记录4"]);
        let numbers: Vec<String> =
            all.in_number_order().iter().map(|r| all.number(r.record_id.parse().unwrap()).unwrap()).collect();
        assert_eq!(
            numbers[..3],
            ["2024年第一轮-第一巡察组-001", "2024年第一轮-第一巡察组-002", "2024年第一轮-第一巡察组-003"]
        );
        assert!(numbers[3..].iter().all(|n| n.starts_with(numbering::PROVISIONAL)), "{numbers:?}");
        assert_eq!(all.number(records[1].0.id), Some(numbering::provisional(records[1].0.id)));
        assert_eq!(numbers.iter().collect::<BTreeSet<_>>().len(), 12, "a number twice: {numbers:?}");

        // A round, township or team the device has no record of is refused with the ones it
        // has (a team: those of the round).
        let unknown = select(&store, &scope(Some("北峰镇"), None, None));
        assert!(
            matches!(&unknown, Err(ExportError::UnknownTownship { known, .. }) if known == "东岭镇（330199101000）、西溪乡（330199102000）"),
            "{unknown:?}"
        );
        let unknown = select(&store, &scope(None, Some("2025年第一轮"), None));
        assert!(
            matches!(&unknown, Err(ExportError::UnknownRound { known, .. }) if known == "2024年第一轮、2024年第二轮、未定轮次"),
            "{unknown:?}"
        );
        let unknown = select(&store, &scope(None, Some("2024年第二轮"), Some("第二巡察组")));
        assert!(
            matches!(&unknown, Err(ExportError::UnknownTeam { known, .. }) if known == "第一巡察组"),
            "{unknown:?}"
        );
        // Each known, but nothing of them together: an empty selection, not a refusal.
        let none = select(
            &store,
            &RecordFilter {
                status: Some(ReviewStatus::Submitted),
                ..scope(None, Some("2024年第一轮"), Some("第一巡察组"))
            },
        );
        assert!(none.unwrap().rows.is_empty());
    }

    #[test]
    fn records_are_read_in_the_order_of_their_rows_on_every_core() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store(dir.path());
        let records: Vec<_> = (0..450).map(new_record).collect();
        store.create_records(&records).unwrap();
        let rows = select(&store, &RecordFilter::default()).unwrap().in_number_order();
        let read = std::sync::atomic::AtomicUsize::new(0);
        let got = super::records(&store, &rows, || {
            read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(read.into_inner(), rows.len());
        let ids: Vec<String> = got.iter().map(|r| r.id.to_string()).collect();
        let expected: Vec<String> = rows.iter().map(|r| r.record_id.clone()).collect();
        assert_eq!(ids, expected);
    }
}
