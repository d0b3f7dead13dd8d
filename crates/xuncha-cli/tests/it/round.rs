//! The round on the command line, as an office and an inspector use it: divisions, a round,
//! a team and a 1,000-household roster written by a real spreadsheet writer; a tablet
//! enrolled from the QR code (read back by a QR decoder); villages picked by name, households
//! added from the roster, a draft withdrawn; a bad roster refused with its row and column;
//! the server's address changed only to the same server.

use std::path::Path;

use crate::common::{Device, ServerProcess, admin, admin_ok, json};

/// A valid 18-digit ID number for household `n`.
fn id_number(n: u32) -> String {
    let body = format!("33019919{:02}0101{:03}", 50 + n % 40, n % 1000);
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body.bytes().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    format!("{body}{}", b"10X98765432"[(sum % 11) as usize] as char)
}

/// A roster as the township's 一卡通 system exports it, written by rust_xlsxwriter.
fn roster_xlsx(path: &Path, households: u32, bad_amount_at: Option<u32>) {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let text = rust_xlsxwriter::Format::new().set_num_format("@");
    for (c, header) in
        ["序号", "户主", "身份证号", "一卡通/社保卡账号", "应享金额", "发放日期", "组别", "联系电话"].iter().enumerate()
    {
        sheet.write_string(0, c as u16, *header).unwrap();
    }
    for n in 0..households {
        let row = n + 1;
        sheet.write_number(row, 0, f64::from(row)).unwrap();
        sheet.write_string(row, 1, format!("户主{n:04}")).unwrap();
        sheet.write_string_with_format(row, 2, id_number(n), &text).unwrap();
        sheet.write_string_with_format(row, 3, format!("62170012{n:08}"), &text).unwrap();
        if bad_amount_at == Some(n) {
            sheet.write_string(row, 4, "三千").unwrap();
        } else {
            sheet.write_number(row, 4, f64::from(1000 + n)).unwrap();
        }
        sheet.write_string(row, 5, "2024-01-15").unwrap();
        sheet.write_string(row, 6, format!("{}组", n % 5 + 1)).unwrap();
        sheet.write_string_with_format(row, 7, format!("138{n:08}"), &text).unwrap();
    }
    book.save(path).unwrap();
}

