//! A team relay: a team lead's device serving the sync protocol to its own team on the local
//! network (a phone hotspot in a village), later passing everything on to the district's
//! server. Members find it by a QR code on the lead's screen ([`RelayLink`]), join it once
//! with their existing device identity ([`JoinRequest`]) and then sync with it like with a
//! server, under the token it gives them.
//!
//! Both ends prove who they are: the member signs its join with its device key (the key
//! the district server registered for it), the relay answers with a signature by the key
//! its QR code shows, so a device on the same hotspot cannot pose as the lead's relay.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier};
use serde::{Deserialize, Serialize};

use crate::bundle::PeerKey;
use crate::{DeviceKeys, percent_decode, percent_encode};

/// What a relay's QR code holds, as `xuncha:relay?url=…&key=…&code=…&team=…`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayLink {
    /// Where the relay listens, `https://<address>:<port>` (TLS with a certificate for the
    /// relay's own key: see [`tls_pin`]).
    pub url: String,
    /// The relay's public key (`xuncha1:…`).
    pub key: String,
    /// The join code shown beside the QR code (one per time the relay starts).
    pub code: String,
    /// The team the relay serves.
    pub team: String,
}

impl RelayLink {
    const PREFIX: &'static str = "xuncha:relay?";

    /// The text to put in a QR code.
    pub fn to_uri(&self) -> String {
        format!(
            "{}url={}&key={}&code={}&team={}",
            RelayLink::PREFIX,
            percent_encode(&self.url),
            percent_encode(&self.key),
            percent_encode(&self.code),
            percent_encode(&self.team)
        )
    }

    /// Reads what a QR code held; `None` when it is not a relay link.
    pub fn parse(text: &str) -> Option<RelayLink> {
        let query = text.trim().strip_prefix(RelayLink::PREFIX)?;
        let (mut url, mut key, mut code, mut team) = (None, None, None, None);
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=')?;
            let value = percent_decode(value)?;
            match name {
                "url" => url = Some(value),
                "key" => key = Some(value),
                "code" => code = Some(value),
                "team" => team = Some(value),
                _ => {}
            }
        }
        let link = RelayLink { url: url?, key: key?, code: code?, team: team? };
        let key_ok = PeerKey::parse(&link.key).is_ok();
        (key_ok && link.url.starts_with("https://")).then_some(link)
    }
}

/// The TLS pin of the relay whose key is `key` (`xuncha1:…`): a relay's certificate is for
/// its signing key, so a member pins it from the QR code alone, and a device on the same
/// hotspot can neither read the sync nor pose as the relay.
pub fn tls_pin(key: &PeerKey) -> Option<String> {
    let bytes: [u8; 32] = hex::decode(key.signing.trim()).ok()?.try_into().ok()?;
    Some(crate::pin::of_ed25519(&bytes))
}

/// `POST /v1/relay/join`: a device of the team joins the relay as the device the district
/// server knows (same id, actor and keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub code: String,
    pub device_id: String,
    pub device_name: String,
    pub user_id: String,
    /// The Automerge actor the device writes with (hex).
    pub actor: String,
    pub keys: DeviceKeys,
    /// The device's Ed25519 signature of [`join_message`]: it holds the key it names.
    #[serde(with = "serde_bytes")]
    pub proof: Vec<u8>,
}

/// The relay's answer to a join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinResponse {
    /// The relay's identity (its storage's server id): cursors and acknowledgements are
    /// kept per relay.
    pub relay_id: String,
    /// The token the device syncs with at this relay.
    pub token: String,
    pub team: String,
    /// The relay's Ed25519 signature of [`joined_message`], by the key its QR code shows.
    #[serde(with = "serde_bytes")]
    pub proof: Vec<u8>,
}

/// What a joining device signs: the relay it joins (its signing key), itself and its actor.
pub fn join_message(relay_signing: &str, device_id: &str, actor: &str) -> Vec<u8> {
    format!("xuncha relay join v1\0{}\0{device_id}\0{actor}", relay_signing.trim().to_ascii_lowercase()).into_bytes()
}

/// What the relay signs in answer: the relay, the device it let in and the token's digest.
pub fn joined_message(relay_id: &str, device_id: &str, token: &str) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    format!("xuncha relay joined v1\0{relay_id}\0{device_id}\0{digest}").into_bytes()
}

/// Signs a relay message.
pub fn sign(key: &SigningKey, message: &[u8]) -> Vec<u8> {
    key.sign(message).to_bytes().to_vec()
}

/// Whether `signature` is the signature of `message` by the Ed25519 key `signing` (hex).
pub fn verify(signing: &str, message: &[u8], signature: &[u8]) -> bool {
    let Some(key) = crate::signing::public_key(signing) else { return false };
    let Ok(signature) = Signature::from_slice(signature) else { return false };
    key.verify(message, &signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_reads_back_and_a_foreign_one_does_not() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let sealing = age::x25519::Identity::generate().to_public().to_string();
        let peer = PeerKey::new(&hex::encode(key.verifying_key().as_bytes()), &sealing).unwrap();
        let link = RelayLink {
            url: "https://192.168.43.1:7443".into(),
            key: peer.to_text(),
            code: "4821 0937".into(),
            team: "team-东岭".into(),
        };
        assert_eq!(RelayLink::parse(&link.to_uri()), Some(link.clone()));
        assert_eq!(RelayLink::parse("xuncha:enroll?server=http%3A%2F%2Fx&code=1"), None);
        let bad_key = RelayLink { key: "xuncha1:00:age1".into(), ..link.clone() };
        assert_eq!(RelayLink::parse(&bad_key.to_uri()), None);
        let ftp = RelayLink { url: "ftp://x".into(), ..link.clone() };
        assert_eq!(RelayLink::parse(&ftp.to_uri()), None);
        // A relay speaks TLS only: a plain-HTTP link is none.
        let plain = RelayLink { url: "http://192.168.43.1:7443".into(), ..link };
        assert_eq!(RelayLink::parse(&plain.to_uri()), None);
        assert_eq!(tls_pin(&peer).unwrap().len(), 64);
    }

    #[test]
    fn proofs_verify_only_for_their_message_and_key() {
        let key = SigningKey::from_bytes(&[9; 32]);
        let public = hex::encode(key.verifying_key().as_bytes());
        let message = join_message("ab", "dev-1", "00ff");
        let proof = sign(&key, &message);
        assert!(verify(&public, &message, &proof));
        assert!(!verify(&public, &join_message("ab", "dev-2", "00ff"), &proof));
        let other = hex::encode(SigningKey::from_bytes(&[10; 32]).verifying_key().as_bytes());
        assert!(!verify(&other, &message, &proof));
        assert!(!verify(&public, &message, &proof[..10]));
        assert_ne!(joined_message("r", "d", "t1"), joined_message("r", "d", "t2"));
    }
}
