//! Property test of merging: 2 to 5 replicas of a record apply random edits of every
//! operation type, exchange changes in random orders, and must end identical (document and
//! projection), with every concurrently set field listed as a conflict with all its values.
//!
//! The oracle is a causal model: each write is an event that knows the events its replica
//! had seen; after a full merge a field holds exactly the writes no other write to it had
//! seen (a clear removes only what it saw).

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use xuncha_domain::*;

const CASES: u32 = 256;

#[derive(Debug, Clone)]
enum Step {
    Edit { replica: usize, op: u8, a: u8, b: u8 },
    Merge { into: usize, from: usize },
}

fn step(replicas: usize) -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..replicas, 0u8..16, any::<u8>(), any::<u8>()).prop_map(|(replica, op, a, b)| Step::Edit { replica, op, a, b }),
        1 => (0..replicas, 0..replicas).prop_map(|(into, from)| Step::Merge { into, from }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, Vec<Step>, Vec<usize>)> {
    (2usize..=5).prop_flat_map(|n| {
        (Just(n), prop::collection::vec(step(n), 1..40), Just((0..n).collect::<Vec<_>>()).prop_shuffle())
    })
}

/// Where a modelled write landed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Field(Field),
    Item(ItemId, ItemField),
}

#[derive(Debug)]
struct Write {
    slot: Slot,
    /// `None` for a clear.
    display: Option<String>,
    author: String,
    seen: BTreeSet<usize>,
}

#[derive(Default, Debug)]
struct Model {
    writes: Vec<Write>,
    removed_items: BTreeSet<ItemId>,
    known: Vec<BTreeSet<usize>>,
}

impl Model {
    fn record(&mut self, replica: usize, author: &str, slots: Vec<(Slot, Option<String>)>) {
        let seen = self.known[replica].clone();
        for (slot, display) in slots {
            let id = self.writes.len();
            self.writes.push(Write { slot, display, author: author.to_owned(), seen: seen.clone() });
            self.known[replica].insert(id);
        }
    }

    /// The values each slot must hold after a full merge: (display, author) of the
    /// writes no other write to the slot had seen, leaving out clears.
    fn expected(&self) -> BTreeMap<Slot, Vec<(String, String)>> {
        let mut by_slot: BTreeMap<Slot, Vec<usize>> = BTreeMap::new();
        for (i, w) in self.writes.iter().enumerate() {
            by_slot.entry(w.slot.clone()).or_default().push(i);
        }
        let mut out = BTreeMap::new();
        for (slot, ids) in by_slot {
            if let Slot::Item(item, _) = &slot
                && self.removed_items.contains(item)
            {
                continue;
            }
            let mut values: Vec<(String, String)> = ids
                .iter()
                .filter(|i| !ids.iter().any(|j| self.writes[*j].seen.contains(i)))
                .filter_map(|i| self.writes[*i].display.clone().map(|d| (d, self.writes[*i].author.clone())))
                .collect();
            values.sort();
            out.insert(slot, values);
        }
        out
    }
}

fn ctx(replica: usize, clock: i64) -> EditContext {
    EditContext {
        author: UserId::new(format!("user{replica}")).unwrap(),
        device: DeviceId::new(format!("tablet{replica}")).unwrap(),
        actor: ActorId::from([u8::try_from(replica + 1).unwrap(); 16]),
        now_ms: 1_700_000_000_000 + clock,
    }
}

fn scalar_value(field: Field, pick: u8) -> Value {
    let i = usize::from(pick % 3);
    match field {
        Field::Title | Field::Round | Field::Team | Field::FundName => Value::Text(["甲", "乙", "丙"][i].into()),
        Field::Allocated | Field::Disbursed => Value::Money(Yuan::from_fen([10_000, 20_000, 30_050][i])),
        Field::FundType => Value::Choice(["household_subsidy", "education_aid", "other"][i].into()),
        Field::Township => Value::Division(Division::new(["330199101000", "330199102000", "330199103000"][i], "镇")),
        Field::Village => Value::Division(Division::new(["330199101001", "330199101002", "330199101003"][i], "村")),
        Field::Location => Value::Gps(GeoPoint { lat: [28.1, 28.2, 28.3][i], lon: 115.0, accuracy_m: None }),
        _ => Value::Text("?".into()),
    }
}

const FIELDS: [Field; 10] = [
    Field::Title,
    Field::Round,
    Field::Township,
    Field::Village,
    Field::Team,
    Field::Location,
    Field::FundName,
    Field::FundType,
    Field::Allocated,
    Field::Disbursed,
];

const ITEM_FIELDS: [ItemField; 5] =
    [ItemField::Head, ItemField::Entitled, ItemField::Received, ItemField::Verified, ItemField::Remark];

