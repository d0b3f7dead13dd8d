//! `xuncha bench report`: the time and size of the documents that go upward — a 问题底稿
//! with six photos and the 问题清单 of 300 problems — side by side with the plain exports
//! of the same content in the same run (the record's JSON and photos deflated into one
//! file; the list as CSV), as a ratio.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use xuncha_domain::{
    ActorId, AttachmentRef, DeviceId, Division, Edit, EditContext, Field, ItemField, ItemId, ItemList, NewRecord,
    Record, RecordDoc, RecordId, RecordKind, UserId, Value,
};
use xuncha_report::{Attachments, Context, Fonts};

const T0: i64 = 1_719_900_000_000;

fn edit_context(n: i64) -> Result<EditContext> {
    Ok(EditContext {
        author: UserId::new("zhang.wei")?,
        device: DeviceId::new("bench-tablet")?,
        actor: ActorId::from([9u8; 16]),
        now_ms: T0 + n,
    })
}

fn entropy(n: u64) -> [u8; 10] {
    let mut bytes = [0u8; 10];
    bytes[..8].copy_from_slice(&n.to_be_bytes());
    bytes
}

/// A fund check of the demo kind: households, a narrative, the issue found.
fn problem(n: u64, edits: Vec<Edit>) -> Result<(Record, Vec<String>)> {
    let new = NewRecord {
        id: RecordId::new(T0 + n as i64, &entropy(n)),
        kind: RecordKind::FundCheck,
        title: format!("第{n}号 上坪村到户补贴发放检查"),
        round: "2024年第一轮".into(),
        township: Some(Division::new("330199101000", "东岭镇")),
        village: Some(Division::new("330199101001", "上坪村")),
        team: "第一巡察组".into(),
    };
    let mut doc = RecordDoc::create(&new, &edit_context(n as i64)?)?;
    let mut all = vec![
        Edit::Set { field: Field::FundName, value: Some(Value::Text("到户产业补贴".into())) },
        Edit::Set { field: Field::Allocated, value: Some(Value::Money("120000".parse()?)) },
        Edit::Narrative {
            text: "村会计将3户补助共计24,000元截留，未发放到户。经入户核实，3户均未收到补助。".repeat(3),
        },
    ];
    for h in 0..8u64 {
        all.push(Edit::InsertItem {
            list: ItemList::Beneficiaries,
            id: ItemId::new(T0 + (n * 100 + h) as i64, &entropy(n * 100 + h)),
            values: vec![
                (ItemField::Head, Value::Text(format!("农户{h}号"))),
                (ItemField::Entitled, Value::Money("8000".parse()?)),
                (ItemField::Received, Value::Money(if h < 3 { "0" } else { "8000" }.parse()?)),
            ],
        });
    }
    all.extend(edits);
    doc.apply(&all, &edit_context(n as i64 + 1)?)?;
    let heads = doc.heads().iter().map(|h| h.to_string()).collect();
    Ok((doc.read(), heads))
}

/// A phone photo: 4000 × 3000 pixels of smooth shading and sensor noise, as a JPEG of the
/// quality a phone writes (2–4 MB).
fn photo(seed: u32) -> Result<Vec<u8>> {
    let mut state = 0x9e37_79b9_u32 ^ seed;
    let picture = image::RgbImage::from_fn(4000, 3000, |x, y| {
        state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (state >> 29) as u8;
        let shade = |v: u32| (v % 256) as u8;
        image::Rgb([
            shade(x / 16 + seed * 40).wrapping_add(noise),
            shade(y / 12).wrapping_add(noise),
            shade((x + y) / 28).wrapping_add(noise),
        ])
    });
    let mut out = Vec::new();
    let encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90);
    picture.write_with_encoder(encoder)?;
    Ok(out)
}

/// The record as JSON and its photos, deflated into one file: what a plain export of the
/// same evidence costs.
fn bundled(record: &Record, photos: &Attachments) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut out = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    out.write_all(&serde_json::to_vec_pretty(record)?)?;
    for bytes in photos.values() {
        out.write_all(bytes)?;
    }
    Ok(out.finish()?)
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(bytes))
}

