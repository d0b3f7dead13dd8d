//! Sync bundles through the commands the acceptance scripts call, by their exact names and
//! options: `xuncha admin identity`, `xuncha admin peer add NAME --key KEY`, `xuncha admin
//! bundle export --to KEY --out FILE [--attachments]`, `xuncha admin bundle import FILE
//! [--receipt FILE]`, and the same on a device without `admin`. The demo district's office
//! feeds an air-gapped server that starts empty; a tablet feeds it straight from a file and
//! hands its records and a photo to a second tablet, which the office also sends what it may
//! read; a bundle for another side, for a stranger, or altered, is refused
//! with a clear error and its exit status.

use std::path::Path;

use crate::common::{Device, admin, admin_ok, demo_office, json};

#[test]
fn the_office_feeds_the_air_gapped_server_and_tablets_by_file() {
    let dir = tempfile::tempdir().unwrap();
    let (office, inner) = (dir.path().join("office"), dir.path().join("neiwang"));
    let (server, tablet) = demo_office(&office);
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();

    // Each server's key, the same each time; each trusts the other.
    let office_key = admin_ok(&office, &["identity"]).trim().to_owned();
    let inner_key = admin_ok(&inner, &["identity"]).trim().to_owned();
    assert!(office_key.starts_with("xuncha1:") && office_key != inner_key);
    assert_eq!(json(&admin_ok(&office, &["identity", "--json"]))["key"], office_key.as_str());
    admin_ok(&office, &["peer", "add", "内网", "--key", &inner_key]);
    admin_ok(&inner, &["peer", "add", "office", "--key", &office_key]);
    let out = admin(&inner, &["peer", "add", "again", "--key", &office_key]);
    assert_eq!(out.status.code(), Some(6), "a key trusted twice");
    let out = admin(&inner, &["peer", "add", "typo", "--key", "xuncha1:abc"]);
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("xuncha identity"), "says what a key looks like");

    // The office's records, with their photos, across the gap; the receipt comes back.
    let exported = json(&admin_ok(
        &office,
        &["bundle", "export", "--to", &inner_key, "--out", &file("office.xcb"), "--attachments", "--json"],
    ));
    let documents = exported["documents"].as_u64().unwrap();
    assert!(documents >= 20, "{exported}");
    let imported = json(&admin_ok(
        &inner,
        &["bundle", "import", &file("office.xcb"), "--receipt", &file("office-receipt.xcb"), "--json"],
    ));
    assert_eq!(imported["stored"].as_u64(), Some(documents), "{imported}");
    assert_eq!(imported["refused"].as_array().map(Vec::len), Some(0), "{imported}");
    let receipt = json(&admin_ok(&office, &["bundle", "import", &file("office-receipt.xcb"), "--json"]));
    assert_eq!(receipt["kind"], "receipt");
    assert!(receipt["acknowledged"].as_u64().unwrap() > 0);
    let peers = json(&admin_ok(&office, &["peer", "list", "--json"]));
    assert_eq!(peers[0]["acked_seq"], receipt["acknowledged"]);
    // Imported again: nothing new.
    let again = json(&admin_ok(&inner, &["bundle", "import", &file("office.xcb"), "--json"]));
    assert_eq!(again["new_changes"].as_u64(), Some(0));

    // The tablet feeds the inner server straight from a file (it is known there by the
    // office's word); the receipt marks it, so the next bundle is empty.
    let new = tablet.new_fund_check();
    let mut photo = b"\x89PNG\r\n\x1a\n".to_vec();
    photo.extend(std::iter::repeat_n(7u8, 5_000));
    std::fs::write(file("photo.png"), &photo).unwrap();
    tablet.ok(&["record", "edit", &new, "--attach", &file("photo.png")]);
    let sent = json(&tablet.ok(&[
        "bundle",
        "export",
        "--to",
        &inner_key,
        "--out",
        &file("tablet.xcb"),
        "--attachments",
        "--json",
    ]));
    assert!(sent["documents"].as_u64().unwrap() > documents, "{sent}");
    assert_eq!(sent["attachments"], 1, "{sent}");
    let stored = json(&admin_ok(&inner, &["bundle", "import", &file("tablet.xcb"), "--json"]));
    assert_eq!(stored["refused"].as_array().map(Vec::len), Some(0), "{stored}");
    assert_eq!(stored["attachments"], 1, "{stored}");
    assert_eq!(stored["receipt_file"], file("tablet.receipt.xcb"));
    let marked = json(&tablet.ok(&["bundle", "import", &file("tablet.receipt.xcb"), "--json"]));
    assert_eq!(marked["acknowledged"], sent["documents"]);
    let sent = json(&tablet.ok(&["bundle", "export", "--to", &inner_key, "--out", &file("tablet-2.xcb"), "--json"]));
    assert_eq!(sent["documents"], 0);

    // The office's bundle to a device enrolled there (the team lead's second tablet, which
    // has not synced): every record it may read.
    let second = Device::new();
    second.ok(&["init", "--user", "demo-lead", "--name", "演示组长", "--device", "tablet-9"]);
    let code = admin_ok(&office, &["enroll", "demo-lead"]).trim().to_owned();
    second.ok(&["enroll", "--server", &server.url(), "--code", &code]);
    let second_key = second.ok(&["identity"]).trim().to_owned();
    let down =
        json(&admin_ok(&office, &["bundle", "export", "--to", &second_key, "--out", &file("down.xcb"), "--json"]));
    assert!(down["documents"].as_u64().unwrap() > 0, "{down}");
    let took = json(&second.ok(&["bundle", "import", &file("down.xcb"), "--json"]));
    assert_eq!(took["merged"], down["documents"], "{took}");
    assert_eq!(took["sender"], json(&admin_ok(&office, &["identity", "--json"]))["server_id"]);

    // Tablet to tablet: the new record and its photo reach the second tablet by file.
    tablet.ok(&["bundle", "export", "--to", &second_key, "--out", &file("hand.xcb"), "--attachments"]);
    let took = json(&second.ok(&["bundle", "import", &file("hand.xcb"), "--json"]));
    assert!(took["merged"].as_u64().unwrap() >= 1, "{took}");
    assert!(second.ok(&["record", "show", &new]).contains("光华村危房改造资金检查"));
    assert_eq!(took["attachments"], 1, "{took}");
    let sha = xuncha_store::sha256_hex(&photo);
    second.ok(&["attachment", &sha, "--out", &file("photo-again.png")]);
    assert_eq!(std::fs::read(file("photo-again.png")).unwrap(), photo);
    let back = json(&tablet.ok(&["bundle", "import", &file("hand.receipt.xcb"), "--json"]));
    assert_eq!(back["acknowledged"], took["documents"]);

    // A bundle for another side, or altered, is refused and changes nothing.
    let stranger = Device::new();
    stranger.init();
    let stranger_key = stranger.ok(&["identity"]).trim().to_owned();
    let out = admin(&inner, &["bundle", "export", "--to", &stranger_key, "--out", &file("stranger.xcb")]);
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither a trusted server nor an enrolled device"));
    assert!(!Path::new(&file("stranger.xcb")).exists(), "nothing written");
    let out = admin(&office, &["bundle", "import", &file("office.xcb")]);
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("addressed to"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = stranger.run(&["bundle", "import", &file("tablet.xcb")]);
    assert_eq!(out.status.code(), Some(6));
    let mut bytes = std::fs::read(file("tablet-2.xcb")).unwrap();
    let at = bytes.len() - 40;
    bytes[at] ^= 0x20;
    std::fs::write(file("flipped.xcb"), &bytes).unwrap();
    let before = admin_ok(&inner, &["audit", "--limit", "1"]);
    let out = admin(&inner, &["bundle", "import", &file("flipped.xcb")]);
    assert_eq!(out.status.code(), Some(5), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("again"));
    assert_eq!(admin_ok(&inner, &["audit", "--limit", "1"]), before, "nothing applied, nothing logged");
    std::fs::write(file("nothing.xcb"), b"PK\x03\x04 not a bundle").unwrap();
    let out = tablet.run(&["bundle", "import", &file("nothing.xcb")]);
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains(".xcb"));
}
