//! Administration: users, enrollment codes, devices and revocation. The `xuncha admin`
//! commands call these on the server's data directory; every action is audit-logged.

use xuncha_protocol::Role;

use crate::auth;
use crate::scope;
use crate::storage::{AuditEntry, Device, Result, Storage, StorageError, User, with_tx};

/// How long an enrollment code stays valid.
pub const ENROLLMENT_VALID_MS: i64 = 7 * 24 * 3_600_000;

fn audit(action: &str, detail: serde_json::Value, now_ms: i64) -> AuditEntry {
    AuditEntry { at_ms: now_ms, user_id: Some("admin".into()), device_id: None, action: action.into(), detail }
}

/// Adds a user with a role and a jurisdiction (`district` or a township code).
pub fn add_user(
    storage: &dyn Storage,
    id: &str,
    name: &str,
    role: Role,
    jurisdiction: &str,
    now_ms: i64,
) -> Result<User> {
    if id.trim().is_empty() || id.chars().any(char::is_control) {
        return Err(StorageError::Conflict("用户编号不能为空 / the user id must not be empty".into()));
    }
    if !scope::valid_jurisdiction(jurisdiction) {
        return Err(StorageError::Conflict(format!(
            "管辖范围 “{jurisdiction}” 无效：应为 district 或 12 位乡镇代码 / jurisdiction {jurisdiction:?} must be `district` or a 12-digit township code"
        )));
    }
    let user =
        User { id: id.into(), name: name.into(), role, jurisdiction: jurisdiction.into(), created_at_ms: now_ms };
    with_tx(storage, true, |tx| {
        tx.add_user(&user)?;
        tx.audit(&audit(
            "user.add",
            serde_json::json!({ "user": user.id, "role": role.code(), "jurisdiction": jurisdiction }),
            now_ms,
        ))
    })?;
    Ok(user)
}

/// A fresh one-time enrollment code for `user_id` (shown once; stored hashed).
pub fn enrollment_code(storage: &dyn Storage, user_id: &str, now_ms: i64) -> Result<String> {
    let code = auth::new_enrollment_code();
    let hash = auth::hash_secret(&auth::normalise_code(&code));
    with_tx(storage, true, |tx| {
        if tx.user(user_id)?.is_none() {
            return Err(StorageError::NotFound(format!("user {user_id}")));
        }
        tx.add_enrollment(&hash, user_id, now_ms + ENROLLMENT_VALID_MS, now_ms)?;
        tx.audit(&audit("enrollment.create", serde_json::json!({ "user": user_id }), now_ms))
    })?;
    Ok(code)
}

/// Every device, with its user.
pub fn devices(storage: &dyn Storage) -> Result<Vec<Device>> {
    with_tx(storage, false, |tx| tx.devices())
}

/// Every user.
pub fn users(storage: &dyn Storage) -> Result<Vec<User>> {
    with_tx(storage, false, |tx| tx.users())
}

/// Revokes a lost or retired device: its next request is told to wipe its data.
pub fn revoke(storage: &dyn Storage, device_id: &str, now_ms: i64) -> Result<()> {
    with_tx(storage, true, |tx| {
        if !tx.revoke_device(device_id, now_ms)? {
            return Err(StorageError::NotFound(format!("device {device_id}")));
        }
        tx.audit(&audit("device.revoke", serde_json::json!({ "device": device_id }), now_ms))
    })
}

/// The latest audit entries, newest first.
pub fn audit_log(storage: &dyn Storage, limit: u32) -> Result<Vec<AuditEntry>> {
    with_tx(storage, false, |tx| tx.audit_log(limit))
}
