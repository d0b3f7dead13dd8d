//! Store benchmarks against DESIGN.md section 4: saving one edit durably (median and p99),
//! the first page of 100,000 records filtered by village, and full-text search of a
//! Chinese phrase over 100,000 records.
//!
//! `cargo bench -p xuncha-store` (or `make bench`). Set XUNCHA_BENCH_RECORDS to change the
//! size of the large database (default 100,000).

use std::time::{Duration, Instant};

use criterion::{Criterion, black_box};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use xuncha_domain::{
    ActorId, DeviceId, Division, Edit, Field, ItemField, ItemId, ItemList, NewRecord, RecordId, RecordKind, UserId,
    Value, Yuan,
};
use xuncha_store::{Identity, KdfParams, ListFilter, Store};

const PIN: &str = "246810";
const VILLAGES: [&str; 10] =
    ["上坪村", "石门村", "枫林村", "溪口村", "竹坞村", "茶园村", "塘头村", "新屋村", "马岭村", "桃源村"];
const PHRASES: [&str; 6] =
    ["截留私分危房改造补贴", "优亲厚友", "虚报冒领低保金", "村干部挪用集体资金", "吃拿卡要", "程序不规范"];

fn identity() -> Identity {
    Identity {
        device_id: DeviceId::new("bench-tablet").unwrap(),
        user_id: UserId::new("bench").unwrap(),
        user_name: "基准".into(),
        actor: ActorId::from([7u8; 16]),
    }
}

fn village(n: usize) -> (Division, Division) {
    let v = n % VILLAGES.len();
    let township = Division::new(format!("330199{:03}000", 101 + v / 4), "镇");
    let village = Division::new(format!("330199{:03}{:03}", 101 + v / 4, v + 1), VILLAGES[v]);
    (township, village)
}

fn record(rng: &mut StdRng, n: usize) -> (NewRecord, Vec<Edit>, i64) {
    let now = 1_709_514_000_000 + i64::try_from(n).unwrap() * 60_000;
    let (township, village) = village(n);
    let new = NewRecord {
        id: RecordId::new(now, &rng.random()),
        kind: RecordKind::FundCheck,
        title: format!("{}资金发放检查{n}", village.name),
        round: "2024年第一轮".into(),
        township: Some(township),
        village: Some(village),
        team: "第一巡察组".into(),
    };
    let mut edits = vec![Edit::Set {
        field: Field::Allocated,
        value: Some(Value::Money(Yuan::from_yuan(rng.random_range(1_000..90_000)))),
    }];
    for h in 0..3 {
        edits.push(Edit::InsertItem {
            list: ItemList::Beneficiaries,
            id: ItemId::new(now, &rng.random()),
            values: vec![
                (ItemField::Head, Value::Text(format!("户主{n}-{h}"))),
                (ItemField::Entitled, Value::Money(Yuan::from_yuan(3_000))),
            ],
        });
    }
    let phrase = if n.is_multiple_of(100) { PHRASES[0] } else { PHRASES[1 + n % (PHRASES.len() - 1)] };
    edits.push(Edit::Narrative { text: format!("入户核查第{n}号：发现{phrase}问题，已要求整改。") });
    (new, edits, now)
}

