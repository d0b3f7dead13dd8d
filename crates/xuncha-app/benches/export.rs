//! Export benchmarks: the workbook (XLSX) and its CSV zip of 10,000 records, side by side
//! with the record list's CSV export as the baseline, each end to end on a device database
//! (select, load the documents, render, bytes in memory), then the ratio to the baseline and
//! where the workbook's time goes.
//!
//! `cargo bench -p xuncha-app --bench export`. Set XUNCHA_BENCH_RECORDS to change the number
//! of records (default 10,000).

use std::time::{Duration, Instant};

use criterion::{Criterion, black_box};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xuncha_app::export;
use xuncha_app::workbook;
use xuncha_domain::{
    ActorId, Capacity, ContractObject, ContractStatus, DeviceId, Division, Edit, Field, FundType, ItemField, ItemId,
    ItemList, Mu, NewRecord, RecordId, RecordKind, ReviewStatus, UserId, Value, Yuan,
};
use xuncha_store::{Identity, KdfParams, RecordFilter, Store};

const PIN: &str = "246810";
const NOW: i64 = 1_735_660_800_000;
const VILLAGES: [&str; 9] = ["上坪村", "石门村", "枫林村", "溪口村", "竹坞村", "茶园村", "塘头村", "新屋村", "马岭村"];
const TEAMS: [&str; 3] = ["第一巡察组", "第二巡察组", "第三巡察组"];

fn identity() -> Identity {
    Identity {
        device_id: DeviceId::new("bench-tablet").unwrap(),
        user_id: UserId::new("bench").unwrap(),
        user_name: "基准".into(),
        actor: ActorId::from([9u8; 16]),
    }
}

fn text(field: Field, value: impl Into<String>) -> Edit {
    Edit::Set { field, value: Some(Value::Text(value.into())) }
}

fn money(yuan: i64) -> Value {
    Value::Money(Yuan::from_fen(yuan))
}

