//! Which records a filter picks, case by case: the rows documents and exports read
//! (`rows_matching`), the totals (`totals_matching`, and `totals_for` for the dashboard's
//! filter) and the 问题清单 (`problems`) count the same records.

use xuncha_domain::*;
use xuncha_store::*;

/// 2024-05-01 00:00 in China, which is 2024-04-30 16:00 UTC.
const MAY_FIRST: i64 = 1_714_492_800_000;
const DAY: i64 = 86_400_000;
const DONGLING: (&str, &str) = ("330199101000", "东岭镇");
const XILING: (&str, &str) = ("330199102000", "西岭镇");

/// A record titled `title`, created at `at`, in a village of `township`.
fn record(
    n: u8,
    title: &str,
    kind: RecordKind,
    (round, team): (&str, &str),
    township: (&str, &str),
    at: i64,
) -> (NewRecord, Vec<Edit>, i64) {
    let new = NewRecord {
        id: RecordId::new(at, &[n; 10]),
        kind,
        title: title.into(),
        round: round.into(),
        township: Some(Division::new(township.0, township.1)),
        village: Some(Division::new(format!("{}001", &township.0[..9]), "上坪村")),
        team: team.into(),
    };
    (new, Vec::new(), at)
}

/// A device with four records: a, b (first round), c (second round) and d (a petition of
/// no round or team), made on the days around 2024-05-01; a is submitted.
fn device(dir: &std::path::Path) -> Store {
    let identity = Identity {
        device_id: DeviceId::new("tablet-1").unwrap(),
        user_id: UserId::new("zhang.wei").unwrap(),
        user_name: "张伟".into(),
        actor: ActorId::from([5; 16]),
    };
    let mut store = Store::create(&dir.join("device.db"), "246810", &identity, KdfParams::FAST_INSECURE).unwrap();
    let first = ("2024年第一轮", "第一巡察组");
    store
        .create_records(&[
            record(1, "a", RecordKind::FundCheck, first, DONGLING, MAY_FIRST),
            record(2, "b", RecordKind::AssetCheck, ("2024年第一轮", "第二巡察组"), XILING, MAY_FIRST - 1),
            record(3, "c", RecordKind::FundCheck, ("2024年第二轮", "第一巡察组"), DONGLING, MAY_FIRST + DAY),
            // The last millisecond of 2024-05-02 in China.
            record(4, "d", RecordKind::Petition, ("", ""), XILING, MAY_FIRST + 2 * DAY - 1),
        ])
        .unwrap();
    let a = RecordId::new(MAY_FIRST, &[1; 10]);
    let set = |field: Field, text: &str| Edit::Set { field, value: Some(field.parse_value(text).unwrap()) };
    let ready = [set(Field::FundName, "到户产业补贴"), set(Field::FundType, "产业扶贫"), set(Field::Allocated, "100")];
    store.edit(a, &ready, MAY_FIRST + 1).unwrap();
    let submit = Edit::Transition {
        to: ReviewStatus::Submitted,
        capacity: Capacity::Handler,
        note: String::new(),
        conclusion: None,
        handover: None,
    };
    store.edit(a, &[submit], MAY_FIRST + 2).unwrap();
    store
}

/// A filter of a township, a round, a team and days (`None`: any).
fn scope(township: Option<&str>, round: Option<&str>, team: Option<&str>, days: [Option<&str>; 2]) -> TotalsFilter {
    let text = |v: Option<&str>| v.map(str::to_owned);
    TotalsFilter {
        township: text(township),
        round: text(round),
        team: text(team),
        from: text(days[0]),
        to: text(days[1]),
    }
}

fn titles(rows: &[Projection]) -> Vec<String> {
    let mut titles: Vec<String> = rows.iter().map(|r| r.title.clone()).collect();
    titles.sort();
    titles
}

