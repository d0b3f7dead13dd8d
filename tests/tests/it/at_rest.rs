//! The server's data at rest: nothing a device sends (a record's words, a photo's bytes) can
//! be found in any file of the data directory; a missing or wrong master key is refused
//! with a clear message and nothing written; a plaintext `server.db` of an older release
//! is converted once, its data and its attachments intact, and a conversion cut short
//! leaves the original usable.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use xuncha_domain::{Edit, RecordKind};
use xuncha_protocol::Role;
use xuncha_server::storage::with_tx;
use xuncha_server::{SqliteStorage, StorageError, admin};
use xuncha_store::NewAttachment;
use xuncha_tests::{District, EAST, new_record};

const PHRASE: &str = "举报人称村会计王某某冒领低保金三万二千元并转入其妻账户";
const PLAINTEXT_HEADER: &[u8] = b"SQLite format 3\0";

/// A receipt's bytes: text that would be easy to spot, then a pattern.
fn receipt() -> Vec<u8> {
    let mut bytes = b"%PDF-1.4 XUNCHA-RECEIPT 2024-03-05 ".to_vec();
    bytes.extend((0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8));
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Every file under `dir` (as `grep -r` would read them) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).unwrap().windows(needle.len()).any(|w| w == needle) {
            found.push(path);
        }
    }
    found
}

/// Every file in `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

/// A connection to the encrypted `server.db` in `dir`, keyed from its `server.key`.
fn keyed(dir: &Path) -> rusqlite::Connection {
    let key = std::fs::read_to_string(dir.join("server.key")).unwrap();
    let conn = rusqlite::Connection::open(dir.join("server.db")).unwrap();
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", key.trim())).unwrap();
    conn
}

#[test]
fn a_record_and_a_photo_sent_to_the_server_cannot_be_found_in_its_files() {
    let district = District::start();
    let mut device = district.device("zhang", Role::Inspector, EAST.0);
    let mut supervisor = district.device("li", Role::Supervisor, "district");
    let id =
        device.create(&new_record(RecordKind::GangClue, "线索", EAST, 1), &[Edit::Narrative { text: PHRASE.into() }]);
    let photo = receipt();
    let file = NewAttachment {
        bytes: photo.clone(),
        mime: "application/pdf".into(),
        caption: "收据".into(),
        taken_at_ms: None,
        gps: None,
    };
    device.store.edit_with_attachments(id, &[], &[file], 1).unwrap();
    district.sync(&mut device).unwrap();
    district.runtime.block_on(device.client.upload_attachments(&mut device.store, 64 * 1024)).unwrap();
    assert_eq!(district.server_record(id).unwrap().read().narrative, PHRASE);
    let sha = sha256_hex(&photo);
    let held = with_tx(district.storage.as_ref(), false, |tx| tx.attachment_state(&sha)).unwrap();
    assert!(held.is_some_and(|h| h.complete), "the server does not hold the photo");

    // While the server runs: the database, its write-ahead log (the latest pages) and index.
    let data = district.dir.path().join("server");
    assert!(std::fs::metadata(data.join("server.db-wal")).is_ok_and(|m| m.len() > 0), "no write-ahead log to search");
    let needles: [(&str, &[u8]); 3] = [
        ("the narrative", PHRASE.as_bytes()),
        ("the receipt's text", &photo[..24]),
        ("the receipt", &photo[50_000..50_064]),
    ];
    for (what, needle) in needles {
        assert_eq!(files_containing(&data, needle), Vec::<PathBuf>::new(), "{what} is readable in the data directory");
    }

    // The search would have found them: decrypted, the database shows the narrative, while
    // the photo stays sealed with its own key even there.
    let plain = district.dir.path().join("decrypted.db");
    keyed(&data)
        .execute_batch(&format!(
            "ATTACH DATABASE '{}' AS plain KEY ''; SELECT sqlcipher_export('plain'); DETACH DATABASE plain;",
            plain.display()
        ))
        .unwrap();
    assert!(!files_containing(district.dir.path(), PHRASE.as_bytes()).is_empty(), "the phrase is never stored as is");
    assert_eq!(files_containing(district.dir.path(), &photo[50_000..50_064]), Vec::<PathBuf>::new());

    // Those who may see the record get the photo back whole.
    district.sync(&mut supervisor).unwrap();
    let fetched = district.runtime.block_on(supervisor.client.download_attachment(
        &mut supervisor.store,
        &sha,
        "application/pdf",
    ));
    assert!(fetched.unwrap() == photo, "the photo came back different");
}