/// One record of a realistic mix: half fund checks with households, three in ten asset
/// checks with contracts, gang clues with subjects and a relation, conduct issues; fund
/// checks signed off up to the team lead.
fn record(rng: &mut StdRng, n: usize) -> (NewRecord, Vec<Edit>, i64) {
    let now = 1_709_514_000_000 + i64::try_from(n).unwrap() * 60_000;
    let v = n % VILLAGES.len();
    let township = Division::new(format!("330199{:03}000", 101 + v / 3), ["东岭镇", "西溪乡", "南塘镇"][v / 3]);
    let village = Division::new(format!("330199{:03}{:03}", 101 + v / 3, v % 3 + 1), VILLAGES[v]);
    let kind = match n % 10 {
        0..=4 => RecordKind::FundCheck,
        5..=7 => RecordKind::AssetCheck,
        8 => RecordKind::GangClue,
        _ => RecordKind::ConductIssue,
    };
    let new = NewRecord {
        id: RecordId::new(now, &rng.random()),
        kind,
        title: format!("{}{}第{n}号", village.name, kind.zh()),
        round: "2024年第一轮".into(),
        township: Some(township),
        village: Some(village),
        team: TEAMS[v / 3].into(),
    };
    let mut item = || ItemId::new(now, &rng.random());
    let mut edits = Vec::new();
    match kind {
        RecordKind::FundCheck => {
            let households: i64 = 3 + i64::try_from(n % 4).unwrap();
            let entitled = 300_000;
            edits.push(text(Field::FundName, "2023年度到户补贴"));
            edits.push(Edit::Set {
                field: Field::FundType,
                value: Some(Value::Choice(FundType::HouseholdSubsidy.code().into())),
            });
            edits.push(Edit::Set { field: Field::Allocated, value: Some(money(entitled * households)) });
            edits.push(Edit::Set { field: Field::Disbursed, value: Some(money(entitled * households - 50_000)) });
            for h in 0..households {
                edits.push(Edit::InsertItem {
                    list: ItemList::Beneficiaries,
                    id: item(),
                    values: vec![
                        (ItemField::Head, Value::Text(format!("户主{n}-{h}"))),
                        (ItemField::Entitled, money(entitled)),
                        (ItemField::Received, money(if h == 0 { entitled - 50_000 } else { entitled })),
                        (ItemField::Verified, Value::Flag(true)),
                        (ItemField::Remark, Value::Text(if h == 0 { "实领少于应享 500.00 元" } else { "" }.into())),
                    ],
                });
            }
        }
        RecordKind::AssetCheck => {
            for c in 0..(5 + n % 6) {
                edits.push(Edit::InsertItem {
                    list: ItemList::Contracts,
                    id: item(),
                    values: vec![
                        (ItemField::Number, Value::Text(format!("HT{n:05}-{c}"))),
                        (ItemField::Counterparty, Value::Text("清河绿源农业合作社".into())),
                        (ItemField::Object, Value::Choice(ContractObject::Land.code().into())),
                        (ItemField::AreaMu, Value::Area(Mu::from_hundredths(1_250 + i64::try_from(c).unwrap()))),
                        (ItemField::AnnualFee, money(1_200_000)),
                        (ItemField::TermStart, Value::Date("2016-01-01".into())),
                        (ItemField::TermEnd, Value::Date("2030-12-31".into())),
                        (ItemField::Status, Value::Choice(ContractStatus::Rectified.code().into())),
                    ],
                });
            }
            edits.push(Edit::Set { field: Field::LandRecovered, value: Some(Value::Area(Mu::from_hundredths(2_000))) });
            edits.push(Edit::Set { field: Field::IncomeRecovered, value: Some(money(3_600_000)) });
        }
        RecordKind::GangClue => {
            let (a, b) = (item(), item());
            for (id, name) in [(a, "黄丽"), (b, "胡永福")] {
                edits.push(Edit::InsertItem {
                    list: ItemList::Subjects,
                    id,
                    values: vec![
                        (ItemField::Name, Value::Text(name.into())),
                        (ItemField::PartyMember, Value::Flag(true)),
                    ],
                });
            }
            edits.push(Edit::InsertItem {
                list: ItemList::Relations,
                id: item(),
                values: vec![
                    (ItemField::From, Value::Text(b.to_string())),
                    (ItemField::To, Value::Text(a.to_string())),
                    (ItemField::Note, Value::Text("多次通风报信".into())),
                ],
            });
        }
        _ => {
            edits.push(text(Field::Subject, "郑军"));
            edits.push(text(Field::Post, "村民小组长"));
        }
    }
    edits.push(Edit::Narrative {
        text: format!("巡察组入户走访，第{n}号记录：发现村委会以“统筹使用”为由截留部分补贴，发放程序不规范。"),
    });
    (new, edits, now)
}

/// Steps that sign a fund check off up to the team lead.
fn sign_off() -> Vec<Edit> {
    [
        (ReviewStatus::Submitted, Capacity::Handler),
        (ReviewStatus::DeputyReviewed, Capacity::Deputy),
        (ReviewStatus::LeadSigned, Capacity::Lead),
    ]
    .into_iter()
    .map(|(to, capacity)| Edit::Transition { to, capacity, note: "同意".into(), conclusion: None, handover: None })
    .collect()
}

/// A device database of `count` records.
fn store(dir: &std::path::Path, count: usize) -> Store {
    let mut store = Store::create(&dir.join("bench.db"), PIN, &identity(), KdfParams::FAST_INSECURE).unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let started = Instant::now();
    let records: Vec<_> = (0..count).map(|n| record(&mut rng, n)).collect();
    for batch in records.chunks(1_000) {
        store.create_records(batch).unwrap();
    }
    for (new, _, at) in records.iter().filter(|(new, ..)| new.kind == RecordKind::FundCheck) {
        for (step, edit) in sign_off().into_iter().enumerate() {
            store.edit(new.id, &[edit], at + 1_000 * (i64::try_from(step).unwrap() + 1)).unwrap();
        }
    }
    eprintln!("built {count} records in {:.1} s", started.elapsed().as_secs_f64());
    store
}

