//! `sync_request` and `sync_upload`: `POST /v1/sync` through the real router.
//!
//! `sync_request` sends the input itself as the body, with the inspector's valid token.
//! `sync_upload` reads a scenario from the input: up to four syncs by the district's four
//! devices, each with uploads of real, signed Automerge documents and changes made with
//! the domain's edits (or forged, unsigned, mis-signed, truncated or arbitrary bytes), the
//! cursor the server last returned (or a damaged one), documents asked for whole, and the
//! device's keys. Each device keeps its replicas and applies what the server sends back,
//! so a record one device creates is reviewed and moved along by another.
//!
//! Both assert that the server never answers 5xx and never panics, and that a 200 answer
//! decodes and acknowledges every upload in order.

use std::collections::HashMap;

use arbitrary::Unstructured;
use xuncha_domain::{ChangeHash, InformantField, NewRecord, ProtectedDoc, RecordDoc, RecordId, UserId};
use xuncha_protocol::{
    ChangeSignature, DeviceKeys, DocKey, MAX_DECODED_BYTES, Outcome, Part, SyncRequest, SyncResponse, Upload, decode,
    encode,
};

use crate::edits;
use crate::server::{FuzzDevice, NOW_MS, Server, template};

/// What a 200 answer to `request` must be.
fn check_answer(request: Option<&SyncRequest>, body: &[u8]) -> SyncResponse {
    let response: SyncResponse = decode(body, MAX_DECODED_BYTES).expect("a 200 answer decodes as a SyncResponse");
    if let Some(request) = request {
        assert_eq!(response.acks.len(), request.uploads.len(), "one acknowledgement per upload");
        for (ack, upload) in response.acks.iter().zip(&request.uploads) {
            assert_eq!(ack.doc, upload.doc, "acknowledgements in the order of the uploads");
        }
    }
    response
}

/// `sync_request`: the input as the body of the inspector's sync.
pub fn check_raw(data: &[u8]) {
    let template = template();
    let server = template.server();
    let (status, body) = server.sync(&template.devices[0], data.to_vec());
    if status.is_success() {
        let request = decode::<SyncRequest>(data, xuncha_protocol::MAX_REQUEST_DECODED_BYTES).ok();
        check_answer(request.as_ref(), &body);
    }
}

/// The record ids a scenario uses: the template's own record, three fresh ones, and
/// (rarely) arbitrary bytes.
const SLOTS: [[u8; 16]; 4] = [
    crate::server::ATTACHED_RECORD,
    [0x01, 0x8f, 0xd1, 0x5a, 0x60, 0x01, 0x70, 0x00, 0x80, 9, 9, 9, 9, 9, 9, 1],
    [0x01, 0x8f, 0xd1, 0x5a, 0x60, 0x02, 0x70, 0x00, 0x80, 9, 9, 9, 9, 9, 9, 2],
    [0x01, 0x8f, 0xd1, 0x5a, 0x60, 0x03, 0x70, 0x00, 0x80, 9, 9, 9, 9, 9, 9, 3],
];

/// A replica on one device.
enum Replica {
    Record(RecordDoc),
    Protected(ProtectedDoc),
}

impl Replica {
    fn heads(&mut self) -> Vec<ChangeHash> {
        match self {
            Replica::Record(doc) => doc.heads(),
            Replica::Protected(doc) => doc.heads(),
        }
    }

    fn save(&mut self) -> Vec<u8> {
        match self {
            Replica::Record(doc) => doc.save(),
            Replica::Protected(doc) => doc.save(),
        }
    }

    fn save_after(&mut self, heads: &[ChangeHash]) -> Vec<u8> {
        match self {
            Replica::Record(doc) => doc.save_after(heads),
            Replica::Protected(doc) => doc.save_after(heads),
        }
    }

    fn load_changes(&mut self, bytes: &[u8]) -> bool {
        match self {
            Replica::Record(doc) => doc.load_changes(bytes).is_ok(),
            Replica::Protected(doc) => doc.load_changes(bytes).is_ok(),
        }
    }

    fn load(part: Part, bytes: &[u8]) -> Option<Replica> {
        match part {
            Part::Record => RecordDoc::load(bytes).ok().map(Replica::Record),
            Part::Protected => ProtectedDoc::load_parts(bytes, []).ok().map(Replica::Protected),
        }
    }
}

/// What one device holds.
#[derive(Default)]
struct DeviceState {
    replicas: HashMap<DocKey, Replica>,
    /// The heads the server acknowledged, per document.
    acked: HashMap<DocKey, Vec<ChangeHash>>,
    cursor: Vec<u8>,
    reference_tag: Vec<u8>,
}