/// A database of `count` records, built once per run.
fn big_store(dir: &std::path::Path, count: usize) -> Store {
    let mut store = Store::create(&dir.join("big.db"), PIN, &identity(), KdfParams::FAST_INSECURE).unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let started = Instant::now();
    let mut batch = Vec::with_capacity(1_000);
    for n in 0..count {
        batch.push(record(&mut rng, n));
        if batch.len() == 1_000 {
            store.create_records(&batch).unwrap();
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.create_records(&batch).unwrap();
    }
    eprintln!("built {count} records in {:.1} s", started.elapsed().as_secs_f64());
    store
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Saves `samples` single edits durably and prints their median and p99 latency.
fn save_latency_report(store: &mut Store, id: RecordId, samples: usize) {
    let mut times = Vec::with_capacity(samples);
    let mut text = String::new();
    for n in 0..samples {
        text.push(['村', '委', '会', '补', '贴'][n % 5]);
        let started = Instant::now();
        store.edit(id, &[Edit::Narrative { text: text.clone() }], 1_709_514_000_000 + n as i64).unwrap();
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "save one edit durably ({samples} keystrokes, fsync at commit): median {:.2} ms, p99 {:.2} ms, max {:.2} ms (target p99 < 5 ms)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3
    );
}

fn main() {
    let count: usize = std::env::var("XUNCHA_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let mut criterion =
        Criterion::default().configure_from_args().sample_size(50).measurement_time(Duration::from_secs(5));

    // Saving one edit, on a small database and on the big one.
    let mut small = Store::create(&dir.path().join("small.db"), PIN, &identity(), KdfParams::FAST_INSECURE).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let (new, edits, now) = record(&mut rng, 1);
    let id = small.create_record(&new, &edits, now).unwrap();
    save_latency_report(&mut small, id, 2_000);
    let mut n = 0i64;
    criterion.bench_function("save one edit (durable)", |b| {
        b.iter(|| {
            n += 1;
            let value = Some(Value::Money(Yuan::from_fen(n)));
            small.edit(id, &[Edit::Set { field: Field::Disbursed, value }], 1_709_514_000_000 + n).unwrap()
        })
    });

    // Reading a record being typed into that carries a whole workflow trail: each step's
    // voiding is worked out from the document (the view after every keystroke).
    let step = |to, capacity, conclusion| xuncha_domain::Edit::Transition {
        to,
        capacity,
        note: "同意".into(),
        conclusion,
        handover: None,
    };
    use xuncha_domain::{Capacity as C, Conclusion, ReviewStatus as S};
    let (new, mut edits, now) = record(&mut rng, 2);
    edits.extend([
        Edit::Set { field: Field::FundName, value: Some(Value::Text("到户产业补贴".into())) },
        Edit::Set { field: Field::FundType, value: Some(Value::Choice("household_subsidy".into())) },
        step(S::Submitted, C::Handler, None),
        step(S::Returned, C::Deputy, None),
        step(S::Submitted, C::Handler, None),
        step(S::DeputyReviewed, C::Deputy, None),
        step(S::LeadSigned, C::Lead, None),
        step(S::OfficeApproved, C::Office, Some(Conclusion::Confirmed)),
    ]);
    let trail = small.create_record(&new, &edits, now).unwrap();
    let mut typed = String::new();
    criterion.bench_function("read a record with a six-step trail after a keystroke", |b| {
        b.iter(|| {
            typed.push('补');
            small.edit(trail, &[Edit::Narrative { text: typed.clone() }], now + typed.len() as i64).unwrap();
            let mut doc = small.check_out(trail).unwrap();
            let record = black_box(doc.read());
            assert!(record.review.steps.iter().all(|s| s.void));
            small.check_in(doc);
        })
    });
    criterion.bench_function("save one edit (durable), the baseline of the line above", |b| {
        b.iter(|| {
            typed.push('贴');
            small.edit(trail, &[Edit::Narrative { text: typed.clone() }], now + typed.len() as i64).unwrap()
        })
    });

    let mut big = big_store(dir.path(), count);
    let first = big.list(&ListFilter::page(1)).unwrap()[0].record_id.parse().unwrap();
    save_latency_report(&mut big, first, 500);

    let village_code = village(3).1.code;
    let filter = ListFilter { village_code: Some(village_code), limit: 50, ..ListFilter::default() };
    assert_eq!(big.list(&filter).unwrap().len(), 50);
    criterion.bench_function(&format!("list first page of {count} records filtered by village"), |b| {
        b.iter(|| black_box(big.list(black_box(&filter)).unwrap()))
    });
    let unfiltered = ListFilter::page(50);
    criterion.bench_function(&format!("list first page of {count} records"), |b| {
        b.iter(|| black_box(big.list(&unfiltered).unwrap()))
    });

    let hits = big.search(PHRASES[0], 50).unwrap().len();
    assert!(hits > 0);
    criterion.bench_function(
        &format!("search 截留私分危房改造补贴 over {count} records ({hits} hits shown)"),
        |b| b.iter(|| black_box(big.search(black_box(PHRASES[0]), 50).unwrap())),
    );
    criterion.bench_function(&format!("search 优亲厚友 over {count} records (first 50 of many)"), |b| {
        b.iter(|| black_box(big.search(black_box(PHRASES[1]), 50).unwrap()))
    });
    criterion.bench_function(&format!("search 低保 (two characters) over {count} records"), |b| {
        b.iter(|| black_box(big.search(black_box("低保"), 50).unwrap()))
    });
    criterion.bench_function(&format!("district totals over {count} records"), |b| {
        b.iter(|| black_box(big.totals(None).unwrap()))
    });
    criterion.final_summary();
}