/// Reads the QR code in a PNG with a QR decoder.
fn read_qr(path: &Path) -> String {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    let (width, height) = (info.width as usize, info.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| pixels[y * width + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code in the image");
    grids[0].decode().unwrap().1
}

#[test]
fn an_office_sets_up_a_round_and_a_tablet_works_in_it() {
    let office = tempfile::tempdir().unwrap();
    let data = office.path().join("server");
    let csv = office.path().join("divisions.csv");
    std::fs::write(
        &csv,
        "code,name,parent_code\n330199000000,清河区,\n330199101000,东岭镇,330199000000\n\
         330199101001,上坪村,330199101000\n330199101002,石门村,330199101000\n\
         330199102000,西溪乡,330199000000\n330199102001,上坪村,330199102000\n",
    )
    .unwrap();
    admin_ok(&data, &["divisions", "import", csv.to_str().unwrap()]);
    let listed = json(&admin_ok(&data, &["divisions", "list", "--under", "330199101000", "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 3);
    for (user, role) in [("ann", "inspector"), ("lead", "team_lead")] {
        admin_ok(&data, &["add-user", user, "--name", user, "--role", role, "--jurisdiction", "330199000000"]);
    }
    admin_ok(&data, &["round", "add", "--name", "2024年第一轮", "--start", "2024-03-01", "--end", "2024-05-31"]);
    admin_ok(
        &data,
        &[
            "team",
            "add",
            "--name",
            "第一巡察组",
            "--round",
            "2024年第一轮",
            "--lead",
            "lead",
            "--members",
            "ann",
            "--villages",
            "330199101000",
        ],
    );
    let roster = office.path().join("上坪村到户补贴.xlsx");
    roster_xlsx(&roster, 1_000, None);
    let imported = json(&admin_ok(
        &data,
        &["roster", "import", "--village", "330199101001", "--fund", "到户补贴", roster.to_str().unwrap(), "--json"],
    ));
    assert_eq!(imported["households"], 1_000);

    // A bad file is refused with its row and column, and the imported roster stays as it was.
    let bad = office.path().join("bad.xlsx");
    roster_xlsx(&bad, 20, Some(6));
    let out =
        admin(&data, &["roster", "import", "--village", "330199101001", "--fund", "到户补贴", bad.to_str().unwrap()]);
    let message = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{message}");
    assert!(message.contains("第 8 行 E 列") && message.contains("三千"), "{message}");

    let server = ServerProcess::start(&data);
    let png = office.path().join("ann.png");
    let enrolled = json(&admin_ok(
        &data,
        &["enroll", "ann", "--qr", "--server", &server.url(), "--qr-png", png.to_str().unwrap(), "--json"],
    ));
    let link = xuncha_protocol::EnrollLink::parse(&read_qr(&png)).expect("an enrollment link");
    assert_eq!((link.server.as_str(), link.code.as_str()), (server.url().as_str(), enrolled["code"].as_str().unwrap()));

    let tablet = Device::new();
    tablet.ok(&["init", "--user", "ann", "--name", "安", "--device", "ann-tablet"]);
    tablet.ok(&["enroll", "--server", &link.server, "--code", &link.code]);
    tablet.ok(&["sync"]);
    let reference = json(&tablet.ok(&["reference", "--json"]));
    assert_eq!(reference["teams"][0]["name"], "第一巡察组");
    let divisions: Vec<&str> =
        reference["divisions"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(divisions, ["330199000000", "330199101000", "330199101001", "330199101002"]);
    let rosters = json(&tablet.ok(&["roster", "list", "--village", "上坪村", "--json"]));
    let households = rosters[0]["households"].as_array().unwrap();
    assert_eq!(households.len(), 1_000);
    assert_eq!(households[7]["head"], "户主0007");
    assert_eq!(households[7]["entitled"], "1007.00");
    let masked = households[7]["id_number"].as_str().unwrap();
    assert!(masked.starts_with("**************") && masked.ends_with(&id_number(7)[14..]), "{masked}");

    // A village by name: the township, round and team come from the reference data.
    let id = json(&tablet.ok(&[
        "record",
        "new",
        "--kind",
        "fund_check",
        "--title",
        "到户补贴核查",
        "--village",
        "上坪村",
        "--json",
    ]))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let record = json(&tablet.ok(&["record", "show", &id, "--json"]));
    let text = record.to_string();
    for expected in ["330199101000", "东岭镇", "330199101001", "2024年第一轮", "第一巡察组"] {
        assert!(text.contains(expected), "{expected} missing from {text}");
    }
    tablet.ok(&[
        "record",
        "edit",
        &id,
        "--add-household-from-roster",
        "户主0003",
        "--add-household-from-roster",
        "户主0500",
    ]);
    let text = tablet.ok(&["record", "show", &id, "--json"]);
    assert!(text.contains("户主0003") && text.contains("1003.00") && text.contains("1500.00"), "{text}");
    let out = tablet.run(&["record", "edit", &id, "--add-household-from-roster", "无此人"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("无此人"));
    let out = tablet.run(&["record", "new", "--kind", "fund_check", "--village", "桃源村"]);
    assert_eq!(out.status.code(), Some(6), "{}", String::from_utf8_lossy(&out.stderr));
    // A name with a wrong character: the villages sharing a character are offered.
    let out = tablet.run(&["record", "new", "--kind", "fund_check", "--village", "石问村"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("石门村（330199101002"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A gang clue's relation names two of its subjects.
    let clue =
        json(&tablet.ok(&["record", "new", "--kind", "gang_clue", "--title", "线索", "--village", "石门村", "--json"]))
            ["id"]
            .as_str()
            .unwrap()
            .to_owned();
    tablet.ok(&["record", "edit", &clue, "--add-item", "subjects", "name=张某", "--add-item", "subjects", "name=李某"]);
    tablet.ok(&["record", "edit", &clue, "--add-item", "relations", "from=张某,to=李某,kind=保护伞"]);
    let shown = tablet.ok(&["record", "show", &clue]);
    assert!(!shown.contains("关系指向的人员"), "{shown}");
    let out = tablet.run(&["record", "edit", &clue, "--add-item", "relations", "from=张某,to=王某,kind=亲属"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("李某"), "{}", String::from_utf8_lossy(&out.stderr));

    // A draft created by mistake is withdrawn: gone from the list, here and on the server.
    let mistake =
        json(&tablet.ok(&["record", "new", "--kind", "conduct_issue", "--village", "石门村", "--json"]))["id"]
            .as_str()
            .unwrap()
            .to_owned();
    tablet.ok(&["record", "withdraw", &mistake]);
    let list = tablet.ok(&["record", "list", "--json"]);
    assert!(list.contains(&id) && !list.contains(&mistake), "{list}");
    tablet.ok(&["sync"]);

    // The same server at another address is accepted; another server is not.
    let other = server.url().replace("127.0.0.1", "localhost");
    tablet.ok(&["server-address", &other]);
    tablet.ok(&["sync"]);
    let stranger_dir = tempfile::tempdir().unwrap();
    admin_ok(stranger_dir.path(), &["users"]);
    let stranger = ServerProcess::start(stranger_dir.path());
    let out = tablet.run(&["server-address", &stranger.url()]);
    assert_eq!(out.status.code(), Some(6), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not the server"));
    tablet.ok(&["sync"]);
}
