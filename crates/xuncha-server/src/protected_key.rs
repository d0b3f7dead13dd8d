//! The district's protected-data key (X25519, `age`). Devices seal every protected value
//! (an informant) to its recipient and to their own key, so the server stores and relays
//! only ciphertext. The identity never reaches the server in the clear: `init` makes it
//! and hands it to the administrator, who keeps it offline as a file; `grant` seals it to
//! each supervisor device's own key (registered at enrollment), and the device receives
//! that with its reference data. These run in the administrator's `xuncha admin` process.

use std::str::FromStr;

use age::secrecy::ExposeSecret;
use serde::Serialize;
use xuncha_protocol::Role;
use zeroize::Zeroizing;

use crate::storage::{AuditEntry, Result, Storage, StorageError, with_tx};

fn audit(action: &str, detail: serde_json::Value, now_ms: i64) -> AuditEntry {
    AuditEntry { at_ms: now_ms, user_id: Some("admin".into()), device_id: None, action: action.into(), detail }
}

/// A new protected-data identity: its recipient (`age1…`) and secret (`AGE-SECRET-KEY-1…`).
pub fn generate() -> (String, Zeroizing<String>) {
    let identity = age::x25519::Identity::generate();
    (identity.to_public().to_string(), Zeroizing::new(identity.to_string().expose_secret().to_owned()))
}

/// Registers the district's protected-data recipient, made by [`generate`] (its secret
/// written where the administrator keeps it first). Refused when one exists: everything
/// protected already written is sealed to that one.
pub fn init(storage: &dyn Storage, recipient: &str, now_ms: i64) -> Result<String> {
    if !xuncha_domain::sealing::is_recipient(recipient) {
        return Err(StorageError::Conflict(format!("not an age recipient: {recipient}")));
    }
    with_tx(storage, true, |tx| {
        if let Some(existing) = tx.protected_key()? {
            return Err(StorageError::Conflict(format!(
                "受保护信息密钥已存在（{existing}），已加密的信息都依赖它，不能另建 / the protected-data key exists already ({existing}); everything protected is sealed to it, so another is never made"
            )));
        }
        tx.set_protected_key(recipient, now_ms)?;
        tx.bump_reference_version()?;
        tx.audit(&audit("protected_key.init", serde_json::json!({ "recipient": recipient }), now_ms))
    })?;
    Ok(recipient.to_owned())
}

/// A device and whether it holds the protected-data key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceGrant {
    pub device_id: String,
    pub device_name: String,
    pub user_id: String,
    pub user_name: String,
    /// `granted`, `pending` (a supervisor's device without it) or `waiting_for_keys` (a
    /// supervisor's device that has not synced since it could register its own key).
    pub state: &'static str,
}

/// The protected-data key's state: its recipient and the supervisors' devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub recipient: Option<String>,
    pub devices: Vec<DeviceGrant>,
}

/// The recipient and every active supervisor device with its state.
pub fn status(storage: &dyn Storage) -> Result<Status> {
    with_tx(storage, false, |tx| {
        let recipient = tx.protected_key()?;
        let mut devices = Vec::new();
        for device in tx.devices()? {
            if device.revoked_at_ms.is_some() {
                continue;
            }
            let Some(user) = tx.user(&device.user_id)? else { continue };
            if user.role != Role::Supervisor {
                continue;
            }
            let state = if tx.protected_grant(&device.id)?.is_some() {
                "granted"
            } else if device.sealing_key.is_some() {
                "pending"
            } else {
                "waiting_for_keys"
            };
            devices.push(DeviceGrant {
                device_id: device.id,
                device_name: device.name,
                user_id: user.id,
                user_name: user.name,
                state,
            });
        }
        Ok(Status { recipient, devices })
    })
}

/// Seals the identity in `key_file_text` to each active device of the supervisors named
/// in `users` (every supervisor when empty) that has registered its own key and does not
/// hold it yet. One transaction; returns the devices granted.
pub fn grant(storage: &dyn Storage, key_file_text: &str, users: &[String], now_ms: i64) -> Result<Vec<DeviceGrant>> {
    let line = key_file_text.lines().map(str::trim).find(|l| l.starts_with("AGE-SECRET-KEY-")).unwrap_or("");
    let identity = age::x25519::Identity::from_str(line).map_err(|_| {
        StorageError::Conflict(
            "密钥文件中没有受保护信息私钥（AGE-SECRET-KEY-1…）/ the key file holds no protected-data identity (AGE-SECRET-KEY-1…)"
                .into(),
        )
    })?;
    let secret = Zeroizing::new(identity.to_string().expose_secret().to_owned());
    let public = identity.to_public().to_string();
    with_tx(storage, true, |tx| {
        match tx.protected_key()? {
            None => {
                return Err(StorageError::Conflict(
                    "尚未设置受保护信息密钥：先运行 `xuncha admin protected-key init` / there is no protected-data key yet: run `xuncha admin protected-key init` first".into(),
                ));
            }
            Some(recipient) if recipient != public => {
                return Err(StorageError::Conflict(format!(
                    "此密钥文件不是本区的受保护信息密钥（本区公钥 {recipient}）/ this key file is not the district's protected-data key (the district's is {recipient})"
                )));
            }
            Some(_) => {}
        }
        for user in users {
            match tx.user(user)? {
                None => return Err(StorageError::NotFound(format!("user {user}"))),
                Some(u) if u.role != Role::Supervisor => {
                    return Err(StorageError::Conflict(format!(
                        "{user} 不是审核人：受保护信息密钥只发给审核人（巡察办）的设备 / {user} is not a supervisor: only supervisors' devices receive the protected-data key"
                    )));
                }
                Some(_) => {}
            }
        }
        let mut granted = Vec::new();
        for device in tx.devices()? {
            if device.revoked_at_ms.is_some() || tx.protected_grant(&device.id)?.is_some() {
                continue;
            }
            let Some(user) = tx.user(&device.user_id)? else { continue };
            let chosen = if users.is_empty() { user.role == Role::Supervisor } else { users.contains(&user.id) };
            let Some(sealing_key) = device.sealing_key.as_deref().filter(|_| chosen) else { continue };
            let wrapped =
                xuncha_domain::sealing::seal(secret.as_bytes(), &[sealing_key]).map_err(StorageError::Conflict)?;
            tx.grant_protected(&device.id, &wrapped, now_ms)?;
            tx.audit(&audit(
                "protected_key.grant",
                serde_json::json!({ "device": device.id, "user": user.id }),
                now_ms,
            ))?;
            granted.push(DeviceGrant {
                device_id: device.id,
                device_name: device.name,
                user_id: user.id,
                user_name: user.name,
                state: "granted",
            });
        }
        if !granted.is_empty() {
            tx.bump_reference_version()?;
        }
        Ok(granted)
    })
}
