//! Rate limiting of failed authentication: an address that fails too often in a minute
//! (unknown tokens, wrong enrollment codes) is refused for the rest of that minute, so
//! tokens and codes cannot be guessed by brute force.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// Failures allowed per address per window.
pub const MAX_FAILURES: u32 = 20;
/// The window, in milliseconds.
pub const WINDOW_MS: i64 = 60_000;

/// Failure counts per address.
#[derive(Debug, Default)]
pub struct FailedAuth {
    counts: Mutex<HashMap<IpAddr, (i64, u32)>>,
}

impl FailedAuth {
    /// Whether `ip` is refused at `now_ms`.
    pub fn blocked(&self, ip: IpAddr, now_ms: i64) -> bool {
        let counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.get(&ip).is_some_and(|(start, count)| now_ms - start < WINDOW_MS && *count >= MAX_FAILURES)
    }

    /// Counts a failure of `ip` at `now_ms`.
    pub fn fail(&self, ip: IpAddr, now_ms: i64) {
        let mut counts = self.counts.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if counts.len() > 100_000 {
            counts.retain(|_, (start, _)| now_ms - *start < WINDOW_MS);
        }
        let entry = counts.entry(ip).or_insert((now_ms, 0));
        if now_ms - entry.0 >= WINDOW_MS {
            *entry = (now_ms, 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_is_refused_after_too_many_failures_until_the_window_passes() {
        let limits = FailedAuth::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let other: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(!limits.blocked(ip, 1_000));
            limits.fail(ip, 1_000);
        }
        assert!(limits.blocked(ip, 1_500));
        assert!(!limits.blocked(other, 1_500));
        assert!(!limits.blocked(ip, 1_000 + WINDOW_MS));
    }
}
