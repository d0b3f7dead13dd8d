//! Device tokens and enrollment codes: random, shown once, stored only as SHA-256 hashes.

use sha2::{Digest, Sha256};

/// The unambiguous alphabet of enrollment codes (no 0/O, 1/I/L).
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    bytes
}

/// A new device token: 32 random bytes, hex.
pub fn new_token() -> String {
    hex::encode(random_bytes::<32>())
}

/// A new one-time enrollment code, e.g. `7KQM-4XPA-2R`, easy to read out and type.
pub fn new_enrollment_code() -> String {
    let bytes = random_bytes::<10>();
    let chars: String = bytes.iter().map(|b| CODE_ALPHABET[usize::from(*b) % CODE_ALPHABET.len()] as char).collect();
    format!("{}-{}-{}", &chars[..4], &chars[4..8], &chars[8..])
}

/// Normalises a typed enrollment code (case, dashes, spaces).
pub fn normalise_code(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect()
}

/// The stored form of a token or a code.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A new server id, made once when a server's storage is created.
pub fn new_server_id() -> String {
    format!("srv-{}", hex::encode(random_bytes::<12>()))
}

/// A new id for a round, team or roster.
pub fn new_reference_id(prefix: &str) -> String {
    format!("{prefix}-{}", hex::encode(random_bytes::<6>()))
}

/// A new device id.
pub fn new_device_id() -> String {
    format!("dev-{}", hex::encode(random_bytes::<8>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_readable_and_normalise() {
        let code = new_enrollment_code();
        assert_eq!(code.len(), 12);
        assert_eq!(normalise_code(&code.to_lowercase()), code.replace('-', ""));
        assert_ne!(new_token(), new_token());
        assert_eq!(hash_secret("x").len(), 64);
    }
}