#[test]
fn a_missing_or_wrong_key_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    {
        let storage = SqliteStorage::open_with_key_file(&data, &data.join("server.key")).unwrap();
        admin::add_user(&storage, "zhang", "张伟", Role::Inspector, EAST.0, 1).unwrap();
    }
    assert!(!std::fs::read(data.join("server.db")).unwrap().starts_with(PLAINTEXT_HEADER));
    let before = snapshot(&data);

    let wrong = dir.path().join("wrong.key");
    std::fs::write(&wrong, format!("{}\n", "ab".repeat(32))).unwrap();
    let damaged = dir.path().join("damaged.key");
    std::fs::write(&damaged, "0123").unwrap();
    let missing = dir.path().join("missing.key");
    for key_file in [&wrong, &damaged, &missing] {
        let error = SqliteStorage::open_with_key_file(&data, key_file).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, StorageError::Key(_)), "{key_file:?}: {message}");
        assert!(
            message.contains("server.db 无法用此密钥打开")
                && message.contains("server.db cannot be opened with this key")
                && message.contains("XUNCHA_SERVER_KEY_FILE"),
            "{message}"
        );
        assert!(snapshot(&data) == before, "{key_file:?}: the data directory changed");
    }
    assert!(!missing.exists(), "a key was made for an existing database");

    // The right key still opens it, with its data.
    let storage = SqliteStorage::open_with_key_file(&data, &data.join("server.key")).unwrap();
    assert_eq!(admin::users(&storage).unwrap()[0].name, "张伟");
}

fn fixture_server() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/release-1/server")
}

/// An older release's plaintext data directory with a photo stored in plaintext pieces and
/// an unfinished upload, left as by a crash: the last writes still in the write-ahead log.
fn plaintext_data_with_attachments(data: &Path, photo: &[u8]) {
    let live = data.with_extension("live");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::copy(fixture_server().join("server.db"), live.join("server.db")).unwrap();
    let conn = rusqlite::Connection::open(live.join("server.db")).unwrap();
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0;").unwrap();
    let insert = |sha: &str, size: usize, pieces: &[&[u8]], complete: bool| {
        let received: usize = pieces.iter().map(|p| p.len()).sum();
        conn.execute(
            "INSERT INTO attachments (sha256, size, received, complete, created_at) VALUES (?1, ?2, ?3, ?4, 1)",
            rusqlite::params![sha, size as i64, received as i64, complete],
        )
        .unwrap();
        let mut offset = 0;
        for piece in pieces {
            conn.execute(
                "INSERT INTO attachment_pieces (sha256, offset, data) VALUES (?1, ?2, ?3)",
                rusqlite::params![sha, offset as i64, piece],
            )
            .unwrap();
            offset += piece.len();
        }
    };
    insert(&sha256_hex(photo), photo.len(), &[&photo[..100_000], &photo[100_000..200_000], &photo[200_000..]], true);
    insert(&sha256_hex(b"half"), 8_000, &[&photo[..4_000]], false);
    // The crash: the files as they are now, the log not yet folded into the database.
    std::fs::create_dir_all(data).unwrap();
    for name in ["server.db", "server.db-wal"] {
        std::fs::copy(live.join(name), data.join(name)).unwrap();
    }
    drop(conn);
    assert!(std::fs::metadata(data.join("server.db-wal")).unwrap().len() > 0);
}

