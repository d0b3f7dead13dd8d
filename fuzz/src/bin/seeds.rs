//! Writes the seed corpora under `fuzz/corpus/<target>/` with the real encoders: sync
//! requests and responses of the template district, saved documents and changes of every
//! record kind. `cargo run --bin seeds` (from `fuzz/`); the files are committed.

use std::path::{Path, PathBuf};

use xuncha_domain::{
    Edit, Field, InformantField, ItemField, ItemId, ItemList, NewRecord, ProtectedDoc, RecordDoc, RecordId, RecordKind,
    Value,
};
use xuncha_fuzz::server::{EAST, NOW_MS, attached_record, template};
use xuncha_protocol::{DocKey, Part, SyncRequest, SyncResponse, Upload, encode};

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    std::fs::create_dir_all(dir).expect("the corpus directory");
    std::fs::write(dir.join(name), bytes).expect("a seed");
}

fn record(kind: RecordKind, n: u8) -> NewRecord {
    NewRecord {
        id: RecordId::from_bytes([0x01, 0x8f, 0xd1, 0x5a, 0x60, n, 0x70, 0, 0x80, n, n, n, n, n, n, n]),
        kind,
        ..attached_record()
    }
}

fn edits_for(kind: RecordKind) -> Vec<Edit> {
    let item = ItemId::new(NOW_MS, &[1; 10]);
    let mut edits = vec![
        Edit::Set { field: Field::Title, value: Some(Value::Text("检查记录".into())) },
        Edit::Narrative { text: "经走访核实，情况如下。".into() },
        Edit::AddTag { tag: "重点".into() },
    ];
    match kind {
        RecordKind::FundCheck => edits.extend([
            Edit::Set { field: Field::Allocated, value: Some(Value::Money("120000.50".parse().expect("yuan"))) },
            Edit::InsertItem {
                list: ItemList::Beneficiaries,
                id: item,
                values: vec![(ItemField::ALL[0], Value::Text("张三".into()))],
            },
        ]),
        RecordKind::GangClue => edits.push(Edit::InsertItem {
            list: ItemList::Subjects,
            id: item,
            values: vec![(ItemList::Subjects.fields().next().expect("a field"), Value::Text("李四".into()))],
        }),
        RecordKind::AssetCheck => {
            edits.push(Edit::Set { field: Field::LandRecovered, value: Some(Value::Area("12.5".parse().expect("mu"))) })
        }
        _ => {}
    }
    edits
}

fn main() {
    let root = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    let template = template();
    let inspector = &template.devices[0];

    // Documents: every kind, saved whole, and the changes of a later edit alone.
    let docs = root.join("document_load");
    let mut uploads = Vec::new();
    for (n, kind) in RecordKind::ALL.iter().copied().enumerate() {
        let n = u8::try_from(n).expect("few kinds") + 0x10;
        let mut doc = RecordDoc::create(&record(kind, n), &inspector.ctx(NOW_MS)).expect("a record");
        let created = doc.heads();
        doc.apply(&edits_for(kind), &inspector.ctx(NOW_MS + 1000)).expect("edits");
        let whole = doc.save();
        let after = doc.save_after(&created);
        write(&docs, &format!("{}-saved", kind.code()), &whole);
        write(&docs, &format!("{}-changes", kind.code()), &after);
        uploads.push(Upload {
            doc: DocKey { record: doc.id().uuid().as_bytes().to_vec(), part: Part::Record },
            signatures: inspector.sign(&whole),
            changes: whole,
        });
    }
    let gang = RecordId::from_bytes(uploads[1].doc.record.clone().try_into().expect("16 bytes"));
    let mut protected = ProtectedDoc::create(gang, &inspector.ctx(NOW_MS)).expect("a companion");
    let genesis = protected.heads();
    protected.set_informant(InformantField::Name, Some("王五"), &inspector.ctx(NOW_MS + 5)).expect("an informant");
    let protected_whole = protected.save();
    write(&docs, "protected-saved", &protected_whole);
    write(&docs, "protected-changes", &protected.save_after(&genesis));

    // Sync requests of the inspector: a first sync, uploads (whole documents, a protected
    // companion), a document asked for whole, and a request with keys.
    let requests = [
        ("first-sync", SyncRequest::default()),
        ("upload-one", SyncRequest { uploads: uploads[..1].to_vec(), ..SyncRequest::default() }),
        ("upload-all", SyncRequest { uploads: uploads.clone(), ..SyncRequest::default() }),
        (
            "upload-protected",
            SyncRequest {
                uploads: vec![
                    uploads[1].clone(),
                    Upload {
                        doc: DocKey { record: uploads[1].doc.record.clone(), part: Part::Protected },
                        signatures: inspector.sign(&protected_whole),
                        changes: protected_whole.clone(),
                    },
                ],
                ..SyncRequest::default()
            },
        ),
        (
            "want-full",
            SyncRequest {
                want_full: vec![DocKey { record: xuncha_fuzz::server::ATTACHED_RECORD.to_vec(), part: Part::Record }],
                reference_tag: vec![1; 16],
                keys: Some(xuncha_protocol::DeviceKeys {
                    signing: hex::encode(inspector.signing.verifying_key().to_bytes()),
                    sealing: String::new(),
                }),
                ..SyncRequest::default()
            },
        ),
    ];
    let server = template.server();
    let mut cursor = Vec::new();
    for (name, request) in &requests {
        let body = encode(request);
        write(&root.join("sync_request"), name, &body);
        write(&root.join("protocol_decode"), &format!("request-{name}"), &body);
        let (status, answer) = server.sync(inspector, body);
        assert!(status.is_success(), "{name}: {status}");
        let response: SyncResponse =
            xuncha_protocol::decode(&answer, xuncha_protocol::MAX_DECODED_BYTES).expect("a response");
        cursor = response.cursor.clone();
        let outcomes: Vec<String> = response.acks.iter().map(|a| format!("{:?}", a.outcome)).collect();
        println!("{name}: {} entries, acks {outcomes:?}", response.entries.len());
        write(&root.join("protocol_decode"), &format!("response-{name}"), &answer);
    }
    // The lead's first sync receives the inspector's records; then a sync from the cursor.
    let lead = &template.devices[1];
    let (_, answer) = server.sync(lead, encode(&SyncRequest::default()));
    write(&root.join("protocol_decode"), "response-lead-first-sync", &answer);
    let again = SyncRequest { cursor, ..SyncRequest::default() };
    write(&root.join("sync_request"), "from-cursor", &encode(&again));
    write(&root.join("protocol_decode"), "frames", &[0]);
    write(&root.join("protocol_decode"), "deflate-empty", &[1, 3, 0]);

    // The structured targets read their input as choices: a few fixed pseudo-random seeds.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for target in ["sync_upload", "attachment_protocol"] {
        for n in 0..8 {
            let len = 64 << (n % 4);
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                    (state >> 33) as u8
                })
                .collect();
            write(&root.join(target), &format!("seed-{n}"), &bytes);
        }
    }
    let _ = EAST;
    println!("seeds written under {}", root.display());
}
