//! The round's use cases of the app against a real server on a loopback port: the 乡镇 → 村
//! pickers and the user's team from the reference data it syncs, records placed by name
//! (township, round and team filled), households added from the village roster in one
//! change with their shortfall and findings, relations picked by subject name, drafts
//! withdrawn, enrollment links read, and the server's address moved.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use xuncha_app::{App, Config, EnrollInput, FieldInput, ListQuery, NewRecordInput, NoEvents, Stage, SystemClock};
use xuncha_domain::{
    Division, DivisionEntry, Edit, Field, ItemField, ItemList, RecordKind, RosterHousehold, TeamRole, Value, Yuan,
};
use xuncha_protocol::Role;
use xuncha_server::AppState;
use xuncha_server::admin::{self, NewTeam};
use xuncha_server::sqlite::SqliteStorage;
use xuncha_server::storage::Storage;
use xuncha_store::KdfParams;

const PIN: &str = "246810";
const SHANGPING: &str = "330199101001";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A server with a data folder of its own, on a loopback port.
struct Server {
    _dir: tempfile::TempDir,
    storage: Arc<dyn Storage>,
    runtime: tokio::runtime::Runtime,
}

impl Server {
    fn new() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let storage: Arc<dyn Storage> = Arc::new(SqliteStorage::open(&dir.path().join("server")).unwrap());
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        Server { _dir: dir, storage, runtime }
    }

    /// Serves the server's data on a new port (a second address of the same server).
    fn listen(&self) -> String {
        let listener = self.runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let address: SocketAddr = listener.local_addr().unwrap();
        let state = AppState::new(Arc::clone(&self.storage));
        self.runtime.spawn(xuncha_server::serve(listener, state, std::future::pending()));
        format!("http://{address}")
    }

    /// The demo round in small: 东岭镇 with two villages, 西溪乡 with one, 北峰镇 (another
    /// team's); 第一巡察组 (lead, deputy, inspector) over 东岭镇 and 西溪乡; a roster of
    /// 上坪村 with two namesakes.
    fn with_round(self) -> Server {
        let storage = self.storage.as_ref();
        let now = now_ms();
        for (id, role) in [("ann", Role::Inspector), ("lee", Role::TeamLead), ("dai", Role::TeamLead)] {
            admin::add_user(storage, id, id, role, "330199000000", now).unwrap();
        }
        let entry = |code: &str, name: &str, parent: &str| DivisionEntry {
            code: code.into(),
            name: name.into(),
            parent: parent.into(),
        };
        let divisions = [
            entry("330000000000", "浙江省", ""),
            entry("330100000000", "杭州市", "330000000000"),
            entry("330199000000", "清河区", "330100000000"),
            entry("330199101000", "东岭镇", "330199000000"),
            entry(SHANGPING, "上坪村", "330199101000"),
            entry("330199101002", "石门村", "330199101000"),
            entry("330199102000", "西溪乡", "330199000000"),
            entry("330199102001", "溪口村", "330199102000"),
            entry("330199104000", "北峰镇", "330199000000"),
            entry("330199104001", "峰下村", "330199104000"),
        ];
        admin::import_divisions(storage, &divisions, now).unwrap();
        admin::add_round(storage, "2024年第一轮", "2024-03-01", "2024-05-31", &[], now).unwrap();
        let team = NewTeam {
            name: "第一巡察组".into(),
            round: "2024年第一轮".into(),
            lead: "lee".into(),
            deputies: vec!["dai".into()],
            members: vec!["ann".into()],
            places: vec!["330199101000".into(), "330199102000".into()],
            units: vec![],
        };
        admin::add_team(storage, &team, now).unwrap();
        let household = |head: &str, id: &str, yuan: i64| RosterHousehold {
            head: head.into(),
            id_number: id.into(),
            account: "6217000011112222".into(),
            entitled: Yuan::from_yuan(yuan),
            paid_on: "2024-01-15".into(),
            group: "一组".into(),
            phone: String::new(),
        };
        let households = vec![
            household("王建国", "330199196001011234", 3000),
            household("李秀英", "330199196502025678", 3000),
            household("张德明", "330199197003034321", 2500),
            household("王建国", "330199198004049876", 2000),
        ];
        admin::import_roster(storage, SHANGPING, "到户补贴", households, now).unwrap();
        self
    }
}