#[test]
fn documents_exports_and_totals_pick_the_same_records() {
    let dir = tempfile::tempdir().unwrap();
    let store = device(dir.path());
    let any = [None, None];
    let with = |kind: Option<RecordKind>, status: Option<ReviewStatus>, scope: TotalsFilter| RecordFilter {
        scope,
        kind,
        status,
    };
    let only = |scope: TotalsFilter| RecordFilter::from(scope);
    // (filter, the titles it picks)
    let cases: &[(RecordFilter, &[&str])] = &[
        (RecordFilter::default(), &["a", "b", "c", "d"]),
        (only(scope(None, Some(" 2024年第一轮 "), None, any)), &["a", "b"]),
        (only(scope(None, Some("未定轮次"), None, any)), &["d"]),
        (only(scope(Some("330199101000"), None, None, any)), &["a", "c"]),
        (only(scope(Some("西岭镇"), None, None, any)), &["b", "d"]),
        (only(scope(None, None, Some("第一巡察组"), any)), &["a", "c"]),
        (only(scope(None, None, None, [Some("2024-05-01"), None])), &["a", "c", "d"]),
        (only(scope(None, None, None, [None, Some("2024-05-01")])), &["a", "b"]),
        (only(scope(None, None, None, [Some("2024-05-01"), Some("2024-05-01")])), &["a"]),
        (only(scope(None, None, None, [None, Some("2024-05-02")])), &["a", "b", "c", "d"]),
        (only(scope(None, None, None, [Some("2024-05-03"), None])), &[]),
        (only(scope(Some(""), Some(""), Some(" "), [Some(""), Some("")])), &["a", "b", "c", "d"]),
        (only(scope(None, Some("2099年第九轮"), None, any)), &[]),
        (with(Some(RecordKind::FundCheck), None, TotalsFilter::default()), &["a", "c"]),
        (with(None, Some(ReviewStatus::Submitted), TotalsFilter::default()), &["a"]),
        (with(None, Some(ReviewStatus::Draft), TotalsFilter::default()), &["b", "c", "d"]),
        (with(Some(RecordKind::FundCheck), None, scope(Some("东岭镇"), Some("2024年第一轮"), None, any)), &["a"]),
        (with(Some(RecordKind::Petition), Some(ReviewStatus::Submitted), TotalsFilter::default()), &[]),
    ];
    let today = "2024-07-01";
    for (filter, expected) in cases {
        let rows = store.rows_matching(filter).unwrap();
        assert_eq!(titles(&rows), *expected, "{filter:?}");
        let totals = store.totals_matching(filter, today).unwrap();
        assert_eq!(totals.records, i64::try_from(rows.len()).unwrap(), "{filter:?}");
        let fund_checks = rows.iter().filter(|r| r.kind == RecordKind::FundCheck.code()).count();
        assert_eq!(totals.fund_checks, i64::try_from(fund_checks).unwrap(), "{filter:?}");
        let petitions = rows.iter().filter(|r| r.kind == RecordKind::Petition.code()).count();
        assert_eq!(totals.workflow.petitions, i64::try_from(petitions).unwrap(), "{filter:?}");
        if filter.kind.is_none() && filter.status.is_none() {
            // The dashboard's filter alone: its totals and 问题清单 over the same records.
            assert_eq!(store.totals_for(&filter.scope, today).unwrap(), totals, "{filter:?}");
            let problems: Vec<String> = titles(&rows)
                .into_iter()
                .filter(|t| rows.iter().any(|r| r.title == *t && r.kind != "petition"))
                .collect();
            assert_eq!(titles(&store.problems(&filter.scope).unwrap()), problems, "{filter:?}");
        }
    }
}

#[test]
fn a_date_that_is_not_a_day_is_refused_in_both_languages() {
    let dir = tempfile::tempdir().unwrap();
    let store = device(dir.path());
    for (from, to) in [(Some("5月1日"), None), (None, Some("2024-5-1x"))] {
        let filter = scope(None, None, None, [from, to]);
        let refusals = [
            store.rows_matching(&RecordFilter::from(filter.clone())).map(|_| ()).unwrap_err(),
            store.totals_for(&filter, "2024-07-01").map(|_| ()).unwrap_err(),
            store.problems(&filter).map(|_| ()).unwrap_err(),
        ];
        for error in refusals {
            assert_eq!(error.code(), "bad_filter", "{error}");
            let text = error.to_string();
            assert!(text.contains("应写成 YYYY-MM-DD") && text.contains("must be YYYY-MM-DD"), "{text}");
        }
    }
}
