//! The 巡察 workflow through the commands the acceptance scripts call, by their exact
//! names and options, against a real server: `record transition` (by code or label; a step
//! the user may not take exits 9 and says who may; an unknown state is a usage error),
//! `record transitions`, `rectify` (ledger, progress with a photo, list, 销号), `record new
//! --kind talk|petition`, `record cite`, `record sign`, and `totals --json` with its filters.

use std::path::Path;

use crate::common::{Device, ServerProcess, admin_ok, json};

/// A device of `user`, enrolled and synced.
fn tablet(data: &Path, server: &ServerProcess, user: &str) -> Device {
    let device = Device::new();
    device.ok(&["init", "--user", user, "--name", user, "--device", &format!("{user}-tablet")]);
    let code = admin_ok(data, &["enroll", user]).trim().to_owned();
    device.ok(&["enroll", "--server", &server.url(), "--code", &code]);
    device.ok(&["sync"]);
    device
}

#[test]
fn the_workflow_commands_take_a_problem_from_draft_to_close_out() {
    let office = tempfile::tempdir().unwrap();
    let data = office.path().join("server");
    let csv = office.path().join("divisions.csv");
    std::fs::write(
        &csv,
        "code,name,parent_code\n330199000000,清河区,\n330199101000,东岭镇,330199000000\n330199101001,上坪村,330199101000\n",
    )
    .unwrap();
    admin_ok(&data, &["divisions", "import", csv.to_str().unwrap()]);
    for (user, role) in [("ann", "inspector"), ("dai", "inspector"), ("lead", "team_lead"), ("sup", "supervisor")] {
        let jurisdiction = if role == "supervisor" { "district" } else { "330199000000" };
        admin_ok(&data, &["add-user", user, "--name", user, "--role", role, "--jurisdiction", jurisdiction]);
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
            "--deputy",
            "dai",
            "--members",
            "ann",
            "--villages",
            "330199101000",
        ],
    );
    let server = ServerProcess::start(&data);
    let ann = tablet(&data, &server, "ann");
    let dai = tablet(&data, &server, "dai");
    let lead = tablet(&data, &server, "lead");
    let sup = tablet(&data, &server, "sup");

    // A talk, and a fund check citing it.
    let talk = json(&ann.ok(&[
        "record",
        "new",
        "--kind",
        "talk",
        "--title",
        "与上坪村会计的个别谈话",
        "--village",
        "上坪村",
        "--set",
        "interviewee=陈会计",
        "--set",
        "talk_date=2024-03-12",
        "--set",
        "interviewers=组长、安",
        "--set",
        "recorder=安",
        "--json",
    ]))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let signature = ann.dir.path().join("signature.png");
    std::fs::write(&signature, b"\x89PNG\r\n\x1a\n signature").unwrap();
    let out = ann.run(&["record", "sign", &talk, "--as", "被谈话人", "--image", signature.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(6), "a 被谈话人 signs with a name: {}", String::from_utf8_lossy(&out.stderr));
    let signed = json(&ann.ok(&[
        "record",
        "sign",
        &talk,
        "--as",
        "被谈话人",
        "--signer",
        "陈会计",
        "--image",
        signature.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(signed["signature"]["signer"], "陈会计");
    let id = json(&ann.ok(&[
        "record",
        "new",
        "--kind",
        "fund_check",
        "--title",
        "上坪村到户补贴发放检查",
        "--village",
        "上坪村",
        "--set",
        "fund_name=到户产业补贴",
        "--set",
        "fund_type=到户补贴",
        "--set",
        "allocated=90000",
        "--json",
    ]))["id"]
        .as_str()
        .unwrap()
        .to_owned();
    ann.ok(&["record", "cite", &id, "--source", &talk]);
    ann.ok(&["record", "transition", &id, "--to", "submitted"]);

    // Not the inspector's to sign off: exit 9, saying who may; an unknown state: usage (2).
    let out = ann.run(&["record", "transition", &id, "--to", "deputy_reviewed"]);
    let message = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(9), "{message}");
    assert!(message.contains("只有副组长") && message.contains("deputy team lead"), "{message}");
    let out = ann.run(&["record", "transition", &id, "--to", "已立案"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let next = json(&ann.ok(&["record", "transitions", &id, "--json"]));
    assert_eq!(next["status"], "submitted");
    let offered: Vec<(String, bool, String)> = next["next"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["to"].as_str().unwrap().to_owned(),
                s["allowed"].as_bool().unwrap(),
                s["who"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        offered,
        [
            ("deputy_reviewed".to_owned(), false, "副组长".to_owned()),
            ("returned".to_owned(), false, "副组长或组长".to_owned()),
        ]
    );
    ann.ok(&["sync"]);

    // 副组长 returns it (a reason is required), the inspector resubmits, 副组长 审核, 组长 审签.
    dai.ok(&["sync"]);
    let out = dai.run(&["record", "transition", &id, "--to", "退回补充"]);
    assert_eq!(out.status.code(), Some(6), "{}", String::from_utf8_lossy(&out.stderr));
    dai.ok(&["record", "transition", &id, "--to", "退回补充", "--note", "缺少发放清单"]);
    dai.ok(&["sync"]);
    ann.ok(&["sync"]);
    let shown = ann.ok(&["record", "show", &id]);
    assert!(shown.contains("退回补充") && shown.contains("缺少发放清单"), "{shown}");
    ann.ok(&["record", "edit", &id, "--narrative", "已补充发放清单"]);
    ann.ok(&["record", "transition", &id, "--to", "submitted"]);
    ann.ok(&["sync"]);
    dai.ok(&["sync"]);
    dai.ok(&["record", "transition", &id, "--to", "副组长已审核", "--note", "同意"]);
    dai.ok(&["sync"]);
    lead.ok(&["sync"]);
    lead.ok(&["record", "transition", &id, "--to", "lead_signed", "--note", "同意上报"]);
    lead.ok(&["sync"]);

    // 巡察办: a conclusion is required; then rectification with its ledger.
    sup.ok(&["sync"]);
    let out = sup.run(&["record", "transition", &id, "--to", "office_approved"]);
    assert_eq!(out.status.code(), Some(6), "{}", String::from_utf8_lossy(&out.stderr));
    let approved =
        json(&sup.ok(&["record", "transition", &id, "--to", "office_approved", "--conclusion", "属实", "--json"]));
    assert_eq!(
        (approved["status"].as_str(), approved["conclusion"].as_str()),
        (Some("office_approved"), Some("confirmed"))
    );
    let ledger = json(&sup.ok(&[
        "rectify",
        &id,
        "--unit",
        "上坪村党支部",
        "--owner",
        "村支书",
        "--deadline",
        "2024-06-30",
        "--kind",
        "限期整改",
        "--measures",
        "退还少发补贴，完善公示",
        "--json",
    ]));
    assert_eq!((ledger["status"].as_str(), ledger["unit"].as_str()), (Some("rectifying"), Some("上坪村党支部")));
    sup.ok(&["sync"]);

    // The team adds progress with a photo; the ledger lists it, overdue after the deadline.
    ann.ok(&["sync"]);
    let photo = ann.dir.path().join("receipt.jpg");
    std::fs::write(&photo, vec![0xFF; 4_000]).unwrap();
    let progress =
        json(&ann.ok(&["rectify", &id, "--progress", "已退还3户补贴", "--attach", photo.to_str().unwrap(), "--json"]));
    assert_eq!(progress["progress"], 1);
    ann.ok(&["sync"]);
    let list = json(&ann.ok(&["rectify", "list", "--overdue", "--today", "2024-07-02", "--json"]));
    let rows = list["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0]["light"].as_str(), rows[0]["days_left"].as_i64()), (Some("red"), Some(-2)));
    assert!(
        json(&ann.ok(&["rectify", "list", "--overdue", "--today", "2024-06-01", "--json"]))["rows"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let out = ann.run(&["rectify", &id, "--close", "--note", "已整改"]);
    assert_eq!(
        out.status.code(),
        Some(9),
        "only the lead or the office closes out: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // 销号 by the 组长; the figures upward.
    lead.ok(&["sync"]);
    lead.ok(&["rectify", &id, "--close", "--note", "已全部退还，同意销号"]);
    lead.ok(&["sync"]);
    sup.ok(&["sync"]);
    let totals = json(&sup.ok(&["totals", "--round", "2024年第一轮", "--today", "2024-07-02", "--json"]));
    let w = &totals["workflow"];
    assert_eq!(w["problems_found"], 1);
    assert_eq!(w["problems_by_source"][0]["code"], "talk");
    assert_eq!((w["rectifying"].as_i64(), w["rectified"].as_i64(), w["overdue"].as_i64()), (Some(0), Some(1), Some(0)));
    assert_eq!(w["rectification_rate_bp"], 10_000);
    assert_eq!(w["talks"], 1);
    let none = json(&sup.ok(&["totals", "--team", "第二巡察组", "--json"]));
    assert_eq!(none["workflow"]["problems_found"], 0);
    let out = sup.run(&["totals", "--from", "2024/03/01"]);
    assert_eq!(out.status.code(), Some(6), "{}", String::from_utf8_lossy(&out.stderr));
    let shown = sup.ok(&["record", "show", &id]);
    for words in ["副组长已审核", "组长已审签", "巡察办已审核", "已销号", "核实结论 属实", "上坪村党支部"]
    {
        assert!(shown.contains(words), "{words}: {shown}");
    }
}