#[test]
fn a_plaintext_server_db_is_encrypted_once_with_its_attachments_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let photo = receipt();
    plaintext_data_with_attachments(&data, &photo);
    assert!(!files_containing(&data, &photo[150_000..150_064]).is_empty());
    // A conversion cut short by a crash left its copy behind: thrown away, done again.
    std::fs::write(data.join("server.db.encrypting"), b"half a copy").unwrap();

    let storage = SqliteStorage::open(&data).unwrap();
    let sha = sha256_hex(&photo);
    let (bytes, state) =
        with_tx(&storage, false, |tx| Ok((tx.attachment_bytes(&sha, 0)?, tx.attachment_state(&sha)?))).unwrap();
    assert!(bytes == photo, "the photo changed in the upgrade");
    assert!(state.unwrap().complete);
    assert_eq!(with_tx(&storage, false, |tx| tx.attachment_bytes(&sha, 123_456)).unwrap(), &photo[123_456..]);
    // The unfinished upload belonged to no device the server can name (uploads are each
    // device's own now): it is dropped, and its device, which still holds the photo, sends
    // it again from the first byte.
    let half = sha256_hex(b"half");
    assert_eq!(with_tx(&storage, false, |tx| tx.attachment_state(&half)).unwrap(), None);
    assert!(matches!(
        with_tx(&storage, true, |tx| tx.append_upload(&half, "dev-x", 8_000, 4_000, &photo[..4_000], 2)),
        Err(xuncha_server::StorageError::Resume(0))
    ));
    // The records of the first release are all there.
    let users = admin::users(&storage).unwrap();
    assert!(users.iter().any(|u| u.id == "zhang"), "{users:?}");
    drop(storage);

    let names: Vec<String> =
        std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(!names.iter().any(|n| n.contains("encrypting")), "{names:?}");
    assert!(names.contains(&"server.key".to_owned()), "{names:?}");
    assert!(!std::fs::read(data.join("server.db")).unwrap().starts_with(PLAINTEXT_HEADER));
    for needle in [&photo[..24], &photo[150_000..150_064], b"zhang".as_slice()] {
        assert_eq!(files_containing(&data, needle), Vec::<PathBuf>::new());
    }
    // The old pieces were sealed, each with its attachment's key.
    let conn = keyed(&data);
    let unkeyed: i64 =
        conn.query_row("SELECT count(*) FROM attachments WHERE blob_key IS NULL", [], |row| row.get(0)).unwrap();
    assert_eq!(unkeyed, 0);
    drop(conn);

    // Opened again: nothing left to convert, the same data.
    let storage = SqliteStorage::open(&data).unwrap();
    assert!(with_tx(&storage, false, |tx| tx.attachment_bytes(&sha, 0)).unwrap() == photo);
}

#[test]
fn a_failed_conversion_leaves_the_plaintext_database_usable() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(fixture_server().join("server.db"), data.join("server.db")).unwrap();
    let original = std::fs::read(data.join("server.db")).unwrap();
    // The key cannot be written (its folder does not exist): nothing is converted.
    let unwritable = dir.path().join("no-such-folder/server.key");
    assert!(SqliteStorage::open_with_key_file(&data, &unwritable).is_err());
    assert!(std::fs::read(data.join("server.db")).unwrap() == original, "the original changed");
    // The copy cannot be made (a folder stands where it goes): the original is untouched.
    std::fs::create_dir(data.join("server.db.encrypting")).unwrap();
    assert!(SqliteStorage::open(&data).is_err());
    assert!(std::fs::read(data.join("server.db")).unwrap().starts_with(PLAINTEXT_HEADER));
    std::fs::remove_dir(data.join("server.db.encrypting")).unwrap();
    let storage = SqliteStorage::open(&data).unwrap();
    assert!(admin::users(&storage).unwrap().iter().any(|u| u.id == "zhang"));
}
