//! `GET /metrics`: what an operator watches on each replica, in Prometheus's text format
//! (version 0.0.4): syncs and how long they took (a histogram, so a p99 can be computed
//! across replicas), the storage's commits, retries and the time spent waiting to append
//! to the change log, and the log's head. Served to loopback addresses only: a scraper
//! runs beside each replica, the load balancer does not pass it on.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The upper bounds of the sync-duration buckets, in seconds.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// Counters of one server process.
#[derive(Debug, Default)]
pub struct Metrics {
    syncs_ok: AtomicU64,
    syncs_failed: AtomicU64,
    /// Syncs that took at most `BUCKETS[i]` (not cumulative; summed when written).
    buckets: [AtomicU64; BUCKETS.len()],
    sync_micros: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
}

impl Metrics {
    /// One sync, answered (`ok`) or refused, after `took`.
    pub fn sync(&self, ok: bool, took: Duration, bytes_in: usize, bytes_out: usize) {
        if ok { &self.syncs_ok } else { &self.syncs_failed }.fetch_add(1, Ordering::Relaxed);
        let seconds = took.as_secs_f64();
        if let Some(bucket) = BUCKETS.iter().position(|bound| seconds <= *bound) {
            self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.sync_micros.fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes_in as u64, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes_out as u64, Ordering::Relaxed);
    }

    /// The text a scrape gets: these counters, the storage's, and the log's head.
    pub fn render(&self, storage: &crate::storage::StorageStats, log_head: Option<u64>) -> String {
        let mut out = String::new();
        let ok = self.syncs_ok.load(Ordering::Relaxed);
        let failed = self.syncs_failed.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP xuncha_syncs_total Sync requests answered, by outcome.");
        let _ = writeln!(out, "# TYPE xuncha_syncs_total counter");
        let _ = writeln!(out, "xuncha_syncs_total{{outcome=\"ok\"}} {ok}");
        let _ = writeln!(out, "xuncha_syncs_total{{outcome=\"error\"}} {failed}");
        let _ = writeln!(out, "# HELP xuncha_sync_duration_seconds Time from a sync request's arrival to its answer.");
        let _ = writeln!(out, "# TYPE xuncha_sync_duration_seconds histogram");
        let mut cumulative = 0;
        for (bound, count) in BUCKETS.iter().zip(&self.buckets) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "xuncha_sync_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "xuncha_sync_duration_seconds_bucket{{le=\"+Inf\"}} {}", ok + failed);
        let seconds = self.sync_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "xuncha_sync_duration_seconds_sum {seconds}");
        let _ = writeln!(out, "xuncha_sync_duration_seconds_count {}", ok + failed);
        counter(
            &mut out,
            "xuncha_sync_received_bytes_total",
            "Bytes of sync request bodies.",
            self.bytes_in.load(Ordering::Relaxed),
        );
        counter(
            &mut out,
            "xuncha_sync_sent_bytes_total",
            "Bytes of sync response bodies.",
            self.bytes_out.load(Ordering::Relaxed),
        );
        let _ = writeln!(out, "# HELP xuncha_storage_commits_total Storage transactions committed, by kind.");
        let _ = writeln!(out, "# TYPE xuncha_storage_commits_total counter");
        let _ = writeln!(out, "xuncha_storage_commits_total{{kind=\"read\"}} {}", storage.read_commits);
        let _ = writeln!(out, "xuncha_storage_commits_total{{kind=\"write\"}} {}", storage.write_commits);
        counter(
            &mut out,
            "xuncha_storage_retries_total",
            "Transactions run again after colliding with another (serialization failure, deadlock).",
            storage.retries,
        );
        counter(
            &mut out,
            "xuncha_storage_busy_total",
            "Transactions given up after colliding as often as they may (answered 503).",
            storage.gave_up,
        );
        let _ = writeln!(
            out,
            "# HELP xuncha_log_append_wait_seconds_total Time writers waited for their turn to append to the change log."
        );
        let _ = writeln!(out, "# TYPE xuncha_log_append_wait_seconds_total counter");
        let _ = writeln!(out, "xuncha_log_append_wait_seconds_total {}", storage.log_wait_micros as f64 / 1e6);
        if let Some(head) = log_head {
            let _ =
                writeln!(out, "# HELP xuncha_log_head The last position of the change log, as this replica reads it.");
            let _ = writeln!(out, "# TYPE xuncha_log_head gauge");
            let _ = writeln!(out, "xuncha_log_head {head}");
        }
        out
    }
}

fn counter(out: &mut String, name: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name} {value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_histogram_is_cumulative_and_counts_every_sync() {
        let metrics = Metrics::default();
        metrics.sync(true, Duration::from_millis(3), 100, 200);
        metrics.sync(true, Duration::from_millis(40), 100, 200);
        metrics.sync(false, Duration::from_secs(60), 10, 20);
        let text = metrics.render(
            &crate::storage::StorageStats {
                read_commits: 5,
                write_commits: 2,
                retries: 1,
                gave_up: 0,
                log_wait_micros: 1_500_000,
            },
            Some(42),
        );
        for line in [
            "xuncha_syncs_total{outcome=\"ok\"} 2",
            "xuncha_syncs_total{outcome=\"error\"} 1",
            "xuncha_sync_duration_seconds_bucket{le=\"0.005\"} 1",
            "xuncha_sync_duration_seconds_bucket{le=\"0.05\"} 2",
            "xuncha_sync_duration_seconds_bucket{le=\"30\"} 2",
            "xuncha_sync_duration_seconds_bucket{le=\"+Inf\"} 3",
            "xuncha_sync_duration_seconds_count 3",
            "xuncha_sync_received_bytes_total 210",
            "xuncha_storage_commits_total{kind=\"write\"} 2",
            "xuncha_storage_retries_total 1",
            "xuncha_log_append_wait_seconds_total 1.5",
            "xuncha_log_head 42",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
        }
    }
}