/// An app enrolled as `user` with the server at `url`, unlocked, with the reference data
/// synced.
fn enrolled(server: &Server, url: &str, user: &str) -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(dir.path());
    config.kdf = KdfParams::FAST_INSECURE;
    let app = App::new(config, Arc::new(NoEvents), Arc::new(SystemClock)).unwrap();
    let code = admin::enrollment_code(server.storage.as_ref(), user, now_ms()).unwrap();
    let input = EnrollInput {
        server: url.into(),
        code,
        device_name: format!("{user} tablet"),
        pin: PIN.into(),
        server_pin: None,
    };
    assert_eq!(app.enroll(&input).unwrap().stage, Stage::Unlocked);
    until("the reference data to arrive", || app.assignment().is_ok_and(|a| a.has_divisions));
    (dir, app)
}

fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn names(divisions: &[DivisionEntry]) -> Vec<&str> {
    divisions.iter().map(|d| d.name.as_str()).collect()
}

fn text(view: &xuncha_app::RecordView, field: Field) -> &str {
    view.record.text(field).unwrap_or_default()
}

#[test]
fn pickers_offer_the_users_places_and_a_picked_village_fills_township_round_and_team() {
    let server = Server::new().with_round();
    let url = server.listen();
    let (_dir, app) = enrolled(&server, &url, "ann");

    // The townships of ann's team (not 北峰镇, another team's), and their villages by name.
    assert_eq!(names(&app.townships().unwrap()), ["东岭镇", "西溪乡"]);
    assert_eq!(names(&app.villages("330199101000").unwrap()), ["上坪村", "石门村"]);
    let assignment = app.assignment().unwrap();
    assert_eq!(assignment.teams.len(), 1);
    let team = &assignment.teams[0];
    assert_eq!((team.team.as_str(), team.round.as_str(), team.role), ("第一巡察组", "2024年第一轮", TeamRole::Member));
    assert_eq!(names(&team.places), ["东岭镇", "西溪乡"]);

    // A record created in a village picked by name: its township, round and team filled.
    let view = app
        .create(&NewRecordInput {
            kind: RecordKind::FundCheck,
            title: String::new(),
            round: String::new(),
            township: None,
            village: Some(Division::new(SHANGPING, "上坪村")),
            team: String::new(),
        })
        .unwrap();
    assert_eq!(view.record.division(Field::Township), Some(&Division::new("330199101000", "东岭镇")));
    assert_eq!((text(&view, Field::Round), text(&view, Field::Team)), ("2024年第一轮", "第一巡察组"));
    assert!(view.unknown_places.is_empty());
    let id = view.record.id;

    // Another township picked: the village outside it is cleared; a village there brings it back whole.
    let view = app.place(id, "330199102000").unwrap();
    assert_eq!(view.record.division(Field::Township).map(|d| d.name.as_str()), Some("西溪乡"));
    assert_eq!(view.record.division(Field::Village), None);
    let view = app.place(id, "330199102001").unwrap();
    assert_eq!(view.record.division(Field::Village), Some(&Division::new("330199102001", "溪口村")));
    assert_eq!(app.place(id, "330199999999").unwrap_err().code(), "bad_input");

    // A place the reference data does not know is kept, and flagged.
    let view = app.input(id, &FieldInput::Field { field: Field::Village, text: "330199102777:新村".into() }).unwrap();
    assert_eq!(view.unknown_places.len(), 1);
    assert_eq!((view.unknown_places[0].path.as_str(), view.unknown_places[0].code), ("village", "unknown_division"));
    assert!(view.unknown_places[0].zh.contains("新村"));
}

