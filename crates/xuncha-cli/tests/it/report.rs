//! `xuncha report …` on the demo district and on a signed problem with six photos, each PDF
//! checked with independent tools (poppler: `pdftotext`, `pdffonts`, `pdfinfo`,
//! `pdftoppm`): the title, 编号, amounts, households and signers are in its text, every
//! font is embedded, the pages are A4, and a PNG of page 1 is kept in
//! `target/report-artifacts/` for people to look at.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{Device, demo_office, json};

fn tool(name: &str, args: &[&str]) -> String {
    let out = Command::new(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{name} is needed (poppler-utils; make setup installs it): {e}"));
    assert!(out.status.success(), "{name} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// What poppler reads from a PDF: its text, its page count.
struct Checked {
    text: String,
    pages: usize,
}

fn check(pdf: &Path, artifact: &str) -> Checked {
    let path = pdf.to_str().unwrap();
    let info = tool("pdfinfo", &[path]);
    let pages: usize = info
        .lines()
        .find_map(|l| l.strip_prefix("Pages:"))
        .map(|p| p.trim().parse().unwrap())
        .unwrap_or_else(|| panic!("no page count: {info}"));
    // A4 is 595.276 × 841.89 points, upright or on its side.
    let size = info.lines().find(|l| l.starts_with("Page size:")).unwrap_or_default();
    assert!(size.contains("(A4)"), "{artifact}: not A4: {size}");
    let fonts = tool("pdffonts", &[path]);
    // Under the two header lines.
    let rows: Vec<&str> = fonts.lines().enumerate().filter(|(i, _)| *i >= 2).map(|(_, l)| l).collect();
    assert!(!rows.is_empty(), "{artifact}: no fonts: {fonts}");
    for row in &rows {
        // Columns: name, type, encoding, emb, sub, uni, object ID.
        let columns: Vec<&str> = row.split_whitespace().collect();
        let n = columns.len();
        assert_eq!(columns[n - 5], "yes", "{artifact}: a font is not embedded: {row}");
        assert_eq!(columns[n - 3], "yes", "{artifact}: a font has no Unicode map (no copy-paste): {row}");
        assert!(row.contains("NotoSerifCJK"), "{artifact}: a font other than the bundled one: {row}");
    }
    // In content order (a cell's lines together), not laid out (which interleaves cells).
    let text = tool("pdftotext", &["-raw", path, "-"]);
    // Page 1 as a PNG, kept for people to look at.
    let dir = artifacts();
    let stem = dir.join(artifact);
    tool("pdftoppm", &["-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", path, stem.to_str().unwrap()]);
    assert!(stem.with_extension("png").is_file());
    Checked { text, pages }
}

fn artifacts() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/report-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The text without the spaces and line breaks layout puts in (a long title wraps in a cell).
fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

fn assert_holds(checked: &Checked, what: &str, words: &[&str]) {
    let flat = squeezed(&checked.text);
    for word in words {
        assert!(flat.contains(&squeezed(word)), "{what}: {word:?} is not in the text:\n{}", checked.text);
    }
}

fn report(device: &Device, args: &[&str], out: &Path) -> serde_json::Value {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out.to_str().unwrap(), "--today", "2024-07-02", "--json"]);
    json(&device.ok(&all))
}

/// A PNG of `width` × `height` with a gradient seeded by `seed`.
fn picture(width: u32, height: u32, seed: u8) -> Vec<u8> {
    let mut data = Vec::with_capacity((width * height * 3) as usize);
    for y in 0..height {
        for x in 0..width {
            data.extend_from_slice(&[(x as u8).wrapping_add(seed), (y as u8).wrapping_mul(3), seed.wrapping_mul(40)]);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header().unwrap().write_image_data(&data).unwrap();
    out
}

fn listed(device: &Device, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["record", "list", "--limit", "1000", "--json"];
    all.extend_from_slice(args);
    json(&device.ok(&all)).as_array().cloned().unwrap_or_default()
}

#[test]
fn every_document_of_the_demo_district_reads_back_with_poppler() {
    let device = Device::new();
    device.init();
    device.ok(&["demo"]);
    let out = device.dir.path();

    // 问题清单 of the round: every problem's 编号 and title, in 编号 order.
    let pdf = out.join("problems.pdf");
    let written = report(&device, &["problems", "--round", "2024年第一轮"], &pdf);
    let checked = check(&pdf, "problems");
    assert_eq!(written["pages"].as_u64(), Some(checked.pages as u64));
    assert_holds(&checked, "问题清单", &["巡察发现问题清单", "2024年第一轮", "内部资料 注意保存", "共", "页"]);
    let problems: Vec<serde_json::Value> = listed(&device, &[])
        .into_iter()
        .filter(|r| !matches!(r["kind"].as_str(), Some("talk" | "petition")) && r["round"] == "2024年第一轮")
        .collect();
    assert!(!problems.is_empty());
    // This device never synced: each problem carries its provisional number (the server's
    // numbers: `a_synced_device_prints_the_numbers_the_server_gave`).
    for problem in &problems {
        let id = problem["record_id"].as_str().unwrap().parse().unwrap();
        let number = xuncha_domain::numbering::provisional(id);
        assert_holds(&checked, "问题清单", &[problem["title"].as_str().unwrap(), &number]);
    }

    // 整改台账 and the summary.
    let pdf = out.join("rectification.pdf");
    report(&device, &["rectification", "--round", "2024年第一轮"], &pdf);
    let checked = check(&pdf, "rectification");
    assert_holds(&checked, "整改台账", &["巡察整改台账", "整改单位", "整改时限"]);
    let pdf = out.join("summary.pdf");
    report(&device, &["summary", "--round", "2024年第一轮"], &pdf);
    let checked = check(&pdf, "summary");
    assert_eq!(checked.pages, 1, "the summary is one page");
    let totals = json(&device.ok(&["totals", "--round", "2024年第一轮", "--today", "2024-07-02", "--json"]));
    let found = totals["workflow"]["problems_found"].as_i64().unwrap();
    assert_holds(&checked, "情况统计表", &["巡察工作情况统计表", "发现问题", &format!("{found}个")]);

    // A fund check's 入户核查表, filled and blank: every household's name and amounts.
    let fund = listed(&device, &["--kind", "fund_check"])
        .into_iter()
        .find(|r| r["households"].as_i64().unwrap_or(0) >= 3)
        .expect("a demo fund check with households");
    let id = fund["record_id"].as_str().unwrap();
    let shown = json(&device.ok(&["record", "show", id, "--json"]));
    let households = shown["record"]["lists"]["beneficiaries"].as_array().unwrap().clone();
    let pdf = out.join("household.pdf");
    report(&device, &["household", id], &pdf);
    let checked = check(&pdf, "household");
    assert_holds(&checked, "入户核查表", &["入户核查表", "应享金额", "实领金额", "差额", "农户签名"]);
    for household in &households {
        let head = household["values"]["head"]["text"].as_str().unwrap();
        assert_holds(&checked, "入户核查表", &[head]);
        if let Some(entitled) = household["values"]["entitled"]["money"].as_str() {
            let grouped = group(entitled);
            assert_holds(&checked, "入户核查表", &[&grouped]);
        }
    }
    let pdf = out.join("household-blank.pdf");
    report(&device, &["household", id, "--blank"], &pdf);
    let checked = check(&pdf, "household-blank");
    let head = households[0]["values"]["head"]["text"].as_str().unwrap();
    assert_holds(&checked, "空白入户核查表", &[head, "核查日期"]);

    // A problem's 问题底稿 and a talk's 谈话记录.
    let problem = &problems[0];
    let id = problem["record_id"].as_str().unwrap();
    let pdf = out.join("draft.pdf");
    report(&device, &["draft", id], &pdf);
    let checked = check(&pdf, "draft");
    assert_holds(
        &checked,
        "问题底稿",
        &["问题底稿", problem["title"].as_str().unwrap(), "编制日期", "2024年7月2日", id],
    );
    let talk = listed(&device, &["--kind", "talk"]).into_iter().next().expect("a demo talk");
    let id = talk["record_id"].as_str().unwrap();
    let pdf = out.join("talk.pdf");
    let written = report(&device, &["draft", id], &pdf);
    assert_eq!(written["document"], "谈话记录");
    let checked = check(&pdf, "talk");
    assert_holds(&checked, "谈话记录", &["谈话记录", "被谈话人签名", "问：", "答："]);

    // Refusals (exit status 6) say what to do and write nothing.
    let pdf = out.join("nothing.pdf");
    // (arguments, words the message must contain)
    let refusals: &[(&[&str], &str)] = &[
        // The rounds there are.
        (&["problems", "--round", "2099年第九轮"], "2024年第一轮"),
        (&["summary", "--round", "2099年第九轮"], "2024年第一轮"),
        // The round's teams.
        (&["rectification", "--round", "2024年第一轮", "--team", "第九巡察组"], "第一巡察组"),
        (&["problems", "--round", "2024年第一轮", "--status", "已完成"], "office_approved"),
        (&["household", talk["record_id"].as_str().unwrap()], "入户核查表"),
    ];
    for (args, words) in refusals {
        let mut all = vec!["report"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--out", pdf.to_str().unwrap()]);
        let run = device.run(&all);
        let said = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(6), "{args:?}: {said}");
        assert!(said.contains(words), "{args:?}: {said}");
        assert!(!pdf.exists(), "{args:?}");
    }
}

/// `12345.60` as the documents print it: `12,345.60`.
fn group(amount: &str) -> String {
    let (whole, fraction) = amount.split_once('.').unwrap_or((amount, "00"));
    let digits: Vec<char> = whole.chars().collect();
    let mut out = String::new();
    for (i, c) in digits.iter().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(*c);
    }
    format!("{out}.{fraction:0<2}")
}

#[test]
fn a_signed_problem_with_six_photos_makes_a_full_draft() {
    let device = Device::new();
    device.init();
    let id = device.new_fund_check();
    device.ok(&[
        "record",
        "edit",
        &id,
        "--set",
        "fund_name=危房改造补助",
        "--set",
        "fund_type=危房改造",
        "--set",
        "allocated=120000",
        "--set",
        "disbursed=96000",
        "--issue",
        "截留私分",
        "--narrative",
        "村会计将3户危房改造补助共计24,000元截留，未发放到户。\n经入户核实，3户均未收到补助。",
        "--add-item",
        "beneficiaries",
        "head=王大山,entitled=8000,received=0",
        "--add-item",
        "beneficiaries",
        "head=李小梅,entitled=8000,received=0",
        "--add-item",
        "beneficiaries",
        "head=赵铁柱,entitled=8000,received=0",
    ]);
    for n in 0..6u8 {
        let photo = device.dir.path().join(format!("photo-{n}.png"));
        std::fs::write(&photo, picture(1800 + u32::from(n) * 10, 1200, n)).unwrap();
        device.ok(&[
            "record",
            "edit",
            &id,
            "--attach",
            photo.to_str().unwrap(),
            "--caption",
            &format!("发放清单第{}页", n + 1),
        ]);
    }
    let signature = device.dir.path().join("signature.png");
    std::fs::write(&signature, picture(240, 80, 200)).unwrap();
    device.ok(&["record", "sign", &id, "--as", "承办人", "--image", signature.to_str().unwrap()]);
    device.ok(&["record", "transition", &id, "--to", "submitted", "--note", "请审核"]);

    let pdf = device.dir.path().join("draft.pdf");
    let written = report(&device, &["draft", &id], &pdf);
    let checked = check(&pdf, "draft-six-photos");
    assert_eq!(written["pages"].as_u64(), Some(checked.pages as u64));
    assert!(checked.pages >= 3, "six photos take pages of their own: {}", checked.pages);
    let shown = json(&device.ok(&["record", "show", &id, "--json"]));
    let attachments = shown["record"]["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 6);
    assert_holds(
        &checked,
        "问题底稿",
        &[
            "光华村危房改造资金检查",
            "危房改造补助",
            "120,000.00",
            "96,000.00",
            "截留私分",
            "王大山",
            "李小梅",
            "赵铁柱",
            "24,000.00",
            "承办人提交",
            "张伟",
            "请审核",
            "发放清单第1页",
            "发放清单第6页",
        ],
    );
    for attachment in attachments {
        assert_holds(&checked, "支撑材料目录", &[attachment["sha256"].as_str().unwrap()]);
    }
    // The photos are in the file, downscaled: far smaller than the six originals.
    let size = std::fs::metadata(&pdf).unwrap().len();
    assert!(size < 6 * 1800 * 1200 * 3, "{size} bytes");
    let images = tool("pdfimages", &["-list", pdf.to_str().unwrap()]);
    // Under the two header lines, one line an image.
    assert!(images.lines().count() >= 2 + 7, "six photos and a signature: {images}");
}

#[test]
fn a_synced_device_prints_the_numbers_the_server_gave() {
    // The demo district's server, and its demo inspector's tablet: the demo records made
    // there and synced, numbered by the server as they arrived.
    let office = tempfile::tempdir().unwrap();
    let (server, tablet) = demo_office(&office.path().join("server"));

    let rows = listed(&tablet, &["--round", "2024年第一轮"]);
    let mut numbers = std::collections::BTreeSet::new();
    let mut problem = None;
    for row in &rows {
        let id = row["record_id"].as_str().unwrap();
        let shown = json(&tablet.ok(&["record", "show", id, "--json"]));
        let number = shown["number"].as_str().unwrap_or_else(|| panic!("{id} has no number: {shown}")).to_owned();
        assert!(number.starts_with("2024年第一轮-第") && number.contains("巡察组-"), "{number}");
        if row["kind"] == "fund_check" && problem.is_none() {
            problem = Some((id.to_owned(), number.clone()));
        }
        assert!(numbers.insert(number.clone()), "{number} twice");
    }
    // Each team counts from 001, without gaps.
    let mut teams: std::collections::BTreeMap<&str, Vec<u32>> = std::collections::BTreeMap::new();
    for number in &numbers {
        let (team, ordinal) = number.rsplit_once('-').unwrap();
        teams.entry(team).or_default().push(ordinal.parse().unwrap());
    }
    for (team, mut ordinals) in teams {
        ordinals.sort_unstable();
        assert_eq!(ordinals, (1..=u32::try_from(ordinals.len()).unwrap()).collect::<Vec<_>>(), "{team}");
    }

    // The 底稿 and the 问题清单 print them.
    let (id, number) = problem.expect("a demo fund check");
    let pdf = tablet.dir.path().join("draft.pdf");
    let written = report(&tablet, &["draft", &id], &pdf);
    assert_eq!(written["number"].as_str(), Some(number.as_str()));
    assert_holds(&check(&pdf, "draft-synced"), "问题底稿", &[&number]);
    let pdf = tablet.dir.path().join("problems.pdf");
    report(&tablet, &["problems", "--round", "2024年第一轮"], &pdf);
    assert_holds(&check(&pdf, "problems-synced"), "问题清单", &["2024年第一轮-第一巡察组-001", &number]);
    drop(server);
}
