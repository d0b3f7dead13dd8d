//! The documents that go upward, read back by independent readers: the demo district's
//! workbook with calamine (every list's rows, amounts that add up to `xuncha totals`, no
//! formula or error anywhere), its tables as a zip of CSV files, the media archive's files
//! against their SHA-256 manifest, and the Automerge archive opened by the reference
//! JavaScript implementation and compared with `xuncha record show --json`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};
use std::path::Path;

use crate::common::Device;
use calamine::{Data, Range, Reader, Xlsx};
use xuncha_store::attachments::sha256_hex;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A device holding the demo district.
fn demo() -> Device {
    let device = Device::new();
    device.init();
    device.ok(&["demo"]);
    device
}

/// The number (编号) a record not numbered by the server yet carries.
fn provisional(id: &str) -> String {
    xuncha_domain::numbering::provisional(id.parse().unwrap())
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap()
}

/// Every record on the device, whole, from the JSON export.
fn records(device: &Device) -> Vec<serde_json::Value> {
    let path = device.dir.path().join("all.json");
    device.ok(&["export", "--format", "json", "--out", path.to_str().unwrap()]);
    let export: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    export["records"].as_array().unwrap().iter().map(|r| r["record"].clone()).collect()
}

/// A sheet read with calamine, its cells by header.
struct Sheet {
    range: Range<Data>,
    headers: Vec<String>,
}

impl Sheet {
    fn read(book: &mut Xlsx<Cursor<Vec<u8>>>, name: &str) -> Sheet {
        let range = book.worksheet_range(name).unwrap_or_else(|e| panic!("no sheet {name}: {e}"));
        let headers = range.rows().next().unwrap().iter().map(|c| c.to_string()).collect();
        Sheet { range, headers }
    }

    fn rows(&self) -> usize {
        self.range.height() - 1
    }

    fn column(&self, header: &str) -> Vec<&Data> {
        let at = self.headers.iter().position(|h| h == header).unwrap_or_else(|| panic!("no column {header}"));
        // Every row under the header row.
        self.range.rows().enumerate().filter(|(i, _)| *i > 0).map(|(_, row)| &row[at]).collect()
    }

    /// The sum of a money (or area) column in hundredths; every cell must be a number or empty.
    fn hundredths(&self, header: &str) -> i64 {
        self.column(header)
            .into_iter()
            .map(|cell| match cell {
                Data::Float(n) => (n * 100.0).round() as i64,
                Data::Int(n) => n * 100,
                Data::Empty => 0,
                other => panic!("{header} holds {other:?}, not a number"),
            })
            .sum()
    }
}

fn workbook(path: &Path) -> Xlsx<Cursor<Vec<u8>>> {
    calamine::open_workbook_from_rs(Cursor::new(std::fs::read(path).unwrap())).unwrap()
}

/// The records sheet of the workbook `xuncha export --format xlsx` writes of the records
/// `filters` pick.
fn exported_sheet(device: &Device, name: &str, filters: &[&str]) -> Sheet {
    let path = device.dir.path().join(name);
    let mut args = vec!["export", "--format", "xlsx", "--out", path.to_str().unwrap()];
    args.extend_from_slice(filters);
    device.ok(&args);
    Sheet::read(&mut workbook(&path), "记录")
}

/// What the JSON export's records hold: items per list, and the sum of a money field of
/// a list's items, in fen.
fn items(records: &[serde_json::Value], list: &str) -> usize {
    records.iter().map(|r| r["lists"][list].as_array().map_or(0, Vec::len)).sum()
}

fn item_fen(records: &[serde_json::Value], list: &str, field: &str) -> i64 {
    records
        .iter()
        .flat_map(|r| r["lists"][list].as_array().cloned().unwrap_or_default())
        .filter_map(|item| item["values"][field]["money"].as_str().map(fen))
        .sum()
}