fn csv_export(store: &Store) -> Vec<u8> {
    let selected = export::select(store, &RecordFilter::default()).unwrap();
    export::csv_bytes(&selected.rows).unwrap()
}

fn tables(store: &Store) -> Vec<workbook::Table> {
    let selected = export::select(store, &RecordFilter::default()).unwrap();
    let records = export::records(store, &selected.in_number_order(), || {}).unwrap();
    workbook::tables(&records, &|id| selected.number(id), "2025-01-01")
}

fn xlsx_export(store: &Store) -> Vec<u8> {
    workbook::xlsx(&tables(store), NOW).unwrap()
}

fn csv_zip_export(store: &Store) -> Vec<u8> {
    workbook::csv_zip(&tables(store), NOW).unwrap()
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn main() {
    let count: usize = std::env::var("XUNCHA_BENCH_RECORDS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let store = store(dir.path(), count);
    let mut criterion =
        Criterion::default().sample_size(10).measurement_time(Duration::from_secs(20)).configure_from_args();
    {
        let mut group = criterion.benchmark_group(format!("export {count} records"));
        group.bench_function("csv record list (baseline)", |b| b.iter(|| black_box(csv_export(&store))));
        group.bench_function("xlsx workbook", |b| b.iter(|| black_box(xlsx_export(&store))));
        group.bench_function("csv-zip workbook", |b| b.iter(|| black_box(csv_zip_export(&store))));
        group.finish();
    }
    criterion.final_summary();

    // The same, timed by hand for a one-table summary: medians of five runs, sizes, and the
    // workbook's time split between loading the documents and rendering.
    let time = |f: &dyn Fn() -> Vec<u8>| {
        let mut size = 0;
        let runs = (0..5)
            .map(|_| {
                let started = Instant::now();
                size = black_box(f()).len();
                started.elapsed()
            })
            .collect();
        (median(runs), size)
    };
    let (baseline, baseline_size) = time(&|| csv_export(&store));
    let (xlsx, xlsx_size) = time(&|| xlsx_export(&store));
    let (zip, zip_size) = time(&|| csv_zip_export(&store));
    let selected = export::select(&store, &RecordFilter::default()).unwrap();
    let (load, _) = time(&|| {
        let records = export::records(&store, &selected.in_number_order(), || {}).unwrap();
        vec![0; records.len()]
    });
    let rows = selected.in_number_order();
    let (one_core, _) = time(&|| {
        let read: Vec<_> = rows.iter().map(|r| store.record(r.record_id.parse().unwrap()).unwrap().read()).collect();
        vec![0; read.len()]
    });
    let (load_only, _) = time(&|| {
        let read: Vec<_> = rows.iter().map(|r| store.record(r.record_id.parse().unwrap()).unwrap()).collect();
        vec![0; read.len()]
    });
    let records = export::records(&store, &rows, || {}).unwrap();
    let (build, _) = time(&|| vec![0; workbook::tables(&records, &|id| selected.number(id), "2025-01-01").len()]);
    let loaded = tables(&store);
    let (render, _) = time(&|| workbook::xlsx(&loaded, NOW).unwrap());
    let rows: usize = loaded.iter().map(|t| t.rows.len()).sum();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("\nexport of {count} records ({rows} rows in {} sheets), medians of 5 runs:", loaded.len());
    println!("  csv record list (baseline)  {:>9.1} ms  {:>10} bytes  1.0x", ms(baseline), baseline_size);
    let ratio = |d: Duration| ms(d) / ms(baseline);
    println!("  xlsx workbook               {:>9.1} ms  {:>10} bytes  {:.1}x", ms(xlsx), xlsx_size, ratio(xlsx));
    println!("  csv-zip workbook            {:>9.1} ms  {:>10} bytes  {:.1}x", ms(zip), zip_size, ratio(zip));
    println!(
        "  of the workbook: reading the {count} documents {:.1} ms ({} threads; one thread {:.1} ms, of which \
         loading {:.1} ms), making the tables {:.1} ms, rendering the XLSX {:.1} ms",
        ms(load),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        ms(one_core),
        ms(load_only),
        ms(build),
        ms(render)
    );
}
