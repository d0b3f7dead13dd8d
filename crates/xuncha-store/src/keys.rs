//! The device's own keys, made when the database is created (or, for a database from
//! before keys, when it is first opened), kept only inside the encrypted database:
//!
//! - an Ed25519 signing key: every change the device makes is signed with it, and the
//!   server refuses a change whose signature does not verify with the registered key;
//! - an X25519 identity (`age`): protected values (an informant) are sealed to the
//!   district's protected-data key and to this device's, so the device that wrote a value
//!   can read it again and the server never can;
//! - once the administrator grants it (supervisors), the district's protected-data
//!   identity, which reads every protected value of the district.
//!
//! Sealed values are text: `age:` and the base64 of an age file. A value without the
//! prefix is plain (written before sealing existed).

use std::str::FromStr;

use age::secrecy::ExposeSecret;
use ed25519_dalek::SigningKey;
use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};

const SIGNING: &str = "signing_key";
const SEALING: &str = "sealing_identity";
const PROTECTED_RECIPIENT: &str = "protected_recipient";
const PROTECTED_IDENTITY: &str = "protected_identity";
/// What marks a sealed value.
pub const SEALED_PREFIX: &str = "age:";

/// The device's private keys.
#[derive(Clone)]
pub struct DeviceSecrets {
    pub signing: SigningKey,
    pub sealing: age::x25519::Identity,
}

impl std::fmt::Debug for DeviceSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSecrets").field("signing", &self.signing_public()).finish_non_exhaustive()
    }
}

impl DeviceSecrets {
    /// The Ed25519 public key, hex.
    pub fn signing_public(&self) -> String {
        hex::encode(self.signing.verifying_key().to_bytes())
    }

    /// The X25519 recipient, `age1…`.
    pub fn sealing_public(&self) -> String {
        self.sealing.to_public().to_string()
    }
}

fn corrupt(detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt { path: Default::default(), detail: detail.to_string() }
}

fn meta(conn: &Connection, key: &str) -> Result<Option<Zeroizing<String>>> {
    Ok(conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| row.get(0)).optional()?.map(Zeroizing::new))
}

