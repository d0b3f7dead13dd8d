//! The server terminating TLS itself, and devices that pin its key: a device enrolled with
//! one key refuses a server (or a proxy) presenting another, and says so, sending nothing.

use std::time::Duration;

use xuncha_domain::RecordKind;
use xuncha_protocol::Role;
use xuncha_server::Tls;
use xuncha_sync::{Client, SyncError};
use xuncha_tests::{District, EAST, new_record};

/// A self-signed certificate for 127.0.0.1, as PEM files in `dir`.
fn identity(dir: &std::path::Path, name: &str) -> Tls {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
    std::fs::write(&cert, made.cert.pem()).unwrap();
    std::fs::write(&key, made.key_pair.serialize_pem()).unwrap();
    Tls::from_pem_files(&cert, &key).unwrap()
}

#[test]
fn a_device_refuses_a_server_presenting_another_key_than_it_enrolled_with() {
    let mut district = District::start();
    let certs = tempfile::tempdir().unwrap();
    let (genuine, forged) = (identity(certs.path(), "genuine"), identity(certs.path(), "forged"));
    assert_ne!(genuine.pin, forged.pin);
    district.set_tls(Some(genuine.clone()));
    assert!(district.url().starts_with("https://"));

    // Enrolled with the pin from the QR code, the device syncs over TLS.
    let mut device = district.device("zhang", Role::Inspector, EAST.0);
    assert_eq!(device.store.sync_value("server_pin").unwrap(), Some(genuine.pin.clone()));
    let id = device.create(&new_record(RecordKind::FundCheck, "加密传输", EAST, 1), &[]);
    district.sync(&mut device).unwrap();
    assert!(district.server_record(id).is_some());

    // The same address now presents another key (a rogue proxy, a forged certificate):
    // the device refuses it, whichever client it syncs with, and sends nothing.
    district.set_tls(Some(forged.clone()));
    device.create(&new_record(RecordKind::FundCheck, "不该送出", EAST, 2), &[]);
    let refused = district.sync(&mut device).unwrap_err();
    assert!(matches!(&refused, SyncError::WrongServerKey { found, .. } if *found == forged.pin), "{refused}");
    let fresh = Client::for_device(&device.store, Duration::from_secs(5)).unwrap();
    let again = district.runtime.block_on(fresh.sync(&mut device.store, |_| {})).unwrap_err();
    assert_eq!(again.code(), "wrong_server_key", "{again}");
    assert_eq!(device.store.pending_records().unwrap().len(), 1, "the new record stays waiting");

    // Nor does a device enroll with a server whose key is not the one its QR code names.
    let code = xuncha_server::admin::enrollment_code(district.storage.as_ref(), "zhang", 1).unwrap();
    let mut other = district.device("wang", Role::Inspector, EAST.0);
    let pinned = Client::with_pin(&district.url(), Duration::from_secs(5), Some(genuine.pin.clone())).unwrap();
    let enroll = district.runtime.block_on(pinned.enroll(&mut other.store, &code, "平板"));
    assert!(matches!(enroll, Err(SyncError::WrongServerKey { .. })), "{enroll:?}");
    // Without a pin, a certificate no public authority signed is refused as well.
    let unpinned = Client::new(&district.url(), Duration::from_secs(5)).unwrap();
    assert!(district.runtime.block_on(unpinned.enroll(&mut other.store, &code, "平板")).is_err());

    // The genuine server back: the device syncs what waited.
    district.set_tls(Some(genuine));
    district.sync(&mut device).unwrap();
    assert!(device.store.pending_records().unwrap().is_empty());
}
