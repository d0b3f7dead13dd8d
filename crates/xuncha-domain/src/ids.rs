//! Identifiers: records and list items (UUID v7, time ordered), users, devices and the
//! Automerge actor a device writes with.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::DomainError;

/// Ten random bytes for a UUID v7; callers supply them (from the OS or a seeded generator)
/// so that the domain never draws randomness itself.
pub type Entropy = [u8; 10];

fn uuid_v7(now_ms: i64, entropy: &Entropy) -> Uuid {
    let millis = u64::try_from(now_ms).unwrap_or(0);
    uuid::Builder::from_unix_timestamp_millis(millis, entropy).into_uuid()
}

/// The id of an inspection record (UUID v7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RecordId(Uuid);

impl RecordId {
    /// A new id for a record created at `now_ms`.
    pub fn new(now_ms: i64, entropy: &Entropy) -> RecordId {
        RecordId(uuid_v7(now_ms, entropy))
    }

    /// The UUID.
    pub fn uuid(self) -> Uuid {
        self.0
    }

    /// The id from its 16 bytes (as sent over the wire).
    pub fn from_bytes(bytes: [u8; 16]) -> RecordId {
        RecordId(Uuid::from_bytes(bytes))
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for RecordId {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<RecordId, DomainError> {
        Uuid::parse_str(s.trim()).map(RecordId).map_err(|_| DomainError::BadId { input: s.to_owned() })
    }
}

/// The stable id of an item in one of a record's lists (a household, a subject, a
/// relation, a contract). Two inspectors adding items offline never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ItemId(Uuid);

impl ItemId {
    /// A new id for an item added at `now_ms`.
    pub fn new(now_ms: i64, entropy: &Entropy) -> ItemId {
        ItemId(uuid_v7(now_ms, entropy))
    }

    /// The key under which the item is stored in the document.
    pub fn key(self) -> String {
        self.0.simple().to_string()
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.simple().fmt(f)
    }
}

impl FromStr for ItemId {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<ItemId, DomainError> {
        Uuid::parse_str(s.trim()).map(ItemId).map_err(|_| DomainError::BadId { input: s.to_owned() })
    }
}

/// The id of a person (inspector, team lead, supervisor, administrator).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// A user id; must be non-empty and without control characters.
    pub fn new(id: impl Into<String>) -> Result<UserId, DomainError> {
        let id = id.into();
        if id.trim().is_empty() || id.chars().any(char::is_control) || id.len() > 128 {
            return Err(DomainError::BadId { input: id });
        }
        Ok(UserId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The id of a device (tablet or desktop install).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(String);

impl DeviceId {
    /// A device id; must be non-empty and without control characters.
    pub fn new(id: impl Into<String>) -> Result<DeviceId, DomainError> {
        let id = id.into();
        if id.trim().is_empty() || id.chars().any(char::is_control) || id.len() > 128 {
            return Err(DomainError::BadId { input: id });
        }
        Ok(DeviceId(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
