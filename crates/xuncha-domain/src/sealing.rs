//! Sealing protected values: age (X25519) encryption to several recipients, so that a
//! value written on a device can be read by that device and by whoever holds the
//! district's protected-data identity, and by no one else (not the server).

use std::io::{Read, Write};
use std::str::FromStr;

use zeroize::Zeroizing;

/// Seals `bytes` to every recipient (`age1…`).
pub fn seal(bytes: &[u8], recipients: &[&str]) -> Result<Vec<u8>, String> {
    let parsed = recipients
        .iter()
        .map(|r| age::x25519::Recipient::from_str(r.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("加密对象无效 / bad recipient: {e}"))?;
    let fail = |e: &dyn std::fmt::Display| format!("无法加密 / cannot seal: {e}");
    let encryptor =
        age::Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn age::Recipient)).map_err(|e| fail(&e))?;
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).map_err(|e| fail(&e))?;
    writer.write_all(bytes).map_err(|e| fail(&e))?;
    writer.finish().map_err(|e| fail(&e))?;
    Ok(out)
}

/// Opens sealed bytes with any of `identities`; `None` when none of them may (or the
/// bytes are damaged).
pub fn open(sealed: &[u8], identities: &[&age::x25519::Identity]) -> Option<Zeroizing<Vec<u8>>> {
    let decryptor = age::Decryptor::new(sealed).ok()?;
    let mut reader = decryptor.decrypt(identities.iter().map(|i| *i as &dyn age::Identity)).ok()?;
    let mut out = Zeroizing::new(Vec::new());
    reader.read_to_end(&mut out).ok()?;
    Some(out)
}

/// Whether `text` is an X25519 recipient (`age1…`).
pub fn is_recipient(text: &str) -> bool {
    age::x25519::Recipient::from_str(text.trim()).is_ok()
}
