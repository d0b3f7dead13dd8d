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

/// Characters in an enrollment code: 16 of 31 symbols, about 79 bits.
const CODE_CHARS: usize = 16;

/// A new one-time enrollment code, e.g. `7KQM-4XPA-2RHC-9WNE`, easy to read out and type.
pub fn new_enrollment_code() -> String {
    let mut chars = String::with_capacity(CODE_CHARS + 3);
    while chars.len() < CODE_CHARS + 3 {
        // Rejection sampling keeps every symbol equally likely.
        for b in random_bytes::<32>() {
            let limit = 256 - 256 % CODE_ALPHABET.len();
            if usize::from(b) >= limit || chars.len() == CODE_CHARS + 3 {
                continue;
            }
            if matches!(chars.len(), 4 | 9 | 14) {
                chars.push('-');
            }
            chars.push(CODE_ALPHABET[usize::from(b) % CODE_ALPHABET.len()] as char);
        }
    }
    chars
}

/// The stored form of an enrollment code: `s1$salt$hash`, SHA-256 of a random salt and
/// the normalised code.
pub fn hash_code(code: &str) -> String {
    let salt = hex::encode(random_bytes::<16>());
    let hash = salted(&salt, code);
    format!("s1${salt}${hash}")
}

fn salted(salt: &str, code: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(salt.as_bytes());
    digest.update(b"$");
    digest.update(normalise_code(code).as_bytes());
    hex::encode(digest.finalize())
}

/// Whether `code` is the one `stored` was made from (salted, or the unsalted SHA-256 of
/// codes made before salts).
pub fn code_matches(stored: &str, code: &str) -> bool {
    let expected = match stored.strip_prefix("s1$").and_then(|rest| rest.split_once('$')) {
        Some((salt, hash)) => (salted(salt, code), hash),
        None => (hash_secret(&normalise_code(code)), stored),
    };
    // Both are hex digests of the same length: compare without an early exit.
    expected.0.len() == expected.1.len()
        && expected.0.bytes().zip(expected.1.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
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
        assert_eq!(code.len(), 19, "{code}");
        assert_eq!(code.matches('-').count(), 3, "{code}");
        assert_eq!(normalise_code(&code.to_lowercase()), code.replace('-', ""));
        let stored = hash_code(&code);
        assert!(code_matches(&stored, &code.to_lowercase()));
        assert!(!code_matches(&stored, &new_enrollment_code()));
        assert_ne!(stored, hash_code(&code), "each code has its own salt");
        assert!(code_matches(&hash_secret(&normalise_code(&code)), &code), "codes made before salts");
        assert_ne!(new_token(), new_token());
        assert_eq!(hash_secret("x").len(), 64);
    }
}
