//! Edits of records made from fuzz input: mostly well-typed (so they apply and reach the
//! workflow, the rules and the server's checks), sometimes of the wrong type or kind.

use arbitrary::{Result, Unstructured};
use xuncha_domain::{
    AttachmentRef, Capacity, ClueSource, Conclusion, ContractObject, ContractStatus, Disposition, Division, Edit,
    Field, FieldType, FourWinds, FundIssue, FundType, GeoPoint, HandoverTo, InactionType, ItemField, ItemId, ItemList,
    Outcome, PetitionChannel, PoliticalStatus, RecordId, RecordKind, RelationKind, ReviewStatus, SignerRole, Value,
    Vocabulary,
};

use crate::server::{EAST, WEST, attachment_contents, sha256_hex, village_of};

/// One of `items`.
pub fn pick<T: Copy>(u: &mut Unstructured<'_>, items: &[T]) -> Result<T> {
    Ok(*u.choose(items)?)
}

/// A short string: often a fixed word, sometimes arbitrary text.
pub fn text(u: &mut Unstructured<'_>) -> Result<String> {
    const WORDS: &[&str] = &["", "张三", "李四", "到户补贴", "2024-04-01", "东岭镇", " ", "a\u{0}b", "x"];
    if u.ratio(1, 3)? {
        let len = u.int_in_range(0..=40)?;
        let bytes = u.bytes(len.min(u.len()))?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    } else {
        Ok(pick(u, WORDS)?.to_owned())
    }
}

fn codes(vocabulary: Vocabulary) -> Vec<&'static str> {
    match vocabulary {
        Vocabulary::FundType => FundType::ALL.iter().map(|v| v.code()).collect(),
        Vocabulary::RelationKind => RelationKind::ALL.iter().map(|v| v.code()).collect(),
        Vocabulary::ClueSource => ClueSource::ALL.iter().map(|v| v.code()).collect(),
        Vocabulary::Disposition => Disposition::ALL.iter().map(|v| v.code()).collect(),
        Vocabulary::ContractObject => ContractObject::ALL.iter().map(|v| v.code()).collect(),
        Vocabulary::ContractStatus => ContractStatus::ALL.iter().map(|v| v.code()).collect(),
        Vocabulary::FourWinds => FourWinds::ALL.iter().map(|v| v.code()).collect(),
        Vocabulary::InactionType => InactionType::ALL.iter().map(|v| v.code()).collect(),
        Vocabulary::PoliticalStatus => PoliticalStatus::ALL.iter().map(|v| v.code()).collect(),
        Vocabulary::Outcome => Outcome::ALL.iter().map(|v| v.code()).collect(),
        Vocabulary::PetitionChannel => PetitionChannel::ALL.iter().map(|v| v.code()).collect(),
    }
}

/// A division: the team's township or village, the other township's, or made up.
pub fn division(u: &mut Unstructured<'_>) -> Result<Division> {
    Ok(match u.int_in_range(0..=4)? {
        0 => Division::new(EAST.0, EAST.1),
        1 => Division::new(village_of(EAST.0), "第一村"),
        2 => Division::new(WEST.0, WEST.1),
        3 => Division::new(village_of(WEST.0), "第一村"),
        _ => Division::new(text(u)?, text(u)?),
    })
}

/// A value of type `ty` (or, now and then, of another type).
pub fn value(u: &mut Unstructured<'_>, ty: FieldType) -> Result<Value> {
    let ty = if u.ratio(1, 12)? {
        pick(
            u,
            &[FieldType::Text, FieldType::Money, FieldType::Area, FieldType::Flag, FieldType::Date, FieldType::Gps],
        )?
    } else {
        ty
    };
    Ok(match ty {
        FieldType::Text => Value::Text(text(u)?),
        FieldType::Money => {
            let yuan = u.int_in_range(-5i64..=10_000_000)?;
            let cents = u.int_in_range(0u8..=99)?;
            Value::Money(format!("{yuan}.{cents:02}").parse().unwrap_or_default())
        }
        FieldType::Area => {
            let mu = u.int_in_range(0i64..=100_000)?;
            Value::Area(format!("{mu}.{}", u.int_in_range(0u8..=9)?).parse().unwrap_or_default())
        }
        FieldType::Flag => Value::Flag(u.arbitrary()?),
        FieldType::Date => {
            if u.ratio(1, 4)? {
                Value::Date(text(u)?)
            } else {
                Value::Date(format!(
                    "{}-{:02}-{:02}",
                    u.int_in_range(2020..=2026)?,
                    u.int_in_range(1..=12)?,
                    u.int_in_range(1..=28)?
                ))
            }
        }
        FieldType::Choice(vocabulary) => {
            if u.ratio(1, 8)? {
                Value::Choice(text(u)?)
            } else {
                Value::Choice(pick(u, &codes(vocabulary))?.to_owned())
            }
        }
        FieldType::Division => Value::Division(division(u)?),
        FieldType::Gps => Value::Gps(GeoPoint {
            lat: f64::from(u.int_in_range(-9_100i32..=9_100)?) / 100.0,
            lon: f64::from(u.int_in_range(-18_100i32..=18_100)?) / 100.0,
            accuracy_m: if u.arbitrary()? { Some(f64::from(u.int_in_range(0u16..=500)?)) } else { None },
        }),
    })
}

