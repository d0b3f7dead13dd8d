//! Stored data stays readable: a device database written by release 1 (schema v1, document
//! layout v1) is committed under `fixtures/v1` and must open, verify and read back the same
//! in every later release. The sample was written by
//! `cargo run -p xuncha-store --example write_sample -- tests/fixtures/v1`; never rewrite a
//! release's sample, add the next release's beside it.

use std::path::{Path, PathBuf};

use xuncha_domain::*;
use xuncha_store::*;

const PIN: &str = "246810";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1")
}

fn id(n: u8) -> RecordId {
    RecordId::new(1_709_514_000_000 + i64::from(n), &[n; 10])
}

#[test]
fn the_v1_sample_database_opens_verifies_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["device.db", "device.db.key"] {
        std::fs::copy(fixtures().join(name), dir.path().join(name)).unwrap();
    }
    let store = Store::open(&dir.path().join("device.db"), PIN).unwrap();
    let report = store.verify(|_, _| {}).unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.records, report.documents, report.attachments), (4, 5, 1));
    assert_eq!(store.identity().user_id.as_str(), "zhang.wei");

    let mut fund = store.record(id(1)).unwrap();
    let record = fund.read();
    assert_eq!(record.title_or_placeholder(), "上坪村危房改造资金检查");
    assert_eq!(record.money(Field::Disbursed), Some(Yuan::from_yuan(54_000)));
    assert_eq!(record.items(ItemList::Beneficiaries)[0].text(ItemField::Head), Some("王大福"));
    assert_eq!(record.issues, vec![FundIssue::WithheldShared]);
    assert_eq!(record.attachments[0].caption, "收据");
    let conflicts = fund.conflicts();
    assert_eq!(conflicts.len(), 1);
    let mut values: Vec<String> = conflicts[0].values.iter().map(|v| v.display.clone()).collect();
    values.sort();
    assert_eq!(values, vec!["61000.00", "62000.00"]);
    assert!(fund.history().len() >= 4);
    assert_eq!(store.attachment(&record.attachments[0].sha256).unwrap(), b"\xff\xd8\xff\xe0 sample receipt");

    assert_eq!(store.informant(id(2)).unwrap().unwrap().name, "欧阳振华");
    let asset = store.record(id(3)).unwrap().read();
    assert_eq!(asset.area(Field::LandRecovered).unwrap().hundredths(), 1_250);
    let conduct = store.record(id(4)).unwrap().read();
    // 已核实 of layout 1 reads as 巡察办已审核; its decision stays, for the audit trail.
    assert_eq!(conduct.review.status, ReviewStatus::OfficeApproved);
    assert!(!conduct.review.decision.unwrap().void);

    assert_eq!(store.search("截留", 10).unwrap().len(), 1);
    let totals = store.totals(None).unwrap();
    assert_eq!((totals.records, totals.party_members, totals.contracts_rectified), (4, 1, 1));
}
