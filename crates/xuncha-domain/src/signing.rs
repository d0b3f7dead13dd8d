//! Change signatures: Ed25519 over a domain-separated message naming the change hash.
//! The hash covers the change's actor, time, message (author) and content, so the
//! signature covers them too. Devices sign their own changes; the server verifies them
//! with the key it registered for the device, and evidence bundles carry them.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

const CONTEXT: &[u8] = b"xuncha change signature v1\0";

/// What is signed for the change with this hash.
pub fn message(hash: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(CONTEXT.len() + hash.len());
    message.extend_from_slice(CONTEXT);
    message.extend_from_slice(hash);
    message
}

/// Signs the change with this hash.
pub fn sign(key: &SigningKey, hash: &[u8]) -> Vec<u8> {
    key.sign(&message(hash)).to_bytes().to_vec()
}

/// Reads a public key written as hex; `None` when it is not 32 bytes of a valid point.
pub fn public_key(hex_text: &str) -> Option<VerifyingKey> {
    let bytes: [u8; 32] = hex::decode(hex_text.trim()).ok()?.try_into().ok()?;
    VerifyingKey::from_bytes(&bytes).ok()
}

/// Whether `signature` is `key`'s over the change with this hash.
pub fn verify(key: &VerifyingKey, hash: &[u8], signature: &[u8]) -> bool {
    let Ok(bytes) = <[u8; 64]>::try_from(signature) else { return false };
    key.verify_strict(&message(hash), &Signature::from_bytes(&bytes)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_hash_and_key() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let other = SigningKey::from_bytes(&[8; 32]);
        let signature = sign(&key, &[1; 32]);
        let public = public_key(&hex::encode(key.verifying_key().to_bytes())).unwrap();
        assert!(verify(&public, &[1; 32], &signature));
        assert!(!verify(&public, &[2; 32], &signature));
        assert!(!verify(&other.verifying_key(), &[1; 32], &signature));
        let mut flipped = signature.clone();
        flipped[10] ^= 1;
        assert!(!verify(&public, &[1; 32], &flipped));
        assert!(!verify(&public, &[1; 32], &signature[..63]));
        assert!(public_key("zz").is_none());
    }
}
