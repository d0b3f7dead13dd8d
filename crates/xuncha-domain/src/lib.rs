//! Inspection records as typed Automerge documents: the four record kinds, field-level
//! edits that merge, validation, conflicts, history and flat projections. No I/O.
//!
//! Callers never touch Automerge keys: they name fields with [`Field`] and [`ItemField`],
//! change records with [`Edit`]s through [`RecordDoc::apply`], and read them as [`Record`],
//! [`Projection`], [`Conflict`]s and [`HistoryEntry`]s.

mod changes;
mod codec;
pub mod codes;
mod conflict;
mod division;
mod doc;
mod edit;
mod error;
mod error_code;
mod field;
mod findings;
mod history;
mod ids;
mod money;
pub mod numbering;
mod projection;
mod protected;
mod record;
pub mod reference;
pub mod rules;
pub mod sealing;
pub mod signing;
pub mod tables;
mod validate;
pub mod workflow;

pub use automerge::{ActorId, ChangeHash};
pub use changes::{RawChange, SyncDoc};
pub use codes::PoliticalStatus;
pub use codes::{
    ClueSource, Conclusion, ContractObject, ContractStatus, Disposition, FourWinds, FundIssue, FundType, HandoverTo,
    InactionType, Outcome, PetitionChannel, RecordKind, RectifyKind, RelationKind, ReviewStatus, SignerRole,
    Vocabulary,
};
pub use conflict::{Conflict, ConflictValue, FieldPath};
pub use division::Division;
pub use doc::{ChangeAuthor, NewRecord, RecordDoc, SCHEMA_VERSION, guarded, inside_guarded};
pub use edit::{AttachmentRef, Edit, EditContext};
pub use error::DomainError;
pub use error_code::ErrorCode;
pub use field::{Field, FieldType, GeoPoint, ItemField, ItemList, Kinds, Value, is_date};
pub use findings::{Finding, HouseholdShortfall, Shortfall, findings};
pub use history::{FieldVersion, HistoryEntry};
pub use ids::{DeviceId, Entropy, ItemId, RecordId, UserId};
pub use money::{Mu, Yuan};
pub use projection::{Projection, project};
pub use protected::{Informant, InformantField, ProtectedDoc};
pub use record::Withdrawal;
pub use record::{Comment, Decision, Item, Record, Review};
pub use reference::{
    DeviceEntry, DivisionEntry, Jurisdiction, Level, Person, ReadScope, Reader, Reference, Roster, RosterHousehold,
    Round, Team, TeamRole,
};
pub use validate::{Problem, validate};
pub use workflow::{
    Asked, Capacity, Citation, Handover, LedgerChange, Light, NextStep, Progress, Rectification, Signature, Standing,
    Step,
};
