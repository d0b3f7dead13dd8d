//! A server given an attachment store (`--attachments`) part-way through its life: the
//! attachments it completed before stay in its database and are read from there, the new
//! ones become objects in the store, and a server started without the store says what it
//! lacks instead of serving nothing.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use xuncha_protocol::Role;
use xuncha_server::SqliteStorage;
use xuncha_server::at_rest::MasterKey;
use xuncha_server::blobs::Blobs;
use xuncha_server::storage::{Storage, with_tx};

use crate::conformance::{NOW, device, user};

fn upload(store: &dyn Storage, device: &str, bytes: &[u8]) -> String {
    let sha = hex::encode(Sha256::digest(bytes));
    with_tx(store, true, |tx| {
        let size = bytes.len() as u64;
        let mut offset = 0usize;
        for piece in bytes.chunks(300_000) {
            tx.append_upload(&sha, device, size, offset as u64, piece, NOW)?;
            offset += piece.len();
        }
        assert_eq!(tx.upload_digest(&sha, device)?, sha);
        tx.finish_upload(&sha, device, true, NOW)
    })
    .expect("an upload");
    sha
}

#[test]
fn attachments_from_before_the_store_stay_readable_and_new_ones_become_objects() {
    let dir = tempfile::tempdir().unwrap();
    let key = MasterKey::from_bytes([7; 32]);
    let objects = dir.path().join("objects");
    let old: Vec<u8> = (0..700_000u32).map(|i| (i % 241) as u8).collect();
    let new: Vec<u8> = (0..2_500_000u32).map(|i| (i % 239) as u8).collect();

    let before = SqliteStorage::open_with_key(dir.path(), &key).unwrap();
    with_tx(&before, true, |tx| {
        tx.add_user(&user("zhang", Role::Inspector))?;
        tx.add_device(&device("tablet-1", "zhang"), "token")
    })
    .unwrap();
    let old_sha = upload(&before, "tablet-1", &old);
    drop(before);

    let blobs = Arc::new(Blobs::open(objects.to_str().unwrap()).unwrap());
    let with_store = SqliteStorage::open_with_key(dir.path(), &key).unwrap().with_attachments(Arc::clone(&blobs));
    let new_sha = upload(&with_store, "tablet-1", &new);
    let listed = blobs.list("attachments").unwrap();
    assert_eq!(listed.len(), 1, "only the new attachment is an object: {listed:?}");
    assert!(listed[0].contains(&new_sha));
    let read = |store: &dyn Storage, sha: &str| with_tx(store, false, |tx| tx.attachment_bytes(sha, 0));
    assert_eq!(read(&with_store, &old_sha).unwrap(), old, "the old one, from the database");
    assert_eq!(read(&with_store, &new_sha).unwrap(), new, "the new one, from the store");
    let piece = with_tx(&with_store, false, |tx| tx.attachment_piece(&new_sha, 1_500_000)).unwrap().unwrap();
    assert_eq!(piece.0, 1024 * 1024, "a piece is the object chunk that holds the byte");
    // The object is sealed: no run of the photo's bytes is in the file.
    let stored = std::fs::read(objects.join(&listed[0])).unwrap();
    assert!(!stored.windows(64).any(|w| w == &new[4096..4160]));
    drop(with_store);

    // Started without the store it was given: a clear refusal for the object, the rest
    // served as before.
    let without = SqliteStorage::open_with_key(dir.path(), &key).unwrap();
    assert_eq!(read(&without, &old_sha).unwrap(), old);
    let refused = read(&without, &new_sha).unwrap_err().to_string();
    assert!(refused.contains("--attachments"), "{refused}");
}
