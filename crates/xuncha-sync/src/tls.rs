//! TLS with the server's key pinned. A device learns the server's key when it enrolls
//! (from the QR code, or from the connection it enrolls over) and from then on talks only
//! to a server presenting that key: a rogue proxy or a certificate for another key, however
//! it was signed, cannot read or alter a sync. Without a pin the usual checks against the
//! public certificate authorities apply, and the key the server presented is noted so it
//! can be pinned.

use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error, SignatureScheme};

/// Checks the server's certificate against a pin, or against the public authorities.
#[derive(Debug)]
pub struct PinnedVerifier {
    pin: Option<String>,
    /// The pin of the last certificate presented.
    seen: Presented,
    public: Arc<rustls::client::WebPkiServerVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The message a refused key fails the handshake with (and the client recognises).
pub const WRONG_KEY: &str = "the server presented another key than the one this device enrolled with";

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let presented = xuncha_protocol::pin::of_certificate(end_entity);
        *self.seen.lock().unwrap_or_else(PoisonError::into_inner) = presented.clone();
        match &self.pin {
            Some(pin) if presented.as_deref() == Some(pin.as_str()) => Ok(ServerCertVerified::assertion()),
            Some(_) => Err(Error::General(WRONG_KEY.into())),
            None => self.public.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Where a verifier writes the pin of the certificate it was shown.
pub type Presented = Arc<Mutex<Option<String>>>;

/// A TLS configuration that enforces `pin` (or the public authorities without one), and
/// where the pin of the certificate presented is written.
pub fn config(pin: Option<String>) -> Result<(rustls::ClientConfig, Presented), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let public = rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(&provider))
        .build()
        .map_err(|e| e.to_string())?;
    let seen = Arc::new(Mutex::new(None));
    let verifier =
        PinnedVerifier { pin, seen: Arc::clone(&seen), public, algorithms: provider.signature_verification_algorithms };
    let config = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider) as Arc<CryptoProvider>)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok((config, seen))
}
