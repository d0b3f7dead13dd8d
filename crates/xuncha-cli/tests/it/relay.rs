//! A team relay through the commands the acceptance scripts call: `xuncha relay --listen
//! ADDR` on the team lead's device database, `xuncha relay join LINK` and `xuncha relay sync`
//! on members' devices. In the demo district, 第一巡察组's inspector and deputy see each
//! other's work through the lead's relay; 北峰组's lead cannot join; when the relay closes and
//! the lead syncs at the office, the inspector's record is on the server and the inspector's
//! own sync finds nothing left to send.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use crate::common::{Device, admin, demo_office, json};

fn enrolled(data: &std::path::Path, url: &str, user: &str) -> Device {
    let device = Device::new();
    device.ok(&["init", "--user", user, "--name", user, "--device", &format!("{user}-tablet")]);
    let code = String::from_utf8(admin(data, &["enroll", user]).stdout).unwrap();
    device.ok(&["enroll", "--server", url, "--code", code.trim()]);
    device.ok(&["sync"]);
    device
}

#[test]
fn a_team_lead_relays_for_the_team_and_carries_its_work_to_the_office() {
    let dir = tempfile::tempdir().unwrap();
    let office = dir.path().join("office");
    let (server, inspector) = demo_office(&office);
    let lead = enrolled(&office, &server.url(), "demo-lead");
    let deputy = enrolled(&office, &server.url(), "demo-deputy");
    let stranger = enrolled(&office, &server.url(), "demo-lead2");

    // Not every device may open a relay.
    let out = inspector.run(&["relay", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(6), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("组长"));

    // 开启组内同步 on the lead's device: its first line names the address and the link.
    let qr = dir.path().join("relay.png");
    let mut relay = lead
        .cmd(&["relay", "--listen", "127.0.0.1:0", "--json", "--bridge-ms", "100", "--qr", qr.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(relay.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let started = json(&line);
    let link = started["link"].as_str().unwrap().to_owned();
    assert!(link.starts_with("xuncha:relay?"), "{started}");
    assert!(std::fs::read(&qr).unwrap().starts_with(b"\x89PNG"), "the QR code as a picture");

    let joined = json(&inspector.ok(&["relay", "join", &link, "--json"]));
    assert_eq!(joined["team"], started["team"]);
    deputy.ok(&["relay", "join", &link]);
    let out = stranger.run(&["relay", "join", &link]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("不是巡察组"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = stranger.run(&["relay", "sync"]);
    assert_eq!(out.status.code(), Some(4), "not joined");
    let out = inspector.run(&["relay", "join", "xuncha:enroll?server=http%3A%2F%2F127.0.0.1&code=1"]);
    assert_eq!(out.status.code(), Some(6), "not a relay code");

    // In the village: the inspector's new check reaches the deputy through the relay.
    let id = inspector.new_fund_check();
    let sent = json(&inspector.ok(&["relay", "sync", "--json"]));
    assert!(sent["sent"].as_u64().unwrap() >= 1, "{sent}");
    let received = json(&deputy.ok(&["relay", "sync", "--json"]));
    assert!(received["received"].as_u64().unwrap() >= 1, "{received}");
    assert!(deputy.ok(&["record", "show", &id]).contains("光华村危房改造资金检查"));

    // The relay closes (SIGTERM: a last pass into the lead's database), and the lead's
    // device carries the inspector's record to the office.
    let killed = std::process::Command::new("kill").args(["-TERM", &relay.id().to_string()]).status().unwrap();
    assert!(killed.success());
    assert!(relay.wait().unwrap().success());
    let synced = json(&lead.ok(&["sync", "--json"]));
    assert_eq!(synced["refused"].as_array().map(Vec::len), Some(0), "{synced}");
    let supervisor = enrolled(&office, &server.url(), "demo-supervisor");
    assert!(supervisor.ok(&["record", "show", &id]).contains("光华村危房改造资金检查"));
    let mine = json(&inspector.ok(&["sync", "--json"]));
    assert_eq!(mine["refused"].as_array().map(Vec::len), Some(0), "{mine}");
}
