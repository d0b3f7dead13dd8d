//! What keeps the server up under abuse: the limits it serves under ([`Limits`]), and the
//! counting of failed authentication ([`FailedAuth`]).
//!
//! Failures are counted against the credential tried (a token's hash, an enrollment code's
//! normal form) and, for traffic that did not authenticate, against the client's address:
//! the connection's peer, or the address a trusted proxy forwarded. A request that presents
//! a valid token is never refused for failures counted against its address, so one
//! misbehaving tablet behind the commission's proxy cannot stop the district syncing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::HeaderMap;

/// Failures allowed per address, or per credential, per window.
pub const MAX_FAILURES: u32 = 20;
/// The window, in milliseconds.
pub const WINDOW_MS: i64 = 60_000;
/// How many addresses and credentials are tracked before expired ones are forgotten.
const TRACKED: usize = 100_000;

/// The limits the server serves under. [`Limits::default`] suits one district server;
/// `xuncha server` reads them from its configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; more are answered 503 with a retry hint.
    pub max_connections: usize,
    /// Connections from one address at once (not counted for trusted proxies).
    pub max_per_address: usize,
    /// How long a client has to send a request's headers, and how long an idle
    /// kept-alive connection stays open.
    pub header_timeout: Duration,
    /// How long a client has to send a request's body.
    pub body_timeout: Duration,
    /// What the 503 tells a client to wait, in seconds.
    pub retry_after_secs: u32,
    /// Proxies whose `X-Forwarded-For` names the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// Uploads (documents) in one sync request.
    pub max_uploads: usize,
    /// Bytes of attachments one device may hold on the server, complete or in progress.
    pub attachment_quota: u64,
    /// How long a device token is valid after enrollment; then the device enrolls again.
    pub token_lifetime_ms: Option<i64>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 4_096,
            max_per_address: 256,
            header_timeout: Duration::from_secs(15),
            body_timeout: Duration::from_secs(120),
            retry_after_secs: 5,
            trusted_proxies: Vec::new(),
            max_uploads: xuncha_protocol::MAX_UPLOADS,
            attachment_quota: 4 * 1024 * 1024 * 1024,
            token_lifetime_ms: None,
        }
    }
}

impl Limits {
    /// The client a request comes from: the connection's peer, or, when the peer is a
    /// trusted proxy, the last address in `X-Forwarded-For` that is not itself a trusted
    /// proxy (the one the nearest trusted proxy saw).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusted_proxies.contains(&peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|a| a.trim().parse::<IpAddr>().ok())
            .collect::<Vec<_>>();
        forwarded.into_iter().rev().find(|a| !self.trusted_proxies.contains(a)).unwrap_or(peer)
    }
}

/// What failed authentication is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A client address.
    Address(IpAddr),
    /// A credential (its hash), whatever address tries it.
    Credential(String),
}

/// Failure counts per address and per credential.
#[derive(Debug, Default)]
pub struct FailedAuth {
    counts: Mutex<HashMap<Key, (i64, u32)>>,
}

impl FailedAuth {
    /// Whether `key` is refused at `now_ms`.
    pub fn blocked(&self, key: &Key, now_ms: i64) -> bool {
        let counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.get(key).is_some_and(|(start, count)| now_ms - start < WINDOW_MS && *count >= MAX_FAILURES)
    }

    /// Counts a failure against each of `keys` at `now_ms`.
    pub fn fail(&self, keys: &[Key], now_ms: i64) {
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.len() > TRACKED {
            counts.retain(|_, (start, _)| now_ms - *start < WINDOW_MS);
        }
        for key in keys {
            let entry = counts.entry(key.clone()).or_insert((now_ms, 0));
            if now_ms - entry.0 >= WINDOW_MS {
                *entry = (now_ms, 0);
            }
            entry.1 = entry.1.saturating_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_refused_after_too_many_failures_until_the_window_passes() {
        let limits = FailedAuth::default();
        let ip = Key::Address("127.0.0.1".parse().unwrap());
        let other = Key::Address("127.0.0.2".parse().unwrap());
        let token = Key::Credential("abc".into());
        for _ in 0..MAX_FAILURES {
            assert!(!limits.blocked(&ip, 1_000));
            limits.fail(&[ip.clone(), token.clone()], 1_000);
        }
        assert!(limits.blocked(&ip, 1_500));
        assert!(limits.blocked(&token, 1_500));
        assert!(!limits.blocked(&other, 1_500));
        assert!(!limits.blocked(&ip, 1_000 + WINDOW_MS));
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client() {
        let mut limits = Limits::default();
        let proxy: IpAddr = "127.0.0.9".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "10.1.1.1, 127.0.0.5".parse().unwrap());
        assert_eq!(limits.client(proxy, &headers), proxy, "no proxy is trusted by default");
        limits.trusted_proxies = vec![proxy];
        assert_eq!(limits.client(proxy, &headers), "127.0.0.5".parse::<IpAddr>().unwrap());
        limits.trusted_proxies.push("127.0.0.5".parse().unwrap());
        assert_eq!(limits.client(proxy, &headers), "10.1.1.1".parse::<IpAddr>().unwrap());
        assert_eq!(limits.client(proxy, &HeaderMap::new()), proxy);
    }
}