fn fen(text: &str) -> i64 {
    let (whole, fraction) = text.split_once('.').unwrap();
    let value = whole.trim_start_matches('-').parse::<i64>().unwrap() * 100 + fraction.parse::<i64>().unwrap();
    if text.starts_with('-') { -value } else { value }
}

#[test]
fn the_demo_districts_workbook_reads_back_with_an_independent_reader_and_adds_up_to_the_totals() {
    let device = demo();
    let totals = json(&device.ok(&["totals", "--json"]));
    let records = records(&device);
    assert_eq!(records.len() as i64, totals["records"].as_i64().unwrap());
    let path = device.dir.path().join("district.xlsx");
    device.ok(&["export", "--format", "xlsx", "--out", path.to_str().unwrap()]);
    let mut book = workbook(&path);
    let names = book.sheet_names();
    assert_eq!(
        names,
        ["记录", "受益农户", "涉及人员", "人员关系", "合同", "谈话内容", "审核签批", "整改台账", "问题来源"]
    );

    // No cell anywhere holds a formula or an error.
    for name in &names {
        let formulas = book.worksheet_formula(name).unwrap();
        assert!(formulas.used_cells().all(|(_, _, f)| f.is_empty()), "the sheet {name} holds a formula");
        let cells = book.worksheet_range(name).unwrap();
        let errors: Vec<_> = cells.used_cells().filter(|(_, _, c)| matches!(c, Data::Error(_))).collect();
        assert!(errors.is_empty(), "the sheet {name} holds errors: {errors:?}");
    }

    // One row per record, one per item of every list.
    let record_sheet = Sheet::read(&mut book, "记录");
    assert_eq!(record_sheet.rows(), records.len());
    // (sheet, list in the JSON)
    for (sheet, list) in [
        ("受益农户", "beneficiaries"),
        ("涉及人员", "subjects"),
        ("人员关系", "relations"),
        ("合同", "contracts"),
        ("谈话内容", "turns"),
    ] {
        assert_eq!(Sheet::read(&mut book, sheet).rows(), items(&records, list), "{sheet}");
    }
    assert_eq!(Sheet::read(&mut book, "受益农户").rows() as i64, totals["households"].as_i64().unwrap());
    assert_eq!(Sheet::read(&mut book, "合同").rows() as i64, totals["contracts"].as_i64().unwrap());
    let steps: usize = records
        .iter()
        .map(|r| r["review"]["steps"].as_array().unwrap().len() + r["signatures"].as_array().unwrap().len())
        .sum();
    assert_eq!(Sheet::read(&mut book, "审核签批").rows(), steps);
    let ledgers = records.iter().filter(|r| !r["rectification"].is_null()).count();
    assert!(ledgers > 0);
    assert_eq!(Sheet::read(&mut book, "整改台账").rows(), ledgers);
    let citations: usize = records.iter().map(|r| r["sources"].as_array().unwrap().len()).sum();
    assert_eq!(Sheet::read(&mut book, "问题来源").rows(), citations);

    // Amounts are numbers, and add up to the district totals.
    // (column of the records sheet, total in hundredths)
    for (header, total) in [
        ("拨付金额（元）", "allocated_fen"),
        ("发放金额（元）", "disbursed_fen"),
        ("增加集体收入（元/年）", "income_recovered_fen"),
        ("收回土地（亩）", "land_recovered_centimu"),
        ("差额合计（元）", "shortfall_fen"),
    ] {
        assert_eq!(record_sheet.hundredths(header), totals[total].as_i64().unwrap(), "{header} against {total}");
    }
    assert_eq!(totals["income_recovered_fen"], 3_600_000_000i64);
    let households = Sheet::read(&mut book, "受益农户");
    assert_eq!(households.hundredths("应享金额（元）"), item_fen(&records, "beneficiaries", "entitled"));
    assert_eq!(households.hundredths("实领金额（元）"), item_fen(&records, "beneficiaries", "received"));
    let contracts = Sheet::read(&mut book, "合同");
    assert_eq!(contracts.hundredths("年承包费（元）"), item_fen(&records, "contracts", "annual_fee"));
    assert!(contracts.column("起始日期").iter().all(|c| matches!(c, Data::DateTime(d) if d.is_datetime())));
    assert!(record_sheet.column("创建时间").iter().all(|c| matches!(c, Data::DateTime(d) if d.is_datetime())));
    let ledger = Sheet::read(&mut book, "整改台账");
    assert!(ledger.column("整改时限").iter().all(|c| matches!(c, Data::DateTime(_) | Data::Empty)));

    // Every record has its own number, and the lists are keyed by it.
    let numbers: BTreeMap<String, String> = record_sheet
        .column("记录id")
        .iter()
        .zip(record_sheet.column("编号"))
        .map(|(id, number)| (id.to_string(), number.to_string()))
        .collect();
    assert_eq!(numbers.len(), records.len());
    assert_eq!(numbers.values().collect::<BTreeSet<_>>().len(), records.len(), "two records share a number");
    // This device never synced: each record carries its provisional number until the server
    // gives it one (tests/report.rs prints the server's numbers of a synced device).
    assert!(numbers.iter().all(|(id, n)| n == &provisional(id)), "{numbers:?}");
    for (id, number) in households.column("记录id").iter().zip(households.column("编号")) {
        assert_eq!(numbers[&id.to_string()], number.to_string());
    }

    // A filtered workbook holds what the filters pick, under the same numbers.
    let sheet = exported_sheet(
        &device,
        "dongling.xlsx",
        &["--kind", "扶贫资金检查", "--township", "东岭镇", "--round", "2024年第一轮"],
    );
    let picked: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["kind"] == "fund_check" && r["fields"]["township"]["division"]["name"] == "东岭镇")
        .collect();
    assert!(!picked.is_empty() && picked.len() < records.len());
    assert_eq!(sheet.rows(), picked.len());
    for (id, number) in sheet.column("记录id").iter().zip(sheet.column("编号")) {
        assert_eq!(numbers[&id.to_string()], number.to_string(), "the number changed with the filter");
    }
    // (filters, how many records they pick)
    let count = |keep: &dyn Fn(&serde_json::Value) -> bool| records.iter().filter(|r| keep(r)).count();
    let cases: [(&[&str], usize); 3] = [
        (&["--kind", "fund_check", "--township", "330199101000"], picked.len()),
        (&["--status", "整改中"], count(&|r| r["review"]["status"] == "rectifying")),
        (&["--team", "第一巡察组"], count(&|r| r["fields"]["team"]["text"] == "第一巡察组")),
    ];
    for (n, (filters, expected)) in cases.into_iter().enumerate() {
        assert!(expected > 0, "{filters:?}");
        assert_eq!(exported_sheet(&device, &format!("filtered-{n}.xlsx"), filters).rows(), expected, "{filters:?}");
    }

    // The same tables as CSV files in one zip, UTF-8 with a BOM.
    let zipped = device.dir.path().join("district.zip");
    device.ok(&["export", "--format", "csv-zip", "--out", zipped.to_str().unwrap()]);
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zipped).unwrap()).unwrap();
    assert_eq!(zip.len(), names.len());
    let mut book = workbook(&path);
    for name in &names {
        let mut text = String::new();
        zip.by_name(&format!("{name}.csv")).unwrap().read_to_string(&mut text).unwrap();
        let text = text.strip_prefix('\u{feff}').unwrap_or_else(|| panic!("{name}.csv has no BOM"));
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        let sheet = Sheet::read(&mut book, name);
        assert_eq!(rows.len(), sheet.rows(), "{name}.csv");
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), sheet.headers, "{name}.csv");
        if *name == "记录" {
            let at = sheet.headers.iter().position(|h| h == "拨付金额（元）").unwrap();
            let sum: i64 = rows.iter().map(|r| &r[at]).filter(|t| !t.is_empty()).map(fen).sum();
            assert_eq!(sum, totals["allocated_fen"].as_i64().unwrap());
        }
    }
}