fn signatures(
    u: &mut Unstructured<'_>,
    device: &FuzzDevice,
    other: &FuzzDevice,
    changes: &[u8],
) -> arbitrary::Result<Vec<ChangeSignature>> {
    Ok(match u.int_in_range(0u8..=15)? {
        0 => Vec::new(),
        1 => other.sign(changes),
        2 => {
            let mut signed = device.sign(changes);
            if let Some(first) = signed.first_mut() {
                let at = u.choose_index(first.signature.len())?;
                first.signature[at] ^= 1 << u.int_in_range(0..=7)?;
            }
            signed
        }
        3 => vec![ChangeSignature { hash: edits::bytes(u, 40)?, signature: edits::bytes(u, 70)? }],
        _ => device.sign(changes),
    })
}

/// Makes a new document on `device` (the record, or its protected companion).
fn create(
    u: &mut Unstructured<'_>,
    device: &FuzzDevice,
    id: [u8; 16],
    part: Part,
    now: i64,
) -> arbitrary::Result<Option<Replica>> {
    let record_id = RecordId::from_bytes(id);
    let mut ctx = device.ctx(now);
    if u.ratio(1, 16)? {
        // Written in another user's name.
        ctx.author = UserId::new(edits::pick(u, &["fz-lead", "fz-supervisor", "someone"])?).expect("a user id");
    }
    Ok(match part {
        Part::Record => {
            let (township, village) = edits::township(u)?;
            let new = NewRecord {
                id: record_id,
                kind: edits::kind(u)?,
                title: edits::text(u)?,
                round: edits::pick(u, &["2024年第一轮", ""])?.to_owned(),
                township,
                village,
                team: edits::pick(u, &["第一巡察组", ""])?.to_owned(),
            };
            RecordDoc::create(&new, &ctx).ok().map(Replica::Record)
        }
        Part::Protected => ProtectedDoc::create(record_id, &ctx).ok().map(Replica::Protected),
    })
}

/// Edits a replica on `device` as one or more changes.
fn edit(u: &mut Unstructured<'_>, device: &FuzzDevice, replica: &mut Replica, now: i64) -> arbitrary::Result<()> {
    let ctx = device.ctx(now);
    match replica {
        Replica::Record(doc) => {
            for _ in 0..u.int_in_range(1..=4)? {
                let batch: Vec<_> = (0..u.int_in_range(1..=3)?).map(|_| edits::edit(u)).collect::<Result<_, _>>()?;
                let _ = doc.apply(&batch, &ctx);
            }
        }
        Replica::Protected(doc) => {
            let field = edits::pick(u, InformantField::ALL)?;
            let value = if u.ratio(1, 5)? { None } else { Some(edits::text(u)?) };
            let _ = doc.set_informant(field, value.as_deref(), &ctx);
        }
    }
    Ok(())
}

/// One upload of a scenario's sync.
fn upload(
    u: &mut Unstructured<'_>,
    devices: &[FuzzDevice],
    who: usize,
    state: &mut DeviceState,
    now: i64,
) -> arbitrary::Result<Upload> {
    let device = &devices[who];
    let other = &devices[(who + 1 + u.choose_index(devices.len() - 1)?) % devices.len()];
    let record = if u.ratio(1, 24)? { edits::bytes(u, 20)? } else { edits::pick(u, &SLOTS)?.to_vec() };
    let part = if u.ratio(1, 4)? { Part::Protected } else { Part::Record };
    let key = DocKey { record: record.clone(), part };
    let id: Option<[u8; 16]> = record.as_slice().try_into().ok();
    // The changes: made here (new document, or edits since what the server acknowledged,
    // or the whole replica), another device's, damaged, or arbitrary bytes.
    let changes = match u.int_in_range(0u8..=9)? {
        0 => edits::bytes(u, 300)?,
        mode => {
            if !state.replicas.contains_key(&key) || mode == 1 {
                let made = match id {
                    Some(id) => create(u, device, id, part, now)?,
                    None => None,
                };
                match made {
                    Some(replica) => {
                        state.replicas.insert(key.clone(), replica);
                        state.acked.remove(&key);
                    }
                    None => return Ok(Upload { doc: key, changes: Vec::new(), signatures: Vec::new() }),
                }
            }
            let replica = state.replicas.get_mut(&key).expect("a replica");
            if mode >= 3 {
                edit(u, device, replica, now)?;
            }
            let acked = state.acked.get(&key).cloned().unwrap_or_default();
            let mut bytes = match mode {
                2 | 9 => replica.save(),
                _ => replica.save_after(&acked),
            };
            if mode == 8 && !bytes.is_empty() {
                // Damaged on the way: a flipped bit or a cut.
                if u.arbitrary()? {
                    let at = u.choose_index(bytes.len())?;
                    bytes[at] ^= 1 << u.int_in_range(0..=7)?;
                } else {
                    bytes.truncate(u.choose_index(bytes.len())?);
                }
            }
            bytes
        }
    };
    let signatures = signatures(u, device, other, &changes)?;
    Ok(Upload { doc: key, changes, signatures })
}