fn item_value(field: ItemField, pick: u8) -> Value {
    let i = usize::from(pick % 3);
    match field {
        ItemField::Entitled | ItemField::Received => Value::Money(Yuan::from_fen([100, 200, 350][i])),
        ItemField::Verified => Value::Flag(i == 0),
        _ => Value::Text(["王", "李", "赵"][i].into()),
    }
}

/// Applies one random edit; returns the modelled writes if the edit made a change.
fn random_edit(
    doc: &mut RecordDoc,
    replica: usize,
    clock: i64,
    op: u8,
    a: u8,
    b: u8,
) -> Option<Vec<(Slot, Option<String>)>> {
    let ctx = ctx(replica, clock);
    let record = doc.read();
    let items = record.items(ItemList::Beneficiaries).to_vec();
    let entropy = [u8::try_from(replica).unwrap(), a, b, (clock % 251) as u8, (clock / 251 % 251) as u8, 7, 7, 7, 7, 7];
    let (edit, slots): (Edit, Vec<(Slot, Option<String>)>) = match op {
        0..=3 => {
            let field = FIELDS[usize::from(a) % FIELDS.len()];
            if b.is_multiple_of(7) {
                (Edit::Set { field, value: None }, vec![(Slot::Field(field), None)])
            } else {
                let value = scalar_value(field, b);
                (Edit::Set { field, value: Some(value.clone()) }, vec![(Slot::Field(field), Some(value.to_string()))])
            }
        }
        4 | 5 => {
            let id = ItemId::new(ctx.now_ms, &entropy);
            let values: Vec<(ItemField, Value)> =
                ITEM_FIELDS.iter().take(usize::from(a % 4) + 1).map(|f| (*f, item_value(*f, b))).collect();
            let slots = values.iter().map(|(f, v)| (Slot::Item(id, *f), Some(v.to_string()))).collect();
            (Edit::InsertItem { list: ItemList::Beneficiaries, id, values }, slots)
        }
        6 | 7 if !items.is_empty() => {
            let item = &items[usize::from(a) % items.len()];
            let field = ITEM_FIELDS[usize::from(b) % ITEM_FIELDS.len()];
            let value = (!b.is_multiple_of(5)).then(|| item_value(field, a / 3));
            let display = value.as_ref().map(ToString::to_string);
            (Edit::UpdateItem { id: item.id, field, value }, vec![(Slot::Item(item.id, field), display)])
        }
        8 if !items.is_empty() => {
            let item = &items[usize::from(a) % items.len()];
            (Edit::RemoveItem { list: ItemList::Beneficiaries, id: item.id }, vec![])
        }
        9 => {
            let mut chars: Vec<char> = record.narrative.chars().collect();
            let pos = if chars.is_empty() { 0 } else { usize::from(a) % (chars.len() + 1) };
            if b.is_multiple_of(3) && !chars.is_empty() {
                let end = (pos + usize::from(b % 4) + 1).min(chars.len());
                chars.drain(pos.min(chars.len() - 1)..end);
            } else {
                for (k, ch) in ["村", "委", "会", "补", "贴"].iter().enumerate().take(usize::from(b % 5) + 1) {
                    chars.insert(pos + k, ch.chars().next().unwrap());
                }
            }
            (Edit::Narrative { text: chars.into_iter().collect() }, vec![])
        }
        10 => {
            let tag = ["重点", "复查", "紧急"][usize::from(a % 3)].to_owned();
            (if b.is_multiple_of(2) { Edit::AddTag { tag } } else { Edit::RemoveTag { tag } }, vec![])
        }
        11 => (
            Edit::SetIssue {
                issue: FundIssue::ALL[usize::from(a) % FundIssue::ALL.len()],
                present: b.is_multiple_of(2),
            },
            vec![],
        ),
        12 => {
            let sha256 = format!("{:064x}", a % 4);
            if b.is_multiple_of(3) {
                (Edit::RemoveAttachment { sha256 }, vec![])
            } else if b % 3 == 1 {
                (
                    Edit::SetAttachmentCaption {
                        sha256, caption: ["收据", "现场", "合同"][usize::from(a % 3)].into()
                    },
                    vec![],
                )
            } else {
                let attachment = AttachmentRef {
                    sha256,
                    mime: "image/jpeg".into(),
                    size: u64::from(a),
                    caption: String::new(),
                    taken_at_ms: None,
                    gps: None,
                };
                (Edit::AddAttachment { attachment }, vec![])
            }
        }
        13 => (Edit::AddComment { id: ItemId::new(ctx.now_ms, &entropy), text: "请补充材料".into() }, vec![]),
        14 => {
            let status = ReviewStatus::ALL[usize::from(a) % ReviewStatus::ALL.len()];
            let capacity = [Capacity::Handler, Capacity::Deputy, Capacity::Lead, Capacity::Office][usize::from(a) % 4];
            let note = if a.is_multiple_of(3) { String::new() } else { "审核意见".into() };
            let conclusion = a.is_multiple_of(2).then_some(Conclusion::Confirmed);
            (Edit::Transition { to: status, capacity, note, conclusion, handover: None }, vec![])
        }
        _ => (Edit::Cite { source: RecordId::new(1_700_000_000_000 + i64::from(a), &[a; 10]) }, vec![]),
    };
    // Refused edits (bad transitions, missing items) must leave the replica unchanged.
    let before = doc.heads();
    match doc.apply(&[edit], &ctx) {
        Ok(Some(_)) => Some(slots),
        Ok(None) | Err(_) => {
            assert_eq!(doc.heads(), before, "a refused or empty edit changed the document");
            None
        }
    }
}

