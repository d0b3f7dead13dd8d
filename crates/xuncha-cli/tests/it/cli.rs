//! The command line on real databases: bad input gets a clear error and changes nothing;
//! the server's data opens only with its key; the demo district reproduces the published
//! totals; export writes whole files.

use crate::common::{Device, admin, files};

fn database_files_of(all: &[(std::path::PathBuf, Vec<u8>)]) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    all.iter().filter(|(p, _)| p.to_string_lossy().contains("device.db")).cloned().collect()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn bad_input_is_refused_with_a_clear_error_and_changes_nothing() {
    let device = Device::new();
    device.init();
    let id = device.new_fund_check();
    device.ok(&["record", "edit", &id, "--set", "allocated=120000", "--narrative", "村委会发放补贴"]);
    let before = device.ok(&["record", "show", &id, "--json"]);
    // The database files as they are (a clean close leaves no WAL): refused input must
    // leave them byte for byte.
    let db_before = files(device.dir.path());

    // (arguments, exit status, words the message must contain)
    let cases: &[(&[&str], i32, &str)] = &[
        (&["record", "edit", &id, "--set", "allocated=12.345"], 6, "at most two decimals"),
        (&["record", "edit", &id, "--set", "allocated=一万"], 6, "malformed amount"),
        (&["record", "edit", &id, "--set", "disbursed=-"], 6, "malformed amount"),
        (&["record", "edit", &id, "--set", "fund_type=lottery"], 6, "household_subsidy"),
        (&["record", "edit", &id, "--set", "clue_source=patrol"], 6, "does not belong"),
        (&["record", "edit", &id, "--set", "nonsense=1"], 6, "unknown field"),
        (&["record", "edit", &id, "--set", "title"], 6, "FIELD=VALUE"),
        (&["record", "edit", &id, "--status", "closed"], 9, "cannot go from"),
        (&["record", "transition", &id, "--to", "lead_signed"], 9, "cannot go from"),
        (&["record", "transition", &id, "--to", "verified"], 2, "unknown state"),
        (&["record", "edit", &id, "--status", "submitted"], 6, "to fix before it can be submitted"),
        (&["record", "edit", "not-a-uuid", "--set", "title=x"], 6, "malformed id"),
        (&["record", "new", "--kind", "lottery"], 6, "unknown record kind"),
        (&["record", "new", "--kind", "fund_check", "--township", "东岭镇"], 6, "CODE:NAME"),
        (&["record", "show", "018e2082-6400-7261-80fe-38b5334fc767"], 4, "no record"),
        (&["export", "--format", "csv", "--out", "/nonexistent-dir/x.csv"], 6, "does not exist"),
    ];
    let photo = device.dir.path().join("photo.jpg");
    std::fs::write(&photo, vec![0xAB; 300_000]).unwrap();
    let photo = photo.to_str().unwrap().to_owned();
    let attach_then_refuse = ["record", "edit", id.as_str(), "--attach", photo.as_str(), "--status", "closed"];
    let cases: Vec<(&[&str], i32, &str)> =
        cases.iter().copied().chain([(&attach_then_refuse[..], 9, "cannot go from")]).collect();
    for (args, status, words) in &cases {
        let out = device.run(args);
        assert_eq!(out.status.code(), Some(*status), "xuncha {args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(words), "xuncha {args:?}: message lacks {words:?}: {}", stderr(&out));
    }
    let database_files = |dir: &std::path::Path| {
        files(dir).into_iter().filter(|(p, _)| p.to_string_lossy().contains("device.db")).collect::<Vec<_>>()
    };
    assert!(
        database_files(device.dir.path()) == database_files_of(&db_before),
        "refused input changed the database files"
    );
    // Export onto a path that is a folder: refused, the folder untouched.
    let folder = device.dir.path().join("out");
    std::fs::create_dir(&folder).unwrap();
    let out = device.run(&["export", "--format", "json", "--out", folder.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("choose a writable location"), "{}", stderr(&out));
    assert!(folder.is_dir() && std::fs::read_dir(&folder).unwrap().next().is_none());
    std::fs::remove_dir(&folder).unwrap();

    // A garbled line of edits: refused, and the lines before it stay committed.
    let mut child = device
        .cmd(&["record", "apply", &id, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, r#"{{"op":"add_tag","tag":"复查"}}"#).unwrap();
        writeln!(stdin, r#"{{"op":"set","field":"allocated","value":{{"money":"12.345"}}}}"#).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("committed 1"));
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
    device.ok(&["record", "edit", &id, "--untag", "复查"]);

    let after = device.ok(&["record", "show", &id, "--json"]);
    assert_eq!(before, after, "a refused edit changed the record");
    device.ok(&["verify"]);
}

#[test]
fn a_wrong_pin_or_a_damaged_database_is_refused_and_left_as_it_was() {
    let device = Device::new();
    device.init();
    let id = device.new_fund_check();
    for n in 0..30 {
        device.ok(&["record", "edit", &id, "--narrative", &"核查情况".repeat(n * 20 + 1)]);
    }
    let before = files(device.dir.path());

    let out = device.cmd(&["record", "list"]).env("XUNCHA_PIN", "999999").output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("wrong PIN"), "{}", stderr(&out));
    assert!(files(device.dir.path()) == before, "a wrong PIN changed files");

    let out =
        device.cmd(&["record", "list"]).env_remove("XUNCHA_PIN").stdin(std::process::Stdio::null()).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("XUNCHA_PIN"), "{}", stderr(&out));

    let full = std::fs::read(&device.db).unwrap();
    let truncated = &full[..full.len() * 2 / 3];
    std::fs::write(&device.db, truncated).unwrap();
    for args in [&["record", "list"][..], &["verify"][..]] {
        let out = device.run(args);
        assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
        assert!(stderr(&out).contains("damaged or truncated"), "{}", stderr(&out));
        assert!(std::fs::read(&device.db).unwrap() == truncated, "the damaged file was changed");
    }
    std::fs::write(&device.db, &full).unwrap();
    device.ok(&["verify"]);

    let out = device.run(&["record", "list", "--db", device.dir.path().join("none.db").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("xuncha init"), "{}", stderr(&out));
}

#[test]
fn the_server_data_opens_only_with_its_key_file() {
    let office = tempfile::tempdir().unwrap();
    let data = office.path().join("server");
    let out = admin(&data, &["add-user", "zhang", "--name", "张伟"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let key = std::fs::read_to_string(data.join("server.key")).unwrap();
    assert_eq!(key.trim().len(), 64, "{key}");
    let users = |key_file: &std::path::Path| {
        std::process::Command::new(env!("CARGO_BIN_EXE_xuncha"))
            .args(["admin", "users"])
            .env("XUNCHA_SERVER_DATA", &data)
            .env("XUNCHA_SERVER_KEY_FILE", key_file)
            .output()
            .unwrap()
    };

    // The key kept elsewhere (XUNCHA_SERVER_KEY_FILE) opens the data without its copy.
    let kept = office.path().join("kept.key");
    std::fs::rename(data.join("server.key"), &kept).unwrap();
    let out = users(&kept);
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("张伟"), "{}", stderr(&out));
    let before = files(&data);

    // A wrong or missing key: exit 3, a message that says what to check, nothing written.
    let wrong = office.path().join("wrong.key");
    std::fs::write(&wrong, "cd".repeat(32)).unwrap();
    for key_file in [wrong.clone(), data.join("server.key")] {
        let out = users(&key_file);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains("server.db 无法用此密钥打开"), "{}", stderr(&out));
        assert!(stderr(&out).contains("check XUNCHA_SERVER_KEY_FILE"), "{}", stderr(&out));
        assert!(files(&data) == before, "a wrong key changed the data directory");
    }
}

#[test]
fn the_demo_district_reproduces_the_published_totals_and_exports() {
    let device = Device::new();
    device.init();
    device.ok(&["demo"]);
    let totals: serde_json::Value = serde_json::from_str(&device.ok(&["totals", "--json"])).unwrap();
    assert_eq!(totals["party_members"], 10);
    assert_eq!(totals["party_members_expelled"], 6);
    assert_eq!(totals["contracts_rectified"], 1_780);
    assert_eq!(totals["land_recovered_centimu"], 220_000);
    assert_eq!(totals["income_recovered_fen"], 3_600_000_000i64);
    let records = totals["records"].as_i64().unwrap();
    assert!(records >= 90, "{records}");

    let csv_path = device.dir.path().join("district.csv");
    device.ok(&["export", "--format", "csv", "--out", csv_path.to_str().unwrap()]);
    let csv = std::fs::read_to_string(&csv_path).unwrap();
    assert_eq!(csv.lines().count() as i64, records + 1);
    assert!(csv.contains("涉黑涉恶线索") && csv.contains("上坪村"));

    let json_path = device.dir.path().join("district.json");
    device.ok(&["export", "--format", "json", "--out", json_path.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(json["records"].as_array().unwrap().len() as i64, records);

    let hits = device.ok(&["search", "截留", "--json"]);
    assert!(serde_json::from_str::<serde_json::Value>(&hits).unwrap().as_array().is_some_and(|a| !a.is_empty()));
    // The informant is never in the index.
    let clue: serde_json::Value =
        serde_json::from_str(&device.ok(&["record", "list", "--kind", "gang_clue", "--limit", "1", "--json"])).unwrap();
    let clue_id = clue[0]["record_id"].as_str().unwrap();
    let informant: serde_json::Value =
        serde_json::from_str(&device.ok(&["record", "informant", clue_id, "--json"])).unwrap();
    let name = informant["name"].as_str().unwrap();
    assert!(!name.is_empty());
    let found: Vec<serde_json::Value> = serde_json::from_str(&device.ok(&["search", name, "--json"])).unwrap();
    assert_eq!(found.len(), 0, "the informant {name} was found by search");
    device.ok(&["verify"]);
}

#[test]
fn edits_history_and_pin_change_through_the_command_line() {
    let device = Device::new();
    device.init();
    let id = device.new_fund_check();
    device.ok(&[
        "record",
        "edit",
        &id,
        "--set",
        "allocated=50,000",
        "--add-item",
        "beneficiaries",
        "head=王大福,entitled=3000,received=3000,verified=是",
    ]);
    device.ok(&["record", "edit", &id, "--set", "allocated=48000.50"]);
    let versions: serde_json::Value =
        serde_json::from_str(&device.ok(&["record", "history", &id, "--field", "allocated", "--json"])).unwrap();
    let values: Vec<&str> = versions.as_array().unwrap().iter().map(|v| v["value"].as_str().unwrap()).collect();
    assert_eq!(values, vec!["50000.00", "48000.50"]);
    assert_eq!(versions[0]["author"], "zhang.wei");
    assert_eq!(versions[0]["device"], "tablet-1");

    let photo = device.dir.path().join("receipt.jpg");
    std::fs::write(&photo, b"\xff\xd8\xff\xe0 fake jpeg bytes").unwrap();
    device.ok(&["record", "edit", &id, "--attach", photo.to_str().unwrap(), "--caption", "收据"]);
    let shown: serde_json::Value = serde_json::from_str(&device.ok(&["record", "show", &id, "--json"])).unwrap();
    let sha = shown["record"]["attachments"][0]["sha256"].as_str().unwrap().to_owned();
    let copy = device.dir.path().join("copy.jpg");
    device.ok(&["attachment", &sha, "--out", copy.to_str().unwrap()]);
    assert!(std::fs::read(&copy).unwrap() == std::fs::read(&photo).unwrap(), "the attachment came back different");

    // A camera-sized photo is stored as the app stores it: 2,560 px on the long side.
    let camera = device.dir.path().join("site.jpg");
    let pixels = image::RgbImage::from_fn(4000, 3000, |x, y| image::Rgb([(x % 251) as u8, (y % 241) as u8, 90]));
    pixels.save(&camera).unwrap();
    device.ok(&["record", "edit", &id, "--attach", camera.to_str().unwrap(), "--caption", "现场"]);
    let shown: serde_json::Value = serde_json::from_str(&device.ok(&["record", "show", &id, "--json"])).unwrap();
    let attachments = shown["record"]["attachments"].as_array().unwrap();
    let stored = attachments.iter().find(|a| a["caption"] == "现场").unwrap_or_else(|| panic!("{attachments:?}"));
    assert_eq!(stored["mime"], "image/jpeg");
    let stored_copy = device.dir.path().join("site-stored.jpg");
    device.ok(&["attachment", stored["sha256"].as_str().unwrap(), "--out", stored_copy.to_str().unwrap()]);
    let back = image::open(&stored_copy).unwrap();
    assert_eq!((back.width(), back.height()), (2560, 1920));
    assert_eq!(stored["size"].as_u64(), Some(std::fs::metadata(&stored_copy).unwrap().len()));

    let out = device.cmd(&["pin"]).env("XUNCHA_NEW_PIN", "13579246").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(device.run(&["record", "list"]).status.code(), Some(3));
    let out = device.cmd(&["record", "show", &id]).env("XUNCHA_PIN", "13579246").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("王大福"));
}

#[test]
fn the_device_prints_its_public_key_for_bundles_and_only_with_its_pin() {
    let device = Device::new();
    device.init();
    let line = device.ok(&["identity"]);
    let key = xuncha_protocol::bundle::PeerKey::parse(&line).unwrap();
    assert_eq!(line.trim(), key.to_text());
    let json: serde_json::Value = serde_json::from_str(&device.ok(&["--json", "identity"])).unwrap();
    assert_eq!(json["key"], key.to_text());
    assert_eq!((json["device_id"].as_str(), json["user_id"].as_str()), (Some("tablet-1"), Some("zhang.wei")));
    // The same key every time; another device has another.
    assert_eq!(device.ok(&["identity"]), line);
    let other = Device::new();
    other.ok(&["init", "--user", "li.na", "--name", "李娜", "--device", "tablet-2"]);
    assert_ne!(other.ok(&["identity"]), line);
    let out = device.cmd(&["identity"]).env("XUNCHA_PIN", "135790").output().unwrap();
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}
