//! The change log is tamper-evident: `xuncha admin verify` passes on an honest log with a
//! signed checkpoint, and catches an edited, a deleted and a reordered entry, naming it; an
//! evidence bundle of a record verifies in another folder with no server, and fails after
//! any one-byte change.

use std::path::Path;
use std::process::Command;

use crate::common::{ServerProcess, admin, demo_office};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

#[test]
fn verify_finds_edited_deleted_and_reordered_log_entries() {
    let office = tempfile::tempdir().unwrap();
    let data = office.path().join("server");
    let (server, tablet) = demo_office(&data);
    drop(server);

    assert!(admin(&data, &["checkpoint"]).status.success());
    let honest = admin(&data, &["verify", "--json"]);
    assert!(honest.status.success(), "{}", String::from_utf8_lossy(&honest.stdout));
    let report: serde_json::Value = serde_json::from_slice(&honest.stdout).unwrap();
    assert!(report["entries"].as_u64().unwrap() > 100, "{report}");
    // One the server signed when it started, one made here.
    assert_eq!(report["checkpoints"], 2);

    // Evidence of a record with a photo, checked on "another machine": a folder with only
    // the bundle, no server data.
    let id = tablet.ok(&["record", "list", "--kind", "gang_clue", "--limit", "1", "--json"]);
    let id: serde_json::Value = serde_json::from_str(&id).unwrap();
    let id = id[0]["record_id"].as_str().unwrap().to_owned();
    let photo = tablet.dir.path().join("site.jpg");
    std::fs::write(&photo, b"\xFF\xD8 a photo of the site \xFF\xD9").unwrap();
    tablet.ok(&["record", "edit", &id, "--attach", photo.to_str().unwrap(), "--caption", "现场"]);
    let server2 = ServerProcess::start(&data);
    let url2 = server2.url();
    tablet.ok(&["server-address", &url2]);
    tablet.ok(&["sync"]);
    drop(server2);
    let elsewhere = tempfile::tempdir().unwrap();
    let bundle = elsewhere.path().join("evidence.xce");
    let out = Command::new(env!("CARGO_BIN_EXE_xuncha"))
        .args(["evidence", "export", &id, "--out", bundle.to_str().unwrap()])
        .env("XUNCHA_SERVER_DATA", &data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let verify = |file: &Path, key: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_xuncha"));
        cmd.args(["evidence", "verify", file.to_str().unwrap(), "--json"]).current_dir(elsewhere.path());
        if let Some(key) = key {
            cmd.args(["--server-key", key]);
        }
        cmd.env_remove("XUNCHA_SERVER_DATA").output().unwrap()
    };
    let good = verify(&bundle, Some(report["public_key"].as_str().unwrap()));
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    let proof: serde_json::Value = serde_json::from_slice(&good.stdout).unwrap();
    assert_eq!(proof["record"], id.as_str());
    assert_eq!(proof["attachments"], 1);
    assert!(proof["changes"].as_u64().unwrap() >= 2, "{proof}");
    // Every change carries its device's signature, verified with the key in the bundle.
    assert_eq!(proof["signed"], proof["changes"], "{proof}");
    assert_eq!(proof["unsigned"], 0, "{proof}");
    assert!(proof["signers"][0]["signing_key"].as_str().is_some_and(|k| k.len() == 64), "{proof}");
    assert_eq!(verify(&bundle, Some(&"0".repeat(64))).status.code(), Some(5));
    let original = std::fs::read(&bundle).unwrap();
    for at in [0, 1, original.len() / 3, original.len() / 2, original.len() - 1] {
        let mut bytes = original.clone();
        bytes[at] ^= 0x01;
        let changed = elsewhere.path().join(format!("changed-{at}.xce"));
        std::fs::write(&changed, bytes).unwrap();
        let out = verify(&changed, None);
        assert_eq!(out.status.code(), Some(5), "a change at byte {at} went unnoticed");
    }

    // (what an intruder does to the database, the entry verify must name)
    let cases: &[(&str, &str)] = &[
        ("UPDATE changes SET bytes = CAST(bytes || x'00' AS BLOB) WHERE seq = 5", "log entry 5 "),
        ("UPDATE changes SET device_id = 'dev-forged' WHERE seq = 9", "log entry 9 "),
        ("DELETE FROM changes WHERE seq = 7", "log entries 7 to 7 are missing"),
        (
            "UPDATE changes SET seq = -1 WHERE seq = 3; UPDATE changes SET seq = 3 WHERE seq = 4;
             UPDATE changes SET seq = 4 WHERE seq = -1",
            "log entry 3 ",
        ),
    ];
    for (n, (sql, named)) in cases.iter().enumerate() {
        let copy = office.path().join(format!("tampered-{n}"));
        copy_dir(&data, &copy);
        // (an intruder who also holds the master key: server.db is encrypted at rest)
        let key = std::fs::read_to_string(copy.join("server.key")).unwrap();
        let db = rusqlite::Connection::open(copy.join("server.db")).unwrap();
        db.execute_batch(&format!("PRAGMA key = \"x'{}'\";", key.trim())).unwrap();
        db.execute_batch(sql).unwrap();
        let out = admin(&copy, &["verify"]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(5), "{sql}: {text} {}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains(named), "{sql}: {named:?} not in {text}");
        assert!(text.contains("checkpoint"), "{sql}: the checkpoint should not hold either: {text}");
    }
}
