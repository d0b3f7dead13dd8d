//! Sync bundles through the commands the acceptance scripts call, by their exact names and
//! options: `xuncha admin identity`, `xuncha admin peer add NAME --key KEY`, `xuncha admin
//! bundle export --to KEY --out FILE [--attachments]`, `xuncha admin bundle import FILE
//! [--receipt FILE]`, and the same on a device without `admin`. The demo district's office
//! feeds an air-gapped server that starts empty; a tablet feeds it straight from a file and
//! hands its records to a second tablet; a bundle for another side, or altered, is refused
//! with a clear error and its exit status.

mod common;

use std::path::Path;

use common::{Device, admin, demo_office};

fn admin_ok(data: &Path, args: &[&str]) -> String {
    let out = admin(data, args);
    assert!(out.status.success(), "xuncha admin {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn the_office_feeds_the_air_gapped_server_and_tablets_by_file() {
    let dir = tempfile::tempdir().unwrap();
    let (office, inner) = (dir.path().join("office"), dir.path().join("neiwang"));
    let (_server, tablet) = demo_office(&office);
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
    let sent = json(&tablet.ok(&["bundle", "export", "--to", &inner_key, "--out", &file("tablet.xcb"), "--json"]));
    assert!(sent["documents"].as_u64().unwrap() > documents, "{sent}");
    let stored = json(&admin_ok(&inner, &["bundle", "import", &file("tablet.xcb"), "--json"]));
    assert_eq!(stored["refused"].as_array().map(Vec::len), Some(0), "{stored}");
    assert_eq!(stored["receipt_file"], file("tablet.receipt.xcb"));
    let marked = json(&tablet.ok(&["bundle", "import", &file("tablet.receipt.xcb"), "--json"]));
    assert_eq!(marked["acknowledged"], sent["documents"]);
    let sent = json(&tablet.ok(&["bundle", "export", "--to", &inner_key, "--out", &file("tablet-2.xcb"), "--json"]));
    assert_eq!(sent["documents"], 0);

    // Tablet to tablet: a second device (never enrolled) reads the first one's records.
    let second = Device::new();
    second.ok(&["init", "--user", "demo-lead", "--name", "演示组长", "--device", "tablet-9"]);
    let second_key = second.ok(&["identity"]).trim().to_owned();
    tablet.ok(&["bundle", "export", "--to", &second_key, "--out", &file("hand.xcb"), "--attachments"]);
    let took = json(&second.ok(&["bundle", "import", &file("hand.xcb"), "--json"]));
    assert_eq!(took["merged"], took["documents"], "{took}");
    assert!(second.ok(&["record", "show", &new]).contains("光华村危房改造资金检查"));
    let back = json(&tablet.ok(&["bundle", "import", &file("hand.receipt.xcb"), "--json"]));
    assert_eq!(back["acknowledged"], took["documents"]);

    // A bundle for another side, or altered, is refused and changes nothing.
    let out = admin(&office, &["bundle", "import", &file("office.xcb")]);
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("addressed to"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = second.run(&["bundle", "import", &file("tablet.xcb")]);
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
