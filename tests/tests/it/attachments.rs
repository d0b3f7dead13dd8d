//! Attachments: an upload interrupted at about half resumes from there, not from zero;
//! the server checks the bytes against the hash, stores them once, and gives them only to
//! devices that may see a record that references them.

use std::time::Duration;

use xuncha_domain::RecordKind;
use xuncha_protocol::Role;
use xuncha_server::storage::with_tx;
use xuncha_store::NewAttachment;
use xuncha_tests::{District, EAST, WEST, new_record};

const PIECE: usize = 64 * 1024;

#[test]
fn an_interrupted_upload_resumes_where_it_stopped() {
    let district = District::start();
    let mut device = district.device("zhang", Role::Inspector, EAST.0);
    let mut supervisor = district.device("li", Role::Supervisor, "district");
    let mut west = district.device("chen", Role::Inspector, WEST.0);
    let photo: Vec<u8> = (0..2_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let id = device.create(&new_record(RecordKind::FundCheck, "附件测试", EAST, 1), &[]);
    let file = NewAttachment {
        bytes: photo.clone(),
        mime: "image/jpeg".into(),
        caption: "收据".into(),
        taken_at_ms: None,
        gps: None,
    };
    device.store.edit_with_attachments(id, &[], &[file], 1).unwrap();
    let sha = device.store.attachments_to_upload().unwrap()[0].sha256.clone();

    // Upload, and cut the connection once the server holds about half.
    let storage = std::sync::Arc::clone(&district.storage);
    let device_id = device.store.sync_value("server_device_id").unwrap().unwrap();
    let held = |sha: &str| with_tx(storage.as_ref(), false, |tx| tx.upload_state(sha, &device_id)).unwrap();
    let size = photo.len() as u64;
    let client = device.client.clone();
    district.runtime.block_on(async {
        let watcher = async {
            loop {
                if held(&sha).is_some_and(|s| s.received >= size / 2) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        };
        tokio::select! {
            result = client.upload_attachments(&mut device.store, PIECE) => panic!("the upload finished before the cut: {result:?}"),
            () = watcher => {}
        }
    });
    let at_cut = held(&sha).unwrap();
    assert!(!at_cut.held && at_cut.received >= size / 2 && at_cut.received < size, "{at_cut:?}");

    // Resume: only the rest goes over the wire.
    let uploads = district.runtime.block_on(client.upload_attachments(&mut device.store, PIECE)).unwrap();
    assert_eq!(uploads.len(), 1);
    assert!(uploads[0].resumed_from >= size / 2, "{:?}", uploads[0]);
    assert_eq!(uploads[0].sent, size - uploads[0].resumed_from, "{:?}", uploads[0]);
    assert!(held(&sha).unwrap().held);
    assert!(with_tx(storage.as_ref(), false, |tx| tx.attachment_state(&sha)).unwrap().unwrap().complete);
    assert!(device.store.attachments_to_upload().unwrap().is_empty());

    // Those who may see the record may fetch the photo; others may not.
    district.sync(&mut device).unwrap();
    district.sync(&mut supervisor).unwrap();
    let fetched = district
        .runtime
        .block_on(supervisor.client.download_attachment(&mut supervisor.store, &sha, "image/jpeg"))
        .unwrap();
    assert!(fetched == photo, "the photo came back different");
    assert!(supervisor.store.attachment(&sha).unwrap() == photo);
    district.sync(&mut west).unwrap();
    let refused = district.runtime.block_on(west.client.download_attachment(&mut west.store, &sha, "image/jpeg"));
    assert!(refused.is_err(), "a device of another township fetched the photo");
}

#[test]
fn bytes_that_do_not_match_their_hash_are_discarded() {
    let district = District::start();
    let mut device = district.device("zhang", Role::Inspector, EAST.0);
    let id = device.create(&new_record(RecordKind::FundCheck, "附件测试", EAST, 2), &[]);
    let genuine = b"genuine receipt".to_vec();
    let file = NewAttachment {
        bytes: genuine.clone(),
        mime: "image/jpeg".into(),
        caption: String::new(),
        taken_at_ms: None,
        gps: None,
    };
    device.store.edit_with_attachments(id, &[], &[file], 1).unwrap();
    let sha = device.store.attachments_to_upload().unwrap()[0].sha256.clone();
    let token = device.store.sync_value("device_token").unwrap().unwrap();
    let (status, _) = district.runtime.block_on(async {
        let response = reqwest::Client::new()
            .put(format!("{}/v1/attachments/{sha}?offset=0&size={}", district.url(), genuine.len()))
            .header(xuncha_protocol::PROTOCOL_HEADER, "1")
            .bearer_auth(&token)
            .body(b"forged  receipt".to_vec())
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    });
    assert_eq!(status, 422);
    assert!(with_tx(district.storage.as_ref(), false, |tx| tx.attachment_state(&sha)).unwrap().is_none());
    // The genuine bytes still go up.
    district.sync(&mut device).unwrap();
    assert!(with_tx(district.storage.as_ref(), false, |tx| tx.attachment_state(&sha)).unwrap().unwrap().complete);
}

/// Before going to a village with no signal: one call fetches every photo of that village's
/// records the device lacks, each once, and nothing of other villages.
#[test]
fn a_villages_photos_are_fetched_in_one_go_and_only_those() {
    use xuncha_app::dto::ListQuery;
    use xuncha_domain::{Division, Edit, Field, Value};
    let district = District::start();
    let mut zhang = district.device("zhang", Role::Inspector, EAST.0);
    let mut li = district.device("li", Role::Supervisor, "district");
    let photo =
        |seed: u32| -> Vec<u8> { (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) ^ seed) as u8).collect() };
    let in_village = |code: &str, name: &str| Edit::Set {
        field: Field::Village,
        value: Some(Value::Division(Division::new(code, name))),
    };
    let file = |bytes: &[u8]| NewAttachment {
        bytes: bytes.to_vec(),
        mime: "image/jpeg".into(),
        caption: String::new(),
        taken_at_ms: None,
        gps: None,
    };
    let (a, b, c) = (photo(1), photo(2), photo(3));
    // 上坪村: two records, one photo in both; 石门村: one record.
    let first = zhang
        .create(&new_record(RecordKind::FundCheck, "上坪村发放检查", EAST, 1), &[in_village("330199101001", "上坪村")]);
    let second = zhang.create(
        &new_record(RecordKind::AssetCheck, "上坪村资产清查", EAST, 2),
        &[in_village("330199101001", "上坪村")],
    );
    let other = zhang
        .create(&new_record(RecordKind::FundCheck, "石门村发放检查", EAST, 3), &[in_village("330199101002", "石门村")]);
    zhang.store.edit_with_attachments(first, &[], &[file(&a), file(&b)], 1).unwrap();
    zhang.store.edit_with_attachments(second, &[], &[file(&a)], 2).unwrap();
    zhang.store.edit_with_attachments(other, &[], &[file(&c)], 3).unwrap();
    district.runtime.block_on(zhang.client.upload_attachments(&mut zhang.store, 1 << 20)).unwrap();
    district.sync(&mut zhang).unwrap();
    district.sync(&mut li).unwrap();

    let village = ListQuery { village: Some("330199101001".into()), ..ListQuery::default() };
    let (records, wanted) = xuncha_app::records::missing_attachments(&li.store, &village, "supervisor").unwrap();
    assert_eq!((records, wanted.len()), (2, 2), "two records, two distinct photos: {wanted:?}");
    let timeout = std::time::Duration::from_secs(20);
    let report =
        district.runtime.block_on(xuncha_app::records::download(&mut li.store, timeout, records, &wanted)).unwrap();
    assert_eq!((report.records, report.missing, report.fetched, report.failed), (2, 2, 2, 0));
    assert_eq!(report.bytes, (a.len() + b.len()) as u64);
    let sha = |bytes: &[u8]| xuncha_store::sha256_hex(bytes);
    assert!(li.store.attachment(&sha(&a)).unwrap() == a && li.store.attachment(&sha(&b)).unwrap() == b);
    assert!(li.store.attachment(&sha(&c)).is_err(), "石门村's photo stays on the server");
    // Done once, nothing is left to fetch.
    let (_, again) = xuncha_app::records::missing_attachments(&li.store, &village, "supervisor").unwrap();
    assert!(again.is_empty(), "{again:?}");
}
