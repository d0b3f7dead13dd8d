//! What reaches an inspector: the 副组长 returns a record (退回补充) with a reason, and the
//! inspector's next sync marks that record, and counts it for the records tab, until they
//! open it; their own steps never count. The review queue shows who submitted and when,
//! oldest first; a record the server refused is listed with why.

use xuncha_app::dto::ListQuery;
use xuncha_app::records;
use xuncha_domain::*;
use xuncha_protocol::Role;
use xuncha_store::ListSort;
use xuncha_tests::{Device, District, EAST, new_record};

fn transition(device: &Device, role: Role, id: RecordId, to: ReviewStatus, note: &str) -> Edit {
    let record = device.store.record(id).unwrap().read();
    let standing = xuncha_app::reference::standing(&device.store, records::reader(role.code()), &record).unwrap();
    workflow::transition(standing, &record, to, note, None, None).unwrap_or_else(|r| panic!("{to:?}: {r}"))
}

/// A fund check with what submitting needs.
fn fund(device: &mut Device, title: &str, seed: u8) -> RecordId {
    let set = |field: Field, text: &str| Edit::Set { field, value: Some(field.parse_value(text).unwrap()) };
    device.create(
        &new_record(RecordKind::FundCheck, title, EAST, seed),
        &[
            set(Field::FundName, "到户产业补贴"),
            set(Field::FundType, "household_subsidy"),
            set(Field::Allocated, "90000"),
        ],
    )
}

fn synced(district: &District, device: &mut Device) {
    let report = district.sync(device).unwrap();
    assert!(report.refused.is_empty(), "{}: {:?}", device.name, report.refused);
}

fn page(device: &Device, query: ListQuery) -> xuncha_app::dto::ListPage {
    records::list(&device.store, &ListQuery { limit: 50, ..query }, "inspector", "2026-12-02").unwrap()
}