#[test]
fn households_come_from_the_roster_in_one_change_with_their_shortfall() {
    let server = Server::new().with_round();
    let url = server.listen();
    let (_dir, app) = enrolled(&server, &url, "ann");
    let view = app
        .create(&NewRecordInput {
            kind: RecordKind::FundCheck,
            title: "上坪村到户补贴".into(),
            round: String::new(),
            township: None,
            village: Some(Division::new(SHANGPING, "上坪村")),
            team: String::new(),
        })
        .unwrap();
    let id = view.record.id;
    let changes = app.history(id).unwrap().len();

    // By part of a name, several names at once; namesakes told apart by the masked ID.
    let found = app.search_roster(id, "王建 李秀英").unwrap();
    let heads: Vec<&str> = found.iter().map(|p| p.household.head.as_str()).collect();
    assert_eq!(heads, ["王建国", "李秀英", "王建国"]);
    assert_eq!(found[0].household.id_number, "**************1234");
    assert_eq!(found[2].household.id_number, "**************9876");
    assert_eq!(app.search_roster(id, "").unwrap().len(), 4);

    let keys: Vec<_> = found
        .iter()
        .take(2)
        .map(|p| p.key.clone())
        .chain([app.search_roster(id, "张").unwrap()[0].key.clone()])
        .collect();
    let view = app.add_from_roster(id, &keys).unwrap();
    assert_eq!(app.history(id).unwrap().len(), changes + 1, "one change for the three households");
    let households = view.record.items(ItemList::Beneficiaries);
    let added: Vec<(&str, Option<Yuan>)> =
        households.iter().map(|h| (h.text(ItemField::Head).unwrap(), h.money(ItemField::Entitled))).collect();
    assert_eq!(
        added,
        [
            ("王建国", Some(Yuan::from_yuan(3000))),
            ("李秀英", Some(Yuan::from_yuan(3000))),
            ("张德明", Some(Yuan::from_yuan(2500)))
        ]
    );
    assert!(app.search_roster(id, "李秀英").unwrap()[0].added);
    assert_eq!(app.add_from_roster(id, &[]).unwrap_err().code(), "bad_input");

    // 实领 below 应享: the household's 差额, the totals and the finding.
    let li = households[1].id;
    let view = app.input(id, &FieldInput::Item { id: li, field: ItemField::Received, text: "2000".into() }).unwrap();
    let shortfall = view.shortfall.unwrap();
    assert_eq!(shortfall.households.len(), 1);
    assert_eq!(shortfall.households[0].difference, Yuan::from_yuan(1000));
    assert_eq!(
        (shortfall.entitled, shortfall.received, shortfall.shortfall),
        (Yuan::from_yuan(8500), Yuan::from_yuan(2000), Yuan::from_yuan(1000))
    );
    assert_eq!(view.findings.len(), 1);
    assert_eq!(view.findings[0].zh, "实领少于应享 1,000.00 元");

    // A record with no village has no roster to search.
    let other = app
        .create(&NewRecordInput {
            kind: RecordKind::FundCheck,
            title: String::new(),
            round: String::new(),
            township: None,
            village: None,
            team: String::new(),
        })
        .unwrap();
    assert_eq!(app.search_roster(other.record.id, "王").unwrap_err().code(), "bad_input");
    assert!(other.shortfall.is_some() && other.findings.is_empty());
}