#[test]
fn filters_that_match_nothing_on_the_device_are_refused_and_write_nothing() {
    let device = Device::new();
    device.init();
    device.new_fund_check();
    let out = device.dir.path().join("x.xlsx");
    let out_str = out.to_str().unwrap();
    // (arguments, exit status, words the message must contain)
    let cases: &[(&[&str], i32, &str)] = &[
        (&["--township", "北极镇"], 6, "东岭镇（330199101000）"),
        (&["--round", "2030年第九轮"], 6, "2024年第一轮"),
        (&["--status", "已完成"], 6, "office_approved"),
        (&["--kind", "lottery"], 6, "unknown record kind"),
        (&["--team", "第九巡察组"], 6, "no records of the team"),
    ];
    for (filters, status, words) in cases {
        let mut args = vec!["export", "--format", "xlsx", "--out", out_str];
        args.extend_from_slice(filters);
        let run = device.run(&args);
        assert_eq!(run.status.code(), Some(*status), "{filters:?}: {}", stderr(&run));
        assert!(stderr(&run).contains(words), "{filters:?}: {}", stderr(&run));
        assert!(!out.exists());
    }
    // 未定轮次 picks the records of no round.
    let unplaced = device.ok(&["record", "new", "--kind", "petition", "--title", "无轮次的信访件"]).trim().to_owned();
    device.ok(&["export", "--format", "xlsx", "--round", "未定轮次", "--out", out_str]);
    let sheet = Sheet::read(&mut workbook(&out), "记录");
    assert_eq!(sheet.rows(), 1);
    assert_eq!(sheet.column("记录id")[0].to_string(), unplaced);
    assert_eq!(sheet.column("编号")[0].to_string(), provisional(&unplaced));
    assert!(
        std::fs::read_dir(device.dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .contains(".partial"))
    );
}

