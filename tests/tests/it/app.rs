//! The app's use cases (`xuncha-app`, what the Tauri commands call) against a real server
//! on loopback: first-run enrollment, PIN lock, field input, search, background sync by
//! itself (also while the app is locked), a concurrent edit settled by a supervisor,
//! review permissions, and revocation of a locked device.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xuncha_app::{
    App, AppError, Config, EnrollInput, EventSink, FieldInput, ListQuery, NewRecordInput, RecordView, Stage, SyncState,
    SyncStatus, SystemClock, TransitionInput,
};
use xuncha_domain::{
    Conclusion, Division, Edit, Field, FieldPath, ItemField, ItemList, RecordKind, ReviewStatus, Value,
};
use xuncha_protocol::Role;
use xuncha_server::admin;
use xuncha_store::KdfParams;
use xuncha_tests::{District, EAST, PIN};

/// The longest a test waits for background sync: its periodic sync comes every 20 s.
const PATIENCE: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Recorder {
    statuses: Mutex<Vec<SyncStatus>>,
    records_changed: Mutex<u32>,
}

impl EventSink for Recorder {
    fn sync_status(&self, status: &SyncStatus) {
        self.statuses.lock().unwrap().push(status.clone());
    }
    fn records_changed(&self) {
        *self.records_changed.lock().unwrap() += 1;
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

fn app(district: &District, name: &str) -> (App, Arc<Recorder>) {
    let events = Arc::new(Recorder::default());
    let mut config = Config::new(district.dir.path().join(name));
    config.kdf = KdfParams::FAST_INSECURE;
    let app = App::new(config, Arc::clone(&events) as Arc<dyn EventSink>, Arc::new(SystemClock)).unwrap();
    (app, events)
}

fn code(district: &District, user: &str, role: Role) -> String {
    let storage = district.storage.as_ref();
    if admin::users(storage).unwrap().iter().all(|u| u.id != user) {
        admin::add_user(storage, user, user, role, "district", now_ms()).unwrap();
    }
    admin::enrollment_code(storage, user, now_ms()).unwrap()
}

fn enroll(district: &District, app: &App, user: &str, role: Role) {
    let input = EnrollInput {
        server: district.url(),
        code: code(district, user, role),
        device_name: format!("{user} 平板"),
        pin: PIN.into(),
        server_pin: None,
    };
    let status = app.enroll(&input).unwrap();
    assert_eq!(status.stage, Stage::Unlocked);
}

fn wait_for(app: &App, what: &str, mut done: impl FnMut(&SyncStatus) -> bool) -> SyncStatus {
    let start = Instant::now();
    loop {
        let status = app.sync_status().unwrap();
        if done(&status) {
            return status;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "waiting for {what}; last status {status:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits (bounded) until `done`, polling.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "waited {PATIENCE:?} for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn synced_clean(status: &SyncStatus) -> bool {
    status.state == SyncState::Synced && status.pending == 0
}

fn east() -> (Division, Division) {
    (Division::new(EAST.0, EAST.1), Division::new("330199101201", "东岭村"))
}

fn money(view: &xuncha_app::RecordView, field: Field) -> Option<String> {
    view.record.fields.get(&field).map(ToString::to_string)
}

#[test]
fn first_run_lock_edit_search_and_sync_by_itself() {
    let district = District::start();
    let (app, events) = app(&district, "inspector");
    assert_eq!(app.status().stage, Stage::Setup);
    assert!(matches!(app.list(&ListQuery::default()), Err(AppError::Locked)));

    // A wrong code or address leaves nothing behind: the person can try again.
    let bad = EnrollInput {
        server: district.url(),
        code: "WRONG-CODE".into(),
        device_name: String::new(),
        pin: PIN.into(),
        server_pin: None,
    };
    let error = app.enroll(&bad).unwrap_err();
    assert_eq!(error.code(), "server", "{error}");
    assert_eq!(app.status().stage, Stage::Setup);
    let error = app.enroll(&EnrollInput { server: "not a url".into(), ..bad.clone() }).unwrap_err();
    assert_eq!(error.code(), "bad_input");
    enroll(&district, &app, "insp", Role::Inspector);
    let session = app.status().session.unwrap();
    assert_eq!((session.role.as_str(), session.can_review), ("inspector", false));

    let (township, village) = east();
    let view = app
        .create(&NewRecordInput {
            kind: RecordKind::FundCheck,
            title: "东岭村到户补贴发放检查".into(),
            round: "2024年第一轮".into(),
            township: Some(township),
            village: Some(village),
            team: "第一巡察组".into(),
        })
        .unwrap();
    let id = view.record.id;
    // Typed input is parsed by the field's type; a malformed amount is refused and changes nothing.
    let error = app.input(id, &FieldInput::Field { field: Field::Allocated, text: "12万".into() }).unwrap_err();
    assert_eq!(error.code(), "bad_input");
    let view = app.input(id, &FieldInput::Field { field: Field::Allocated, text: "120000".into() }).unwrap();
    assert_eq!(money(&view, Field::Allocated).as_deref(), Some("120000.00"));
    for (head, amount) in [("王建国", "3000"), ("李秀英", "3000"), ("张德明", "2500.50")] {
        let item = app.new_item_id().unwrap();
        app.edit(id, &[Edit::InsertItem { list: ItemList::Beneficiaries, id: item, values: vec![] }]).unwrap();
        app.input(id, &FieldInput::Item { id: item, field: ItemField::Head, text: head.into() }).unwrap();
        app.input(id, &FieldInput::Item { id: item, field: ItemField::Entitled, text: amount.into() }).unwrap();
    }
    let view = app.record(id).unwrap();
    assert_eq!(view.record.items(ItemList::Beneficiaries).len(), 3);
    // An empty input clears the field.
    let view = app.input(id, &FieldInput::Field { field: Field::Disbursed, text: " ".into() }).unwrap();
    assert!(!view.record.fields.contains_key(&Field::Disbursed));

    // In the list (with its pending badge until sync), and found by a Chinese phrase.
    let page = app.list(&ListQuery { limit: 50, ..ListQuery::default() }).unwrap();
    assert_eq!(page.rows.len(), 1);
    assert!(page.done);
    let found = app.list(&ListQuery { text: Some("补贴发放".into()), limit: 50, ..ListQuery::default() }).unwrap();
    assert_eq!(found.rows.len(), 1);
    let none = app.list(&ListQuery { text: Some("宅基地".into()), limit: 50, ..ListQuery::default() }).unwrap();
    assert!(none.rows.is_empty());
    let searched_by_household =
        app.list(&ListQuery { text: Some("李秀英".into()), limit: 50, ..ListQuery::default() }).unwrap();
    assert_eq!(searched_by_household.rows.len(), 1);

    // Background sync sends it without being asked.
    wait_for(&app, "the first sync", synced_clean);
    assert!(district.server_record(id).is_some());
    assert!(!app.list(&ListQuery { limit: 50, ..ListQuery::default() }).unwrap().rows[0].pending);
    assert!(events.statuses.lock().unwrap().iter().any(|s| s.state == SyncState::Syncing));

    // Locking closes the UI's connection; a wrong PIN is refused; the right one opens it again.
    assert_eq!(app.lock().stage, Stage::Locked);
    assert!(matches!(app.record(id), Err(AppError::Locked)));
    assert_eq!(app.unlock("135790").unwrap_err().code(), "wrong_pin");
    assert_eq!(app.unlock(PIN).unwrap().stage, Stage::Unlocked);
    assert_eq!(money(&app.record(id).unwrap(), Field::Allocated).as_deref(), Some("120000.00"));

    // An inspector submits but cannot sign off: the app says who may.
    let review =
        TransitionInput { to: ReviewStatus::DeputyReviewed, note: String::new(), conclusion: None, handover: None };
    let error = app.transition(id, &review).unwrap_err();
    assert_eq!(error.code(), "forbidden");
    assert!(error.to_string().contains("cannot go from"), "{error}");
    let view = app.record(id).unwrap();
    let next: Vec<(ReviewStatus, bool)> = view.next_steps.iter().map(|s| (s.to, s.allowed)).collect();
    assert_eq!(next, [(ReviewStatus::Submitted, true)]);
    // Submitting needs the record complete; the domain says what is missing.
    let submit = TransitionInput { to: ReviewStatus::Submitted, ..review };
    assert!(app.transition(id, &submit).unwrap_err().to_string().contains("fund_name"));

    // CSV export writes a whole file with a header and the record.
    let export = app.export_csv().unwrap();
    assert_eq!(export.records, 1);
    let csv = std::fs::read_to_string(&export.path).unwrap();
    assert!(csv.contains("东岭村到户补贴发放检查"), "{csv}");
}

#[test]
fn offline_edits_sync_when_the_server_returns_and_a_supervisor_settles_a_conflict() {
    let mut district = District::start();
    let (inspector, _) = app(&district, "inspector");
    let (supervisor, supervisor_events) = app(&district, "supervisor");
    enroll(&district, &inspector, "insp", Role::Inspector);
    enroll(&district, &supervisor, "sup", Role::Supervisor);
    assert!(supervisor.status().session.unwrap().can_review);

    let (township, village) = east();
    let id = inspector
        .create(&NewRecordInput {
            kind: RecordKind::FundCheck,
            title: "危房改造资金检查".into(),
            round: "2024年第一轮".into(),
            township: Some(township),
            village: Some(village),
            team: String::new(),
        })
        .unwrap()
        .record
        .id;
    for (field, text) in [(Field::Allocated, "80000"), (Field::FundName, "危房改造补助"), (Field::FundType, "危房改造")]
    {
        inspector.input(id, &FieldInput::Field { field, text: text.into() }).unwrap();
    }
    wait_for(&inspector, "the inspector's first sync", synced_clean);
    supervisor.sync_now().unwrap();
    let start = Instant::now();
    while supervisor.record(id).is_err() {
        assert!(start.elapsed() < Duration::from_secs(30), "the record never reached the supervisor");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The server goes away; both change the same amount.
    district.stop();
    wait_for(&inspector, "offline", |s| s.state == SyncState::Offline);
    inspector.input(id, &FieldInput::Field { field: Field::Allocated, text: "82000".into() }).unwrap();
    supervisor.input(id, &FieldInput::Field { field: Field::Allocated, text: "81500.50".into() }).unwrap();
    assert_eq!(inspector.sync_status().unwrap().pending, 1);

    // It comes back (same address): both sync by themselves.
    district.resume();
    wait_for(&inspector, "sync after the server returned", synced_clean);
    wait_for(&supervisor, "the supervisor's sync", synced_clean);
    inspector.sync_now().unwrap();
    supervisor.sync_now().unwrap();
    let start = Instant::now();
    let view = loop {
        let view = supervisor.record(id).unwrap();
        if !view.conflicts.is_empty() {
            break view;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no conflict reached the supervisor");
        supervisor.sync_now().unwrap();
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(*supervisor_events.records_changed.lock().unwrap() > 0);
    let conflict = &view.conflicts[0];
    assert_eq!(conflict.path, FieldPath::Field { field: Field::Allocated });
    let mut shown: Vec<&str> = conflict.values.iter().map(|v| v.value.display.as_str()).collect();
    shown.sort_unstable();
    assert_eq!(shown, ["81500.50", "82000.00"]);
    // Named from the supervisor's user directory (every user; here named by their id).
    assert!(
        conflict
            .values
            .iter()
            .any(|v| v.value.author.as_deref() == Some("insp") && v.author_name.as_deref() == Some("insp"))
    );

    // Settling is an edit: the inspector's value stays, the conflict is gone.
    let inspectors =
        conflict.values.iter().find(|v| v.value.display == "82000.00").unwrap().value.change.clone().unwrap();
    let view = supervisor.settle(id, &conflict.path, &inspectors).unwrap();
    assert!(view.conflicts.is_empty());
    assert_eq!(view.record.fields.get(&Field::Allocated), Some(&Value::Money("82000".parse().unwrap())));
    supervisor.sync_now().unwrap();
    wait_for(&supervisor, "the settled value to go up", synced_clean);

    // The inspector submits; the team lead (in no team: no deputy) reviews and signs; the
    // office approves with a conclusion.
    let ask = |to, note: &str, conclusion| TransitionInput { to, note: note.into(), conclusion, handover: None };
    let reach = |app: &App, what: &str, done: &dyn Fn(&RecordView) -> bool| {
        let start = Instant::now();
        loop {
            app.sync_now().unwrap();
            if app.record(id).is_ok_and(|view| done(&view)) {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "{what} never arrived");
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    reach(&inspector, "the settled value", &|v| v.conflicts.is_empty());
    inspector.transition(id, &ask(ReviewStatus::Submitted, "", None)).unwrap();
    inspector.sync_now().unwrap();
    wait_for(&inspector, "the submission to go up", synced_clean);
    let (lead, _) = app(&district, "lead");
    enroll(&district, &lead, "lead", Role::TeamLead);
    reach(&lead, "the submitted record", &|v| v.record.review.status == ReviewStatus::Submitted);
    lead.transition(id, &ask(ReviewStatus::DeputyReviewed, "同意", None)).unwrap();
    lead.transition(id, &ask(ReviewStatus::LeadSigned, "同意上报", None)).unwrap();
    lead.sync_now().unwrap();
    wait_for(&lead, "the sign-off to go up", synced_clean);
    reach(&supervisor, "the signed record", &|v| v.record.review.status == ReviewStatus::LeadSigned);
    let without = supervisor.transition(id, &ask(ReviewStatus::OfficeApproved, "以银行流水为准", None)).unwrap_err();
    assert!(without.to_string().contains("核实结论"), "{without}");
    let view = supervisor
        .transition(id, &ask(ReviewStatus::OfficeApproved, "以银行流水为准", Some(Conclusion::Confirmed)))
        .unwrap();
    assert_eq!(view.record.review.status, ReviewStatus::OfficeApproved);
    supervisor.sync_now().unwrap();
    wait_for(&supervisor, "the approval to go up", synced_clean);

    // The inspector receives the approval, with every step's author.
    reach(&inspector, "the approval", &|v| v.record.review.status == ReviewStatus::OfficeApproved);
    let view = inspector.record(id).unwrap();
    let trail: Vec<&str> = view.record.review.steps.iter().map(|s| s.by.as_str()).collect();
    assert_eq!(trail, ["insp", "lead", "lead", "sup"]);
    assert!(view.record.review.steps.iter().all(|s| !s.void));
    assert!(view.conflicts.is_empty());
}

fn text(record: &xuncha_domain::Record, field: Field) -> Option<String> {
    record.fields.get(&field).map(ToString::to_string)
}

#[test]
fn a_locked_app_keeps_syncing_both_ways_and_shows_it_after_unlocking() {
    let mut district = District::start();
    let (app, events) = app(&district, "inspector");
    enroll(&district, &app, "insp", Role::Inspector);
    let (township, village) = east();
    let id = app
        .create(&NewRecordInput {
            kind: RecordKind::FundCheck,
            title: "农村低保资金发放检查".into(),
            round: "2024年第一轮".into(),
            township: Some(township),
            village: Some(village),
            team: String::new(),
        })
        .unwrap()
        .record
        .id;
    app.input(id, &FieldInput::Field { field: Field::Allocated, text: "50000".into() }).unwrap();
    wait_for(&app, "the first sync", synced_clean);
    // Another device in the township: a CLI-style store and sync client.
    let mut other = district.device("li", Role::Inspector, EAST.0);
    district.sync(&mut other).unwrap();
    assert_eq!(text(&other.store.record(id).unwrap().read(), Field::Allocated).as_deref(), Some("50000.00"));

    // Out of coverage, an edit waits in the outbox; then the app locks (as it does by itself
    // after five idle minutes) and goes into the bag.
    district.stop();
    wait_for(&app, "offline", |s| s.state == SyncState::Offline);
    app.input(id, &FieldInput::Field { field: Field::FundName, text: "农村低保金".into() }).unwrap();
    assert_eq!(app.sync_status().unwrap().pending, 1);
    assert_eq!(app.lock().stage, Stage::Locked);
    assert!(app.status().session.is_none());
    // Nothing can be seen or edited while locked.
    assert!(matches!(app.record(id), Err(AppError::Locked)));
    assert!(matches!(app.list(&ListQuery::default()), Err(AppError::Locked)));
    let edit = FieldInput::Field { field: Field::Allocated, text: "1".into() };
    assert!(matches!(app.input(id, &edit), Err(AppError::Locked)));

    // Back in coverage: the locked app sends its outbox by itself.
    district.resume();
    wait_for(&app, "the outbox to go up while locked", synced_clean);
    // (That sync also brought the user directory's new entry for li: count from here.)
    let received_before = *events.records_changed.lock().unwrap();
    assert_eq!(app.status().stage, Stage::Locked);
    let mut on_server = district.server_record(id).unwrap();
    assert_eq!(text(&on_server.read(), Field::FundName).as_deref(), Some("农村低保金"));
    district.sync(&mut other).unwrap();
    assert_eq!(text(&other.store.record(id).unwrap().read(), Field::FundName).as_deref(), Some("农村低保金"));

    // The other device changes the amount; a wrong PIN on the lock screen changes nothing,
    // and the locked app receives the change by itself.
    other.edit(id, &[Edit::Set { field: Field::Allocated, value: Some(Value::Money("52000".parse().unwrap())) }]);
    district.sync(&mut other).unwrap();
    assert_eq!(app.unlock("135790").unwrap_err().code(), "wrong_pin");
    assert_eq!(app.status().stage, Stage::Locked);
    eventually("the locked app to receive the other device's edit", || {
        *events.records_changed.lock().unwrap() > received_before
    });
    assert!(matches!(app.record(id), Err(AppError::Locked)));
    let before_unlock = app.sync_status().unwrap();
    assert_eq!(before_unlock.state, SyncState::Synced);

    // Unlocking shows both edits; sync carries on (the same worker: a new one starts idle,
    // with no sync done yet in this session).
    assert_eq!(app.unlock(PIN).unwrap().stage, Stage::Unlocked);
    let after_unlock = app.sync_status().unwrap();
    assert_ne!(after_unlock.state, SyncState::Idle);
    assert!(after_unlock.last_synced_ms >= before_unlock.last_synced_ms);
    let view = app.record(id).unwrap();
    assert_eq!(money(&view, Field::Allocated).as_deref(), Some("52000.00"));
    assert_eq!(text(&view.record, Field::FundName).as_deref(), Some("农村低保金"));
    assert!(view.conflicts.is_empty());
    assert!(!view.pending);
}

#[test]
fn a_locked_device_that_is_revoked_stops_syncing() {
    let district = District::start();
    let (app, _) = app(&district, "inspector");
    enroll(&district, &app, "insp", Role::Inspector);
    wait_for(&app, "the first sync", synced_clean);
    let device = app.status().session.unwrap().device_id;
    app.lock();
    admin::revoke(district.storage.as_ref(), &device, now_ms()).unwrap();

    // The locked app's next sync is told; it stops and says so, still locked.
    let start = Instant::now();
    let status = loop {
        let status = app.sync_status().unwrap();
        if status.error.as_ref().is_some_and(|e| e.code == "revoked") {
            break status;
        }
        assert!(start.elapsed() < PATIENCE, "the locked app never heard it was revoked; last status {status:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.state, SyncState::Error);
    assert_eq!(app.status().stage, Stage::Locked);
    // Unlocking still opens what is on the device.
    assert_eq!(app.unlock(PIN).unwrap().stage, Stage::Unlocked);
    assert!(app.list(&ListQuery::default()).is_ok());
}
