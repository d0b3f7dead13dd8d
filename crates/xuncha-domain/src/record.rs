//! The typed, read-only view of a record: what the UI, export and validation work with.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::codes::{FundIssue, RecordKind, ReviewStatus};
use crate::division::Division;
use crate::edit::AttachmentRef;
use crate::field::{Field, GeoPoint, ItemField, ItemList, Value};
use crate::ids::{ItemId, RecordId};
use crate::money::{Mu, Yuan};

/// An item of one of a record's lists.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    pub id: ItemId,
    pub values: BTreeMap<ItemField, Value>,
}

impl Item {
    /// A text field of the item.
    pub fn text(&self, field: ItemField) -> Option<&str> {
        match self.values.get(&field)? {
            Value::Text(text) | Value::Date(text) | Value::Choice(text) => Some(text),
            _ => None,
        }
    }

    /// A money field of the item.
    pub fn money(&self, field: ItemField) -> Option<Yuan> {
        match self.values.get(&field)? {
            Value::Money(yuan) => Some(*yuan),
            _ => None,
        }
    }

    /// An area field of the item.
    pub fn area(&self, field: ItemField) -> Option<Mu> {
        match self.values.get(&field)? {
            Value::Area(mu) => Some(*mu),
            _ => None,
        }
    }

    /// A yes/no field of the item (absent reads as no).
    pub fn flag(&self, field: ItemField) -> bool {
        matches!(self.values.get(&field), Some(Value::Flag(true)))
    }
}

/// A reviewer's comment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comment {
    pub id: ItemId,
    pub author: String,
    pub at_ms: i64,
    pub text: String,
}

/// A review decision, pinned to the document heads it covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub status: ReviewStatus,
    pub note: String,
    pub by: String,
    pub at_ms: i64,
    /// The heads (hex change hashes) the decision was made on.
    pub heads: Vec<String>,
    /// Whether the record has changed outside its review block since the decision.
    pub void: bool,
}

/// The review block of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Review {
    pub status: ReviewStatus,
    pub comments: Vec<Comment>,
    pub decision: Option<Decision>,
}

impl Default for ReviewStatus {
    fn default() -> ReviewStatus {
        ReviewStatus::Draft
    }
}

/// A whole record, read from its document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Record {
    pub id: RecordId,
    pub kind: RecordKind,
    pub creator: String,
    pub created_at_ms: i64,
    pub fields: BTreeMap<Field, Value>,
    pub lists: BTreeMap<ItemList, Vec<Item>>,
    pub tags: Vec<String>,
    pub issues: Vec<FundIssue>,
    pub attachments: Vec<AttachmentRef>,
    pub narrative: String,
    pub review: Review,
    /// Paths whose stored value could not be read as its field's type (written by
    /// another version or damaged); validation reports them.
    pub malformed: Vec<String>,
}

impl Record {
    /// A text-like field (text, date or choice code).
    pub fn text(&self, field: Field) -> Option<&str> {
        match self.fields.get(&field)? {
            Value::Text(text) | Value::Date(text) | Value::Choice(text) => Some(text),
            _ => None,
        }
    }

    /// A money field.
    pub fn money(&self, field: Field) -> Option<Yuan> {
        match self.fields.get(&field)? {
            Value::Money(yuan) => Some(*yuan),
            _ => None,
        }
    }

    /// An area field.
    pub fn area(&self, field: Field) -> Option<Mu> {
        match self.fields.get(&field)? {
            Value::Area(mu) => Some(*mu),
            _ => None,
        }
    }

    /// A division field (township, village).
    pub fn division(&self, field: Field) -> Option<&Division> {
        match self.fields.get(&field)? {
            Value::Division(division) => Some(division),
            _ => None,
        }
    }

    /// The GPS point.
    pub fn location(&self) -> Option<GeoPoint> {
        match self.fields.get(&Field::Location)? {
            Value::Gps(point) => Some(*point),
            _ => None,
        }
    }

    /// The items of a list, ordered by id (that is, by when they were added).
    pub fn items(&self, list: ItemList) -> &[Item] {
        self.lists.get(&list).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The title, or a placeholder for an untitled draft.
    pub fn title_or_placeholder(&self) -> &str {
        self.text(Field::Title)
            .filter(|t| !t.trim().is_empty())
            .unwrap_or("（未命名）")
    }
}