#[test]
fn the_media_archive_holds_every_attachment_on_the_device_and_its_manifest_their_sha256() {
    let device = Device::new();
    device.init();
    let first = device.new_fund_check();
    let second = device.new_fund_check();
    let file = |name: &str, bytes: &[u8]| {
        let path = device.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let receipt = file("receipt.jpg", b"\xff\xd8\xff\xe0 a receipt");
    let contract = file("contract.pdf", b"%PDF-1.4 a contract");
    let site = file("site.png", b"\x89PNG a site");
    device.ok(&["record", "edit", &first, "--attach", &receipt, "--caption", "收据：3月/发放"]);
    device.ok(&["record", "edit", &first, "--attach", &contract, "--caption", "承包合同"]);
    device.ok(&["record", "edit", &second, "--attach", &site]);
    // A photo another device took and this one has not downloaded.
    let absent = sha256_hex(b"never downloaded");
    let edits = file(
        "edits.jsonl",
        format!(
            r#"{{"op":"add_attachment","attachment":{{"sha256":"{absent}","mime":"image/jpeg","size":16,"caption":"未下载的照片"}}}}"#
        )
        .as_bytes(),
    );
    device.ok(&["record", "apply", &second, &edits]);

    let out = device.dir.path().join("media.zip");
    let said = device.ok(&["export", "--format", "media", "--out", out.to_str().unwrap()]);
    assert!(said.contains("1 not on this device"), "{said}");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    let mut manifest = String::new();
    zip.by_name("manifest.csv").unwrap().read_to_string(&mut manifest).unwrap();
    let manifest = manifest.strip_prefix('\u{feff}').expect("the manifest has a BOM");
    let mut reader = csv::Reader::from_reader(manifest.as_bytes());
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    let mut archived = BTreeSet::new();
    for row in &rows {
        let (number, id, name, sha, status) = (&row[0], &row[1], &row[2], &row[6], &row[7]);
        assert_eq!(number, provisional(id), "{row:?}");
        assert!(id == first || id == second);
        if sha == absent {
            assert!(name.is_empty() && status.contains("missing"), "{row:?}");
            continue;
        }
        assert!(name.starts_with(&format!("{number}/")), "{name}");
        let mut bytes = Vec::new();
        zip.by_name(name).unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(sha256_hex(&bytes), sha, "{name}");
        assert_eq!(row[5].parse::<usize>().unwrap(), bytes.len(), "{name}");
        archived.insert(name.to_owned());
    }
    let names: Vec<String> = archived.into_iter().collect();
    assert_eq!(names.len(), 3);
    assert!(names.iter().any(|n| n.ends_with("/01-承包合同.pdf")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("/02-收据：3月_发放.jpg")), "{names:?}");
    let site_name = format!("/01-{}.png", &sha256_hex(b"\x89PNG a site")[..16]);
    assert!(names.iter().any(|n| n.ends_with(&site_name)), "{names:?}");
    assert_eq!(zip.len(), 4);
}

/// The JavaScript check's folder, when Node.js is here; `None` (with the reason printed)
/// when it is not.
fn automerge_check() -> Option<std::path::PathBuf> {
    if std::process::Command::new("node").arg("--version").output().is_err() {
        eprintln!("skipped: node is not installed, so the archive cannot be opened with @automerge/automerge");
        return None;
    }
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/automerge-check");
    assert!(
        tool.join("node_modules/@automerge/automerge").is_dir(),
        "@automerge/automerge is not installed: run make unit, or npm ci --prefix tools/automerge-check"
    );
    Some(tool)
}

#[test]
fn the_automerge_archive_opens_in_automerge_js_with_the_values_record_show_prints() {
    let Some(tool) = automerge_check() else { return };
    let device = demo();
    let dir = device.dir.path().join("archive");
    device.ok(&["export", "--format", "automerge", "--out", dir.to_str().unwrap()]);
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let entries = manifest["records"].as_array().unwrap();
    let totals = json(&device.ok(&["totals", "--json"]));
    assert_eq!(entries.len() as i64, totals["records"].as_i64().unwrap());
    // `record show --json` as it printed it, each under its id (the text is not parsed and
    // written again here: that would round GPS coordinates in their last digit).
    let shown: Vec<String> = entries
        .iter()
        .map(|entry| {
            let id = entry["record_id"].as_str().unwrap();
            format!("{}: {}", serde_json::Value::from(id), device.ok(&["record", "show", id, "--json"]))
        })
        .collect();
    let expected = format!("{{{}}}", shown.join(",\n"));
    let protected = entries.iter().filter(|e| !e["protected_file"].is_null()).count();
    assert!(protected > 0, "the demo's informants have no protected companion in the archive");
    let expected_path = device.dir.path().join("expected.json");
    std::fs::write(&expected_path, &expected).unwrap();

    let check = |expected: &Path| {
        std::process::Command::new("node").arg(tool.join("check.mjs")).arg(&dir).arg(expected).output().unwrap()
    };
    let out = check(&expected_path);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("{} documents and {protected} protected companions", entries.len())), "{said}");

    // The check sees a difference when there is one.
    let narrative = json(shown[0].split_once(": ").unwrap().1)["record"]["narrative"].as_str().unwrap().to_owned();
    assert!(!narrative.is_empty());
    let changed = expected.replacen(&narrative, "改过的情况描述", 1);
    std::fs::write(&expected_path, changed).unwrap();
    let out = check(&expected_path);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("the narrative differs"), "{}", stderr(&out));

    // A folder that already holds something is refused, and left as it was.
    let before = crate::common::files(&dir);
    let again = device.run(&["export", "--format", "automerge", "--out", dir.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(6), "{}", stderr(&again));
    assert!(stderr(&again).contains("not empty"), "{}", stderr(&again));
    assert!(crate::common::files(&dir) == before, "the refused export changed the folder");
}
