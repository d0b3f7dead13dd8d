//! The server's key as a device pins it: SHA-256 of the certificate's public key
//! (SubjectPublicKeyInfo), in hex. A pin outlives a renewed certificate with the same key,
//! and a certificate for another key, however it was signed, does not match it.

use sha2::{Digest, Sha256};

/// The pin of a certificate (DER), or `None` if it is not a certificate.
pub fn of_certificate(der: &[u8]) -> Option<String> {
    let der = rustls_pki_types::CertificateDer::from(der);
    let cert = webpki::EndEntityCert::try_from(&der).ok()?;
    Some(hex::encode(Sha256::digest(cert.subject_public_key_info().as_ref())))
}

/// The pin of an Ed25519 public key (a team relay presents a certificate for its own
/// signing key, so the key its QR code shows is all a member needs to pin it).
pub fn of_ed25519(public: &[u8; 32]) -> String {
    // SubjectPublicKeyInfo: SEQUENCE { SEQUENCE { OID 1.3.101.112 }, BIT STRING key }.
    let mut spki = vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    spki.extend_from_slice(public);
    hex::encode(Sha256::digest(&spki))
}

/// Whether `pin` is written as a pin is (64 lower-case hex digits, after trimming and
/// lower-casing), and its normal form.
pub fn normalise(pin: &str) -> Option<String> {
    let pin = pin.trim().trim_start_matches("sha256:").to_ascii_lowercase();
    (pin.len() == 64 && pin.bytes().all(|b| b.is_ascii_hexdigit())).then_some(pin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_of_the_key_and_written_one_way() {
        assert_eq!(of_certificate(b"not a certificate"), None);
        let pin = "AB".repeat(32);
        assert_eq!(normalise(&format!(" sha256:{pin} ")), Some("ab".repeat(32)));
        assert_eq!(normalise("abc"), None);
    }
}