/// The median of `runs` timings of `work`, in milliseconds, and its last result. The
/// typesetter's caches are emptied before each run: a document is made once, cold.
fn timed<T>(runs: usize, mut work: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut times = Vec::with_capacity(runs);
    let mut last = None;
    for _ in 0..runs {
        xuncha_report::release_caches();
        let start = Instant::now();
        last = Some(work()?);
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], last.expect("at least one run")))
}

/// Runs the benchmark and prints the table (or JSON).
pub fn report(problems: usize, runs: usize, json: bool) -> Result<()> {
    let fonts = Fonts::load()?;
    eprintln!("生成测试数据 / making the data: 6 photos of 4000×3000, {problems} problems");
    let mut attachments = Attachments::new();
    let mut refs = Vec::new();
    for n in 0..6u32 {
        let bytes = photo(n)?;
        let sha256 = sha256_hex(&bytes);
        refs.push(AttachmentRef {
            sha256: sha256.clone(),
            mime: "image/jpeg".into(),
            size: bytes.len() as u64,
            caption: format!("发放清单第{}页", n + 1),
            taken_at_ms: Some(T0),
            gps: None,
        });
        attachments.insert(sha256, bytes);
    }
    let photo_bytes: usize = attachments.values().map(Vec::len).sum();
    let with_photos = refs.into_iter().map(|attachment| Edit::AddAttachment { attachment }).collect();
    let (draft_record, draft_heads) = problem(0, with_photos)?;
    let mut records = vec![(draft_record, draft_heads)];
    for n in 1..problems as u64 {
        records.push(problem(n, Vec::new())?);
    }
    let all: Vec<&Record> = records.iter().map(|(r, _)| r).collect();
    let numbers: BTreeMap<RecordId, String> = xuncha_domain::numbering::numbers(&all);
    let names = |id: &str| id.to_owned();
    let ctx = Context {
        mark: xuncha_report::DEFAULT_MARK,
        today: chrono::NaiveDate::from_ymd_opt(2024, 7, 2).expect("a date"),
        names: &names,
        numbers: &numbers,
    };
    let (record, heads) = &records[0];
    let (draft_ms, draft) = timed(runs, || Ok(xuncha_report::draft(&fonts, record, heads, &[], &attachments, &ctx)?))?;
    let (draft_json_ms, draft_json) = timed(runs, || bundled(record, &attachments))?;
    let (list_ms, list) = timed(runs, || Ok(xuncha_report::problems(&fonts, &all, &all, "2024年第一轮", &ctx)?))?;
    let rows: Vec<_> = all.iter().map(|r| xuncha_domain::project(r, T0, false)).collect();
    let (csv_ms, csv) = timed(runs, || Ok(xuncha_app::export::csv_bytes(&rows)?))?;
    let figures = serde_json::json!({
        "runs": runs,
        "draft": { "photos": 6, "photo_bytes": photo_bytes, "ms": draft_ms, "bytes": draft.bytes.len(), "pages": draft.pages,
                   "baseline_bundle_ms": draft_json_ms, "baseline_bundle_bytes": draft_json.len(), "ratio": draft_ms / draft_json_ms.max(1e-6) },
        "problems": { "problems": problems, "ms": list_ms, "bytes": list.bytes.len(), "pages": list.pages,
                      "baseline_csv_ms": csv_ms, "baseline_csv_bytes": csv.len(), "ratio": list_ms / csv_ms.max(1e-6) },
    });
    if json {
        println!("{figures}");
        return Ok(());
    }
    println!(
        "文书 / document                      time (median of {runs})   size        pages   baseline in the same run"
    );
    println!(
        "问题底稿, 6 photos ({:.1} MB)         {:>8.0} ms          {:>7.0} KB   {:>5}   record JSON and photos deflated: {:.0} ms, {} KB (×{:.1})",
        photo_bytes as f64 / 1e6,
        draft_ms,
        draft.bytes.len() as f64 / 1024.0,
        draft.pages,
        draft_json_ms,
        draft_json.len() / 1024,
        draft_ms / draft_json_ms.max(1e-6)
    );
    println!(
        "问题清单, {problems} problems              {:>8.0} ms          {:>7.0} KB   {:>5}   list as CSV: {:.2} ms, {} KB (×{:.0})",
        list_ms,
        list.bytes.len() as f64 / 1024.0,
        list.pages,
        csv_ms,
        csv.len() / 1024,
        list_ms / csv_ms.max(1e-6)
    );
    Ok(())
}