#[test]
fn relations_pick_subjects_by_name_and_drafts_can_be_withdrawn() {
    let server = Server::new().with_round();
    let url = server.listen();
    let (_dir, app) = enrolled(&server, &url, "ann");
    let view = app
        .create(&NewRecordInput {
            kind: RecordKind::GangClue,
            title: "上坪村强揽工程线索".into(),
            round: String::new(),
            township: None,
            village: Some(Division::new(SHANGPING, "上坪村")),
            team: String::new(),
        })
        .unwrap();
    let id = view.record.id;
    let (zhang, li, relation) = (app.new_item_id().unwrap(), app.new_item_id().unwrap(), app.new_item_id().unwrap());
    let name = |n: &str| vec![(ItemField::Name, Value::Text(n.into()))];
    app.edit(
        id,
        &[
            Edit::InsertItem { list: ItemList::Subjects, id: zhang, values: name("张三") },
            Edit::InsertItem { list: ItemList::Subjects, id: li, values: name("李四") },
            Edit::InsertItem { list: ItemList::Relations, id: relation, values: vec![] },
        ],
    )
    .unwrap();
    // By name, or by the id the picker sends: the subject's id is stored.
    let view = app.input(id, &FieldInput::Item { id: relation, field: ItemField::From, text: "张三".into() }).unwrap();
    let stored =
        |view: &xuncha_app::RecordView, field| view.record.items(ItemList::Relations)[0].text(field).map(str::to_owned);
    assert_eq!(stored(&view, ItemField::From), Some(zhang.to_string()));
    let view = app.input(id, &FieldInput::Item { id: relation, field: ItemField::To, text: li.to_string() }).unwrap();
    assert_eq!(stored(&view, ItemField::To), Some(li.to_string()));
    let refused = app.input(id, &FieldInput::Item { id: relation, field: ItemField::To, text: "王五".into() });
    let error = refused.unwrap_err();
    assert_eq!(error.code(), "bad_input");
    assert!(error.to_string().contains("张三"), "{error}");

    // A draft withdrawn leaves the list and takes no more edits.
    assert_eq!(app.list(&ListQuery::default()).unwrap().rows.len(), 1);
    let view = app.withdraw(id).unwrap();
    assert!(view.record.withdrawn.is_some());
    assert!(app.list(&ListQuery::default()).unwrap().rows.is_empty());
    let refused = app.input(id, &FieldInput::Field { field: Field::Title, text: "x".into() }).unwrap_err();
    assert_eq!(refused.code(), "withdrawn");

    // A submitted record is not a draft: refused with the domain's message.
    let view = app
        .create(&NewRecordInput {
            kind: RecordKind::ConductIssue,
            title: "村干部违规发放补贴".into(),
            round: String::new(),
            township: None,
            village: Some(Division::new(SHANGPING, "上坪村")),
            team: String::new(),
        })
        .unwrap();
    let other = view.record.id;
    app.edit(
        other,
        &[
            Edit::Set { field: Field::Subject, value: Some(Value::Text("村会计".into())) },
            Edit::Set { field: Field::FourWinds, value: Some(Value::Choice("formalism".into())) },
            Edit::Transition {
                to: xuncha_domain::ReviewStatus::Submitted,
                capacity: xuncha_domain::Capacity::Handler,
                note: String::new(),
                conclusion: None,
                handover: None,
            },
        ],
    )
    .unwrap();
    let refused = app.withdraw(other).unwrap_err();
    assert_eq!(refused.code(), "not_a_draft");
    assert!(refused.to_string().contains("只有草稿可以撤回"), "{refused}");
}

#[test]
fn the_server_address_moves_only_to_the_same_server() {
    let server = Server::new().with_round();
    let url = server.listen();
    let (_dir, app) = enrolled(&server, &url, "ann");

    let stranger = Server::new();
    let elsewhere = stranger.listen();
    let refused = app.move_server(&elsewhere).unwrap_err();
    assert_eq!(refused.code(), "other_server");
    assert_eq!(app.status().session.unwrap().server_url, url);

    let second = server.listen();
    let status = app.move_server(&second).unwrap();
    assert_eq!(status.session.unwrap().server_url, second);
    until("sync on the new address", || {
        app.sync_status().is_ok_and(|s| s.server_url == second && s.state == xuncha_app::SyncState::Synced)
    });
    assert_eq!(app.move_server("not a url").unwrap_err().code(), "bad_input");
}

