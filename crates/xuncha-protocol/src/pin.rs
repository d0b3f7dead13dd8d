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