/// Applies a 200 answer to a device's replicas, as the device would.
fn apply_answer(state: &mut DeviceState, request: &SyncRequest, response: &SyncResponse) {
    for (ack, upload) in response.acks.iter().zip(&request.uploads) {
        if matches!(ack.outcome, Outcome::Stored { .. }) {
            let heads = ack.heads.iter().filter_map(|h| ChangeHash::try_from(h.as_slice()).ok()).collect();
            state.acked.insert(upload.doc.clone(), heads);
        }
    }
    for entry in &response.entries {
        let merged = match state.replicas.get_mut(&entry.doc) {
            Some(replica) if !entry.full => replica.load_changes(&entry.changes),
            _ => false,
        };
        if !merged && let Some(mut replica) = Replica::load(entry.doc.part, &entry.changes) {
            let heads = replica.heads();
            state.acked.insert(entry.doc.clone(), heads);
            state.replicas.insert(entry.doc.clone(), replica);
        }
    }
    for dropped in &response.dropped {
        state.replicas.remove(dropped);
    }
    state.cursor = response.cursor.clone();
    if let Some(reference) = &response.reference {
        state.reference_tag = reference.tag.clone();
    }
}

/// `sync_upload`: a scenario of structured syncs.
pub fn check_scenario(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let template = template();
    let server = template.server();
    let devices = &template.devices;
    let mut states: Vec<DeviceState> = devices.iter().map(|_| DeviceState::default()).collect();
    for round in 0..4i64 {
        if u.is_empty() {
            break;
        }
        let _ = scenario_sync(&mut u, &server, devices, &mut states, NOW_MS + 60_000 * (round + 1));
    }
}

fn scenario_sync(
    u: &mut Unstructured<'_>,
    server: &Server,
    devices: &[FuzzDevice],
    states: &mut [DeviceState],
    now: i64,
) -> arbitrary::Result<()> {
    let who = u.choose_index(devices.len())?;
    let state = &mut states[who];
    let mut request = SyncRequest::default();
    for _ in 0..u.int_in_range(0..=3)? {
        request.uploads.push(upload(u, devices, who, state, now)?);
    }
    request.cursor = match u.int_in_range(0u8..=7)? {
        0 => Vec::new(),
        1 => edits::bytes(u, 30)?,
        2 if !state.cursor.is_empty() => {
            let mut cursor = state.cursor.clone();
            let at = u.choose_index(cursor.len())?;
            cursor[at] = u.arbitrary()?;
            cursor
        }
        _ => state.cursor.clone(),
    };
    for _ in 0..u.int_in_range(0..=2)? {
        let record = edits::pick(u, &SLOTS)?.to_vec();
        request.want_full.push(DocKey { record, part: if u.arbitrary()? { Part::Protected } else { Part::Record } });
    }
    request.reference_tag = if u.ratio(1, 6)? { edits::bytes(u, 20)? } else { state.reference_tag.clone() };
    request.keys = match u.int_in_range(0u8..=7)? {
        0 => Some(DeviceKeys { signing: edits::text(u)?, sealing: edits::text(u)? }),
        1 => Some(DeviceKeys {
            signing: hex::encode(devices[(who + 1) % devices.len()].signing.verifying_key().to_bytes()),
            sealing: "age1".into(),
        }),
        2 => None,
        _ => Some(DeviceKeys {
            signing: hex::encode(devices[who].signing.verifying_key().to_bytes()),
            sealing: String::new(),
        }),
    };
    let (status, body) = server.sync(&devices[who], encode(&request));
    if status.is_success() {
        let response = check_answer(Some(&request), &body);
        if std::env::var_os("XUNCHA_FUZZ_TRACE").is_some() {
            for ack in &response.acks {
                let outcome = match &ack.outcome {
                    Outcome::Stored { new } => format!("stored new={new}"),
                    Outcome::Refused { code, .. } => format!("refused {code:?}"),
                    Outcome::NeedFull => "need_full".to_owned(),
                };
                eprintln!("ack device={who} {outcome}");
            }
            eprintln!("entries device={who} {}", response.entries.len());
        }
        apply_answer(state, &request, &response);
    }
    Ok(())
}