/// One of a few item ids, so later edits find the items earlier ones made.
pub fn item_id(u: &mut Unstructured<'_>) -> Result<ItemId> {
    let n = u.int_in_range(0u8..=3)?;
    Ok(ItemId::new(crate::server::NOW_MS + i64::from(n), &[n; 10]))
}

/// An attachment reference: one the template's attachments (whose bytes the server may
/// hold), or made up.
pub fn attachment(u: &mut Unstructured<'_>) -> Result<AttachmentRef> {
    let contents = attachment_contents();
    let (sha256, size) = if u.ratio(3, 4)? {
        let content = u.choose(contents)?;
        (sha256_hex(content), content.len() as u64)
    } else if u.arbitrary()? {
        (sha256_hex(&bytes(u, 8)?), u.int_in_range(0..=1_000_000)?)
    } else {
        (text(u)?, u.arbitrary()?)
    };
    Ok(AttachmentRef {
        sha256,
        mime: pick(u, &["image/jpeg", "image/png", "application/pdf", ""])?.to_owned(),
        size,
        caption: text(u)?,
        taken_at_ms: if u.arbitrary()? { Some(u.arbitrary()?) } else { None },
        gps: None,
    })
}

/// One edit.
pub fn edit(u: &mut Unstructured<'_>) -> Result<Edit> {
    Ok(match u.int_in_range(0u8..=16)? {
        0..=3 => {
            let field: Field = pick(u, Field::ALL)?;
            let value = if u.ratio(1, 10)? { None } else { Some(value(u, field.ty())?) };
            Edit::Set { field, value }
        }
        4 => {
            let list: ItemList = pick(u, ItemList::ALL)?;
            let fields: Vec<ItemField> = list.fields().collect();
            let mut values = Vec::new();
            for _ in 0..u.int_in_range(0..=3)? {
                let field: ItemField = pick(u, &fields)?;
                values.push((field, value(u, field.ty())?));
            }
            Edit::InsertItem { list, id: item_id(u)?, values }
        }
        5 => {
            let field: ItemField = pick(u, ItemField::ALL)?;
            let value = if u.ratio(1, 10)? { None } else { Some(value(u, field.ty())?) };
            Edit::UpdateItem { id: item_id(u)?, field, value }
        }
        6 => Edit::RemoveItem { list: pick(u, ItemList::ALL)?, id: item_id(u)? },
        7 => Edit::Narrative { text: text(u)? },
        8 => {
            if u.arbitrary()? {
                Edit::AddTag { tag: text(u)? }
            } else {
                Edit::RemoveTag { tag: text(u)? }
            }
        }
        9 => Edit::SetIssue { issue: pick(u, FundIssue::ALL)?, present: u.arbitrary()? },
        10 => Edit::AddAttachment { attachment: attachment(u)? },
        11 => {
            let sha256 = attachment(u)?.sha256;
            if u.arbitrary()? {
                Edit::RemoveAttachment { sha256 }
            } else {
                Edit::SetAttachmentCaption { sha256, caption: text(u)? }
            }
        }
        12 => Edit::AddComment { id: item_id(u)?, text: text(u)? },
        13 | 14 => Edit::Transition {
            to: pick(u, ReviewStatus::ALL)?,
            capacity: pick(u, &[Capacity::Handler, Capacity::Deputy, Capacity::Lead, Capacity::Office])?,
            note: text(u)?,
            conclusion: if u.arbitrary()? { Some(pick(u, Conclusion::ALL)?) } else { None },
            handover: if u.ratio(1, 4)? {
                Some(xuncha_domain::Handover {
                    to: pick(u, HandoverTo::ALL)?,
                    unit: text(u)?,
                    number: text(u)?,
                    date: pick(u, &["2024-04-02", "2024-13-40", ""])?.to_owned(),
                })
            } else {
                None
            },
        },
        15 => {
            let source = RecordId::from_bytes(pick(u, &[crate::server::ATTACHED_RECORD, [7; 16], [0; 16]])?);
            if u.arbitrary()? { Edit::Cite { source } } else { Edit::Uncite { source } }
        }
        _ => {
            if u.ratio(1, 3)? {
                Edit::Withdraw
            } else {
                Edit::Sign {
                    id: item_id(u)?,
                    role: pick(u, SignerRole::ALL)?,
                    signer: text(u)?,
                    image: attachment(u)?,
                    strokes: text(u)?,
                }
            }
        }
    })
}

/// A record kind.
pub fn kind(u: &mut Unstructured<'_>) -> Result<RecordKind> {
    pick(u, RecordKind::ALL)
}

/// A township for a new record: mostly the team's.
pub fn township(u: &mut Unstructured<'_>) -> Result<(Option<Division>, Option<Division>)> {
    Ok(match u.int_in_range(0u8..=5)? {
        0..=2 => (Some(Division::new(EAST.0, EAST.1)), Some(Division::new(village_of(EAST.0), "第一村"))),
        3 => (Some(Division::new(EAST.0, EAST.1)), None),
        4 => (Some(Division::new(WEST.0, WEST.1)), Some(Division::new(village_of(WEST.0), "第一村"))),
        _ => (if u.arbitrary()? { Some(division(u)?) } else { None }, None),
    })
}

/// Up to `max` bytes of the input.
pub fn bytes(u: &mut Unstructured<'_>, max: usize) -> Result<Vec<u8>> {
    let len = u.int_in_range(0..=max)?.min(u.len());
    Ok(u.bytes(len)?.to_vec())
}