fn set_meta(conn: &Connection, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Makes the device's keys if the database has none yet (one transaction).
pub(crate) fn ensure(conn: &mut Connection) -> Result<()> {
    if meta(conn, SIGNING)?.is_some() && meta(conn, SEALING)?.is_some() {
        return Ok(());
    }
    let tx = conn.transaction()?;
    if meta(&tx, SIGNING)?.is_none() {
        let mut secret = Zeroizing::new([0u8; 32]);
        getrandom::fill(secret.as_mut()).map_err(|e| corrupt(format!("no randomness for the device key: {e}")))?;
        set_meta(&tx, SIGNING, &hex::encode(secret.as_ref()))?;
    }
    if meta(&tx, SEALING)?.is_none() {
        let identity = age::x25519::Identity::generate();
        set_meta(&tx, SEALING, identity.to_string().expose_secret())?;
    }
    tx.commit()?;
    Ok(())
}

/// Reads the device's keys.
pub(crate) fn load(conn: &Connection) -> Result<DeviceSecrets> {
    let signing = meta(conn, SIGNING)?.ok_or_else(|| corrupt("the device has no signing key"))?;
    let bytes: Zeroizing<Vec<u8>> = Zeroizing::new(hex::decode(signing.as_str()).map_err(corrupt)?);
    let secret: [u8; 32] = bytes.as_slice().try_into().map_err(|_| corrupt("the signing key is not 32 bytes"))?;
    let sealing = meta(conn, SEALING)?.ok_or_else(|| corrupt("the device has no sealing key"))?;
    let sealing = age::x25519::Identity::from_str(sealing.as_str()).map_err(corrupt)?;
    Ok(DeviceSecrets { signing: SigningKey::from_bytes(&secret), sealing })
}

/// The district's protected-data recipient (`age1…`) and, on a device it was granted to,
/// the identity wrapped to this device's key.
pub(crate) fn protected(conn: &Connection) -> Result<(Option<String>, Option<age::x25519::Identity>)> {
    let recipient = meta(conn, PROTECTED_RECIPIENT)?.map(|r| r.to_string());
    let identity = match meta(conn, PROTECTED_IDENTITY)? {
        Some(text) => Some(age::x25519::Identity::from_str(text.as_str()).map_err(corrupt)?),
        None => None,
    };
    Ok((recipient, identity))
}

/// Stores what the server said of the district's protected-data key: its recipient, and
/// the identity wrapped to this device (opened here with the device's own key). A wrapped
/// identity this device cannot open, or that is not the recipient's, is not kept (and
/// does not stop the sync that brought it): the device simply cannot read others' values.
pub(crate) fn set_protected(
    conn: &Connection,
    secrets: &DeviceSecrets,
    recipient: &str,
    wrapped: Option<&[u8]>,
) -> Result<()> {
    if !xuncha_domain::sealing::is_recipient(recipient) {
        return Err(StoreError::Keys(format!(
            "受保护信息公钥无效 / the protected-data key {recipient:?} is malformed; ask the administrator"
        )));
    }
    let identity = wrapped
        .and_then(|wrapped| xuncha_domain::sealing::open(wrapped, &[&secrets.sealing]))
        .and_then(|text| String::from_utf8(text.to_vec()).ok().map(Zeroizing::new))
        .filter(|text| {
            age::x25519::Identity::from_str(text.trim())
                .is_ok_and(|identity| identity.to_public().to_string() == recipient.trim())
        });
    set_meta(conn, PROTECTED_RECIPIENT, recipient.trim())?;
    match &identity {
        Some(text) => set_meta(conn, PROTECTED_IDENTITY, text.trim())?,
        None => {
            conn.execute("DELETE FROM meta WHERE key = ?1", [PROTECTED_IDENTITY])?;
        }
    }
    Ok(())
}

/// Stores the district's protected-data recipient alone (enrollment).
pub(crate) fn set_recipient(conn: &Connection, recipient: &str) -> Result<()> {
    if !xuncha_domain::sealing::is_recipient(recipient) {
        return Err(StoreError::Keys(format!(
            "受保护信息公钥无效 / the protected-data key {recipient:?} is malformed; ask the administrator"
        )));
    }
    set_meta(conn, PROTECTED_RECIPIENT, recipient.trim())
}

/// Seals a text value to every recipient, as `age:` and base64.
pub fn seal_text(text: &str, recipients: &[&str]) -> Result<String> {
    use base64::Engine;
    let sealed = xuncha_domain::sealing::seal(text.as_bytes(), recipients).map_err(StoreError::Keys)?;
    Ok(format!("{SEALED_PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(sealed)))
}

/// What this device seals protected values to and opens them with.
pub struct Sealer {
    recipients: Vec<String>,
    identities: Vec<age::x25519::Identity>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").field("recipients", &self.recipients).finish_non_exhaustive()
    }
}

impl Sealer {
    /// The device's own key and, once known, the district's protected-data key.
    pub(crate) fn of(conn: &Connection, secrets: &DeviceSecrets) -> Result<Sealer> {
        let (district, district_identity) = protected(conn)?;
        let mut recipients = vec![secrets.sealing_public()];
        recipients.extend(district);
        let mut identities = vec![secrets.sealing.clone()];
        identities.extend(district_identity);
        Ok(Sealer { recipients, identities })
    }

    /// Seals a value; empty stays empty (clearing leaves nothing to read). Before the
    /// district's key is known only this device can read the value, until it is written
    /// again.
    pub fn seal(&self, text: &str) -> Result<String> {
        if text.is_empty() {
            return Ok(String::new());
        }
        let recipients: Vec<&str> = self.recipients.iter().map(String::as_str).collect();
        seal_text(text, &recipients)
    }

    /// Opens a stored value with the device's key or the district's.
    pub fn open(&self, value: &str) -> Opened {
        let identities: Vec<&age::x25519::Identity> = self.identities.iter().collect();
        open_text(value, &identities)
    }
}

/// What a stored protected value reads as on this device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    /// Plain text (empty, or written before sealing existed), or opened.
    Text(String),
    /// Sealed to keys this device does not hold.
    Sealed,
}

/// Opens a stored protected value with any of `identities`.
pub fn open_text(value: &str, identities: &[&age::x25519::Identity]) -> Opened {
    use base64::Engine;
    let Some(body) = value.strip_prefix(SEALED_PREFIX) else { return Opened::Text(value.to_owned()) };
    let Ok(sealed) = base64::engine::general_purpose::STANDARD.decode(body.trim()) else { return Opened::Sealed };
    match xuncha_domain::sealing::open(&sealed, identities).map(|b| String::from_utf8(b.to_vec())) {
        Some(Ok(text)) => Opened::Text(text),
        _ => Opened::Sealed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_for_each_recipient_and_no_one_else() {
        let (a, b, c) =
            (age::x25519::Identity::generate(), age::x25519::Identity::generate(), age::x25519::Identity::generate());
        let sealed =
            seal_text("举报人张某 13800000000", &[&a.to_public().to_string(), &b.to_public().to_string()]).unwrap();
        assert!(sealed.starts_with(SEALED_PREFIX));
        assert!(!sealed.contains("张某"));
        assert_eq!(open_text(&sealed, &[&a]), Opened::Text("举报人张某 13800000000".into()));
        assert_eq!(open_text(&sealed, &[&c, &b]), Opened::Text("举报人张某 13800000000".into()));
        assert_eq!(open_text(&sealed, &[&c]), Opened::Sealed);
        assert_eq!(open_text("plain", &[&c]), Opened::Text("plain".into()));
        assert_eq!(open_text("age:!!!", &[&a]), Opened::Sealed);
        let mut damaged = sealed.clone().into_bytes();
        let at = damaged.len() - 5;
        damaged[at] = if damaged[at] == b'A' { b'B' } else { b'A' };
        assert_eq!(open_text(&String::from_utf8(damaged).unwrap(), &[&a]), Opened::Sealed);
    }
}
