//! `document_load`: record documents and protected companions from arbitrary bytes, as a
//! device loads what sync brings and as the server loads what a device uploads.
//!
//! The input is loaded whole (`RecordDoc::load`, `ProtectedDoc::load_parts`) and as
//! changes merged into a real record and a real companion (`load_changes`), then read
//! every way the app and the server read a record: `read`, conflicts, history, the
//! projection, validation, findings. Whatever loads must save and load again to the same
//! heads and the same reading.

use std::sync::OnceLock;

use xuncha_domain::{
    Edit, EditContext, Field, InformantField, NewRecord, ProtectedDoc, RecordDoc, RecordId, SyncDoc, Value, findings,
    validate,
};

use crate::server::{NOW_MS, attached_record};

/// A small real record and its companion, saved, that the input's changes merge into.
fn bases() -> &'static (Vec<u8>, Vec<u8>) {
    static BASES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    BASES.get_or_init(|| {
        let ctx = EditContext {
            author: xuncha_domain::UserId::new("fz-inspector").expect("a user"),
            device: xuncha_domain::DeviceId::new("local-1").expect("a device"),
            actor: xuncha_domain::ActorId::from([0xf1; 16]),
            now_ms: NOW_MS,
        };
        let new: NewRecord = attached_record();
        let mut record = RecordDoc::create(&new, &ctx).expect("a record");
        record
            .apply(
                &[
                    Edit::Set { field: Field::FundName, value: Some(Value::Text("危房改造".into())) },
                    Edit::Narrative { text: "走访农户三户".into() },
                ],
                &ctx,
            )
            .expect("edits");
        let mut protected =
            ProtectedDoc::create(RecordId::from_bytes(crate::server::ATTACHED_RECORD), &ctx).expect("a companion");
        protected.set_informant(InformantField::Name, Some("王五"), &ctx).expect("an informant");
        (record.save(), protected.save())
    })
}

/// Reads a record every way it is read, and checks it survives saving.
fn read_all(doc: &mut RecordDoc) {
    let record = doc.read();
    let _ = validate(&record);
    let _ = findings(&record);
    let _ = doc.conflicts();
    let _ = doc.history();
    let _ = doc.projection();
    let _ = doc.missing_deps();
    let heads = doc.heads();
    let saved = doc.save();
    let mut again = RecordDoc::load(&saved).expect("a saved record loads again");
    assert_eq!(again.heads(), heads, "a saved record keeps its heads");
    if doc.missing_deps().is_empty() {
        assert_eq!(again.read(), record, "a saved record reads the same");
    }
}

fn read_protected(doc: &mut ProtectedDoc) {
    let informant = doc.informant();
    let heads = doc.heads();
    let saved = doc.save();
    let mut again = ProtectedDoc::load_parts(&saved, []).expect("a saved companion loads again");
    assert_eq!(again.heads(), heads, "a saved companion keeps its heads");
    assert_eq!(again.informant(), informant, "a saved companion reads the same");
}

/// `check`.
pub fn check(data: &[u8]) {
    if let Ok(mut doc) = RecordDoc::load(data) {
        read_all(&mut doc);
    }
    if let Ok(mut doc) = ProtectedDoc::load_parts(data, []) {
        read_protected(&mut doc);
    }
    let (record, protected) = bases();
    // Merged into the real documents: read again when anything merged (or is queued
    // waiting for its dependencies).
    let mut doc = RecordDoc::load(record).expect("the base record");
    if let Ok(merged) = doc.load_changes(data)
        && (merged > 0 || !doc.missing_deps().is_empty())
    {
        read_all(&mut doc);
    }
    let mut doc = ProtectedDoc::load_parts(protected, []).expect("the base companion");
    if let Ok(merged) = doc.load_changes(data)
        && merged > 0
    {
        read_protected(&mut doc);
    }
}