#[test]
fn enrollment_links_are_read_from_the_text_of_a_qr_code() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::new(Config::new(dir.path()), Arc::new(NoEvents), Arc::new(SystemClock)).unwrap();
    let link =
        xuncha_protocol::EnrollLink { server: "http://10.0.0.5:8470".into(), code: "7KQM-4XPA-2R".into(), pin: None };
    let read = app.enroll_link(&link.to_uri()).unwrap();
    assert_eq!((read.server.as_str(), read.code.as_str()), ("http://10.0.0.5:8470", "7KQM-4XPA-2R"));
    for stranger in ["", "https://example.com", "xuncha:enroll?code=ABC"] {
        assert_eq!(app.enroll_link(stranger).unwrap_err().code(), "bad_input", "{stranger:?}");
    }
}

#[test]
fn a_photo_is_stored_at_the_asked_size_and_its_thumbnail_is_made_once_and_kept() {
    let server = Server::new().with_round();
    let url = server.listen();
    let (dir, app) = enrolled(&server, &url, "ann");
    let view = app
        .create(&NewRecordInput {
            kind: RecordKind::FundCheck,
            title: "上坪村照片".into(),
            round: String::new(),
            township: None,
            village: Some(Division::new(SHANGPING, "上坪村")),
            team: String::new(),
        })
        .unwrap();
    // A camera-sized photo (3000×2000) of a gradient, as a JPEG.
    let pixels = image::RgbImage::from_fn(3000, 2000, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    let mut jpeg = Vec::new();
    image::DynamicImage::ImageRgb8(pixels)
        .write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
        .unwrap();
    let input = xuncha_app::AttachmentInput {
        record: view.record.id,
        mime: "image/jpeg".into(),
        caption: "收据".into(),
        taken_at_ms: None,
        gps: None,
        watermark: false,
        long_side: Some(1200),
        keep_original: false,
    };
    let view = app.attach(&input, jpeg.clone()).unwrap();
    let sha = view.record.attachments[0].sha256.clone();
    let stored = image::load_from_memory(&app.attachment(&sha, "image/jpeg").unwrap()).unwrap();
    assert_eq!((stored.width(), stored.height()), (1200, 800));

    let kept = || {
        let store = xuncha_store::Store::open(&dir.path().join("device.db"), PIN).unwrap();
        store.attachment_thumbnail(&sha, xuncha_app::photos::THUMBNAIL_SIDE).unwrap()
    };
    assert_eq!(kept(), None, "no thumbnail before the screen asks");
    let small = app.attachment_thumbnail(&sha, "image/jpeg").unwrap().unwrap();
    let thumb = image::load_from_memory(&small).unwrap();
    assert_eq!(thumb.width().max(thumb.height()), xuncha_app::photos::THUMBNAIL_SIDE);
    assert_eq!(kept().as_deref(), Some(small.as_slice()), "kept on the device");
    assert_eq!(app.attachment_thumbnail(&sha, "image/jpeg").unwrap().unwrap(), small);
    // A watermarked photo: the fonts are read for it and not kept in memory afterwards.
    assert!(!app.fonts_in_memory());
    let view = app.attach(&xuncha_app::AttachmentInput { watermark: true, ..input.clone() }, jpeg).unwrap();
    let shas: std::collections::BTreeSet<_> = view.record.attachments.iter().map(|a| a.sha256.as_str()).collect();
    assert_eq!(shas.len(), 2, "the watermark is drawn into the photo, which is then another file");
    assert!(!app.fonts_in_memory(), "the fonts stay in memory after the photo");
    // A file that is not a photo has none, and nothing is kept for it.
    let view = app
        .attach(&xuncha_app::AttachmentInput { mime: "application/pdf".into(), ..input }, b"%PDF-1.4\n".to_vec())
        .unwrap();
    let pdf = &view.record.attachments.iter().find(|a| a.mime == "application/pdf").expect("the PDF attached").sha256;
    assert_eq!(app.attachment_thumbnail(pdf, "application/pdf").unwrap(), None);
}
