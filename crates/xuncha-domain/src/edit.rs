//! Field-level edit operations and the context every change is made in (who, which
//! device, when). Concurrent edits of different fields, items or characters all survive.

use automerge::ActorId;
use serde::{Deserialize, Serialize};

use crate::codes::{Conclusion, FundIssue, ReviewStatus, SignerRole};
use crate::field::{Field, GeoPoint, ItemField, ItemList, Value};
use crate::ids::{DeviceId, ItemId, RecordId, UserId};
use crate::workflow::{Capacity, Handover, LedgerChange};

/// Who makes a change, on which device and actor, and when. Time is passed in, never read
/// from the system clock by the domain.
#[derive(Debug, Clone)]
pub struct EditContext {
    pub author: UserId,
    pub device: DeviceId,
    /// The Automerge actor registered to the device.
    pub actor: ActorId,
    /// Milliseconds since the Unix epoch, from the caller's clock.
    pub now_ms: i64,
}

/// A reference from a record to an attachment (photo, scanned receipt, PDF), stored by
/// its SHA-256 content hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AttachmentRef {
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    pub mime: String,
    pub size: u64,
    #[serde(default)]
    pub caption: String,
    /// When the photo was taken, milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taken_at_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps: Option<GeoPoint>,
}

impl AttachmentRef {
    /// Whether `sha256` looks like a SHA-256 hex digest.
    pub fn is_valid_hash(sha256: &str) -> bool {
        sha256.len() == 64 && sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }
}

/// One field-level edit of a record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Edit {
    /// Sets a field (`None` clears it). Setting a field that holds concurrent values
    /// settles the conflict.
    Set {
        field: Field,
        value: Option<Value>,
    },
    /// Adds an item to a list, with initial field values.
    InsertItem {
        list: ItemList,
        id: ItemId,
        values: Vec<(ItemField, Value)>,
    },
    /// Sets one field of an item (`None` clears it).
    UpdateItem {
        id: ItemId,
        field: ItemField,
        value: Option<Value>,
    },
    /// Removes an item from a list.
    RemoveItem {
        list: ItemList,
        id: ItemId,
    },
    /// Replaces the narrative; the difference is applied as character splices, so
    /// concurrent edits of the narrative merge character by character.
    Narrative {
        text: String,
    },
    AddTag {
        tag: String,
    },
    RemoveTag {
        tag: String,
    },
    /// Marks or unmarks an issue type found in a fund check.
    SetIssue {
        issue: FundIssue,
        present: bool,
    },
    AddAttachment {
        attachment: AttachmentRef,
    },
    SetAttachmentCaption {
        sha256: String,
        caption: String,
    },
    RemoveAttachment {
        sha256: String,
    },
    AddComment {
        id: ItemId,
        text: String,
    },
    /// Moves the record one step along the 巡察 workflow (submitting requires a clean
    /// record), recorded as a step: who, in what capacity, when, on which heads, with the
    /// note, the conclusion and the hand-over. A later change to the record's content
    /// voids the step visibly.
    Transition {
        to: ReviewStatus,
        /// The capacity the step is made in (see `workflow::permit`).
        capacity: Capacity,
        #[serde(default)]
        note: String,
        #[serde(default)]
        conclusion: Option<Conclusion>,
        #[serde(default)]
        handover: Option<Handover>,
    },
    /// Fills in the rectification ledger (整改台账): 责任单位, 责任人, 措施, 时限, 类型.
    Ledger {
        change: LedgerChange,
    },
    /// Adds a progress entry (整改进展) with its 佐证材料.
    AddProgress {
        id: ItemId,
        text: String,
        #[serde(default)]
        attachments: Vec<AttachmentRef>,
    },
    /// Cites another record as a source of this one (a talk, a petition, a record).
    Cite {
        source: RecordId,
    },
    /// Removes a citation.
    Uncite {
        source: RecordId,
    },
    /// A signature (签字) given on the record: the picture of it (PNG, or a photo of a
    /// thumbprint) and its pen strokes, bound to the record's heads.
    Sign {
        id: ItemId,
        role: SignerRole,
        signer: String,
        image: AttachmentRef,
        #[serde(default)]
        strokes: String,
    },
    /// Withdraws a draft (撤回草稿): allowed only while the record is a draft; afterwards the
    /// record takes no more edits and leaves lists, search and totals. Its document and
    /// history stay.
    Withdraw,
}

impl Edit {
    /// Short label for history and progress output.
    pub fn describe(&self) -> String {
        match self {
            Edit::Set { field, .. } => field.key().to_owned(),
            Edit::InsertItem { list, .. } | Edit::RemoveItem { list, .. } => list.key().to_owned(),
            Edit::UpdateItem { field, .. } => format!("{}.{}", field.list().key(), field.key()),
            Edit::Narrative { .. } => "narrative".to_owned(),
            Edit::AddTag { .. } | Edit::RemoveTag { .. } => "tags".to_owned(),
            Edit::SetIssue { .. } => "issues".to_owned(),
            Edit::AddAttachment { .. } | Edit::SetAttachmentCaption { .. } | Edit::RemoveAttachment { .. } => {
                "attachments".to_owned()
            }
            Edit::AddComment { .. } | Edit::Transition { .. } => "review".to_owned(),
            Edit::Ledger { .. } | Edit::AddProgress { .. } => "rectification".to_owned(),
            Edit::Cite { .. } | Edit::Uncite { .. } => "sources".to_owned(),
            Edit::Sign { .. } => "signatures".to_owned(),
            Edit::Withdraw => "withdrawn".to_owned(),
        }
    }
}