#[test]
fn a_returned_record_is_news_to_its_inspector_until_opened() {
    let district = District::start();
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    let mut zhao = district.device("zhao", Role::Inspector, EAST.0);
    let _lead = district.device("wang", Role::TeamLead, EAST.0);
    district.set_up_round("wang", &["zhao"], &["zhang"]);
    synced(&district, &mut zhang);
    synced(&district, &mut zhao);

    let first = fund(&mut zhang, "第一村到户补贴发放检查", 1);
    let second = fund(&mut zhang, "第一村危房改造补贴检查", 2);
    for id in [second, first] {
        let submit = transition(&zhang, Role::Inspector, id, ReviewStatus::Submitted, "");
        zhang.edit(id, &[submit]);
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    // Their own submissions are nothing new to them.
    assert_eq!(page(&zhang, ListQuery::default()).news, 0);
    synced(&district, &mut zhang);

    // The deputy's queue (zhao is the team's 副组长: the submitted records): who submitted
    // and when, the one waiting longest first.
    synced(&district, &mut zhao);
    let queue = page(&zhao, ListQuery { review_queue: true, sort: ListSort::Submitted, ..ListQuery::default() });
    let ids: Vec<&str> = queue.rows.iter().map(|r| r.row.record_id.as_str()).collect();
    assert_eq!(ids, [second.to_string(), first.to_string()]);
    assert!(queue.rows.iter().all(|r| r.row.submitted_by == "zhang" && r.row.submitted_at_ms > 0));
    assert!(queue.rows[0].row.submitted_at_ms < queue.rows[1].row.submitted_at_ms);
    assert!(queue.rows.iter().all(|r| r.submitter_name == "zhang"), "the directory's name, else the id");
    assert_eq!(queue.news, 0, "nothing is news to the deputy: the records are not theirs");

    // 退回补充, with the reason: the domain refuses it without one.
    let record = zhao.store.record(first).unwrap().read();
    let standing = xuncha_app::reference::standing(&zhao.store, records::reader("inspector"), &record).unwrap();
    let bare = workflow::transition(standing, &record, ReviewStatus::Returned, " ", None, None).unwrap_err();
    assert_eq!(bare.code, "note_required");
    let back = transition(&zhao, Role::Inspector, first, ReviewStatus::Returned, "缺少发放花名册照片");
    zhao.edit(first, &[back]);
    synced(&district, &mut zhao);

    // One sync later the inspector's list marks it, and the tab counts it.
    synced(&district, &mut zhang);
    let list = page(&zhang, ListQuery::default());
    assert_eq!(list.news, 1);
    let news: Vec<&str> = list.rows.iter().filter(|r| r.news).map(|r| r.row.record_id.as_str()).collect();
    assert_eq!(news, [first.to_string()]);
    let row = list.rows.iter().find(|r| r.news).unwrap();
    assert_eq!((row.row.last_step_by.as_str(), row.row.last_step_to.as_str()), ("zhao", "returned"));
    let reason = zhang.store.record(first).unwrap().read().review.steps.last().unwrap().note.clone();
    assert_eq!(reason, "缺少发放花名册照片");
    // A filtered page counts the whole list's news all the same.
    let other = page(&zhang, ListQuery { text: Some("危房改造".into()), ..ListQuery::default() });
    assert_eq!((other.rows.len(), other.news), (1, 1));

    // Opened: seen, on the row and the tab; opening again changes nothing.
    assert_eq!(records::mark_seen(&mut zhang.store, first).unwrap(), 0);
    assert_eq!(records::mark_seen(&mut zhang.store, first).unwrap(), 0);
    let list = page(&zhang, ListQuery::default());
    assert_eq!(list.news, 0);
    assert!(list.rows.iter().all(|r| !r.news));

    // Resubmitting is the inspector's own step: no news. The deputy's next step is.
    let again = transition(&zhang, Role::Inspector, first, ReviewStatus::Submitted, "已补充花名册");
    zhang.edit(first, &[again]);
    assert_eq!(page(&zhang, ListQuery::default()).news, 0);
    synced(&district, &mut zhang);
    synced(&district, &mut zhao);
    let reviewed = transition(&zhao, Role::Inspector, first, ReviewStatus::DeputyReviewed, "材料齐全");
    zhao.edit(first, &[reviewed]);
    synced(&district, &mut zhao);
    synced(&district, &mut zhang);
    assert_eq!(page(&zhang, ListQuery::default()).news, 1);
}

#[test]
fn a_refused_record_is_listed_with_why() {
    let district = District::start();
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    let _lead = district.device("wang", Role::TeamLead, EAST.0);
    district.set_up_round("wang", &[], &["zhang"]);
    synced(&district, &mut zhang);
    let id = fund(&mut zhang, "第一村到户补贴发放检查", 1);
    let fine = fund(&mut zhang, "第一村危房改造补贴检查", 2);
    let submit = transition(&zhang, Role::Inspector, id, ReviewStatus::Submitted, "");
    zhang.edit(id, &[submit]);
    synced(&district, &mut zhang);
    // The inspector's client forges the 副组长's review: the server refuses it.
    zhang.edit(
        id,
        &[Edit::Transition {
            to: ReviewStatus::DeputyReviewed,
            capacity: workflow::Capacity::Deputy,
            note: "自审".into(),
            conclusion: None,
            handover: None,
        }],
    );
    let report = district.sync(&mut zhang).unwrap();
    assert_eq!(report.refused.len(), 1);

    let refused = page(&zhang, ListQuery { refused_only: true, ..ListQuery::default() });
    assert_eq!(refused.rows.len(), 1);
    assert_eq!(refused.rows[0].row.record_id, id.to_string());
    assert_eq!(refused.rows[0].refusal, Some(ErrorCode::TransitionRole));
    let all = page(&zhang, ListQuery::default());
    let fine_row = all.rows.iter().find(|r| r.row.record_id == fine.to_string()).unwrap();
    assert_eq!(fine_row.refusal, None);
}