fn slot_path(slot: &Slot) -> FieldPath {
    match slot {
        Slot::Field(field) => FieldPath::Field { field: *field },
        Slot::Item(id, field) => FieldPath::Item { id: *id, field: *field },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_and_every_concurrent_value_is_listed((n, steps, order) in scenario()) {
        let new = NewRecord {
            id: RecordId::new(1_700_000_000_000, &[9; 10]),
            kind: RecordKind::FundCheck,
            title: String::new(),
            round: String::new(),
            township: None,
            village: None,
            team: String::new(),
        };
        let mut origin = RecordDoc::create(&new, &ctx(0, 0)).unwrap();
        let mut replicas: Vec<RecordDoc> = (0..n).map(|r| origin.fork(ctx(r, 0).actor)).collect();
        let mut model = Model { known: vec![BTreeSet::new(); n], ..Model::default() };
        let mut removed_by: Vec<(usize, ItemId)> = Vec::new();
        for (clock, step) in steps.iter().enumerate() {
            let clock = i64::try_from(clock).unwrap() + 1;
            match *step {
                Step::Edit { replica, op, a, b } => {
                    let items_before: BTreeSet<ItemId> =
                        replicas[replica].read().items(ItemList::Beneficiaries).iter().map(|i| i.id).collect();
                    if let Some(slots) = random_edit(&mut replicas[replica], replica, clock, op, a, b) {
                        model.record(replica, &format!("user{replica}"), slots);
                    }
                    let items_after: BTreeSet<ItemId> =
                        replicas[replica].read().items(ItemList::Beneficiaries).iter().map(|i| i.id).collect();
                    for gone in items_before.difference(&items_after) {
                        removed_by.push((replica, *gone));
                    }
                }
                Step::Merge { into, from } if into != from => {
                    let mut other = replicas[from].fork(ctx(from, 0).actor);
                    replicas[into].merge(&mut other).unwrap();
                    let seen = model.known[from].clone();
                    model.known[into].extend(seen);
                }
                Step::Merge { .. } => {}
            }
        }
        model.removed_items = removed_by.iter().map(|(_, id)| *id).collect();

        // Merge everything, in the shuffled order, into every replica.
        for &into in &order {
            for &from in &order {
                if into != from {
                    let mut other = replicas[from].fork(ctx(from, 0).actor);
                    replicas[into].merge(&mut other).unwrap();
                }
            }
        }
        let reference = replicas[order[0]].read();
        let reference_projection = replicas[order[0]].projection();
        let reference_conflicts = replicas[order[0]].conflicts();
        for replica in &mut replicas {
            prop_assert_eq!(&replica.read(), &reference);
            prop_assert_eq!(&replica.projection(), &reference_projection);
            prop_assert_eq!(&replica.conflicts(), &reference_conflicts);
        }

        let listed: BTreeMap<FieldPath, Vec<(String, String)>> = reference_conflicts
            .iter()
            .map(|c| {
                let mut values: Vec<(String, String)> =
                    c.values.iter().map(|v| (v.display.clone(), v.author.clone().unwrap_or_default())).collect();
                values.sort();
                (c.path.clone(), values)
            })
            .collect();
        for (slot, values) in model.expected() {
            let path = slot_path(&slot);
            if values.len() >= 2 {
                prop_assert_eq!(listed.get(&path), Some(&values), "concurrent values of {} not listed", path);
            } else {
                prop_assert!(!listed.contains_key(&path), "{} listed as a conflict with one value", path);
                let shown = match &slot {
                    Slot::Field(field) => reference.fields.get(field).map(ToString::to_string),
                    Slot::Item(id, field) => reference
                        .items(ItemList::Beneficiaries)
                        .iter()
                        .find(|i| i.id == *id)
                        .and_then(|i| i.values.get(field))
                        .map(ToString::to_string),
                };
                prop_assert_eq!(shown, values.first().map(|(d, _)| d.clone()), "value of {}", path);
            }
        }
    }
}
