//! Background sync: a task with its own connection to the device database that syncs
//! whenever the server is reachable, soon after every edit, and on demand; it keeps the
//! always-visible sync status and reports every change of it. It is started by an unlock
//! and keeps running while the app is locked (its connection was opened with the unlocked
//! key); it stops when the app closes, the PIN changes, or the server revokes the device.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use xuncha_domain::ErrorCode;
use xuncha_store::Store;
use xuncha_sync::{Client, SyncError};

use crate::dto::{SyncProgress, SyncRoute, SyncState, SyncStatus};
use crate::error::{AppError, ErrorDto};
use crate::{Clock, EventSink};

/// How often an offline device looks for its server.
const PROBE_EVERY: Duration = Duration::from_secs(3);
/// How often a connected device syncs when nothing happens locally (to receive others'
/// edits), unless its configuration says otherwise.
pub(crate) const SYNC_EVERY: Duration = Duration::from_secs(20);
/// How long after an edit sync waits for more edits, so typing syncs once, not per key.
const SETTLE: Duration = Duration::from_millis(800);
/// The sync-state key of when this device last synced with its team relay.
const RELAY_SYNCED: &str = "relay_synced_ms";
/// How long a request to the team relay may take.
const RELAY_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest pause after failures.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// The state the UI and the sync task share.
#[derive(Debug)]
pub(crate) struct Shared {
    status: Mutex<SyncStatus>,
    wake: Notify,
    /// Set by "sync now": skip the settle pause.
    urgent: std::sync::atomic::AtomicBool,
}

impl Shared {
    pub(crate) fn status(&self) -> SyncStatus {
        self.status.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    fn update(&self, events: &dyn EventSink, change: impl FnOnce(&mut SyncStatus)) {
        let status = {
            let mut status = self.status.lock().unwrap_or_else(PoisonError::into_inner);
            change(&mut status);
            status.clone()
        };
        events.sync_status(&status);
    }
}

/// The running sync task (of an unlocked app, or of a locked one that was unlocked since
/// it started).
#[derive(Debug)]
pub(crate) struct Worker {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    /// Ends (dropping the task's connection, and with it the key) when the worker is told to
    /// stop, when the device is revoked, or when the device is not enrolled.
    task: tokio::task::JoinHandle<()>,
}

fn to_u32(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn progress_of(p: xuncha_sync::Progress) -> SyncProgress {
    SyncProgress {
        round_trips: p.round_trips,
        documents_up: to_u32(p.documents_up),
        documents_down: to_u32(p.documents_down),
        bytes_up: to_u32(p.bytes_up),
        bytes_down: to_u32(p.bytes_down),
    }
}

impl Worker {
    /// Starts syncing `store` (a connection of its own) on `runtime`.
    pub(crate) fn start(
        runtime: &tokio::runtime::Handle,
        mut store: Store,
        events: Arc<dyn EventSink>,
        clock: Arc<dyn Clock>,
        every: Duration,
    ) -> Worker {
        let server_url = store.sync_value("server_url").ok().flatten().unwrap_or_default();
        let (pending, refused) = store.outbox_status().unwrap_or((0, 0));
        let last_synced_ms = store.sync_value("last_synced_ms").ok().flatten().and_then(|v| v.parse().ok());
        let shared = Arc::new(Shared {
            status: Mutex::new(SyncStatus {
                state: SyncState::Idle,
                pending,
                refused,
                last_synced_ms,
                progress: None,
                error: None,
                server_url,
                route: None,
                relay_synced_ms: store.sync_value(RELAY_SYNCED).ok().flatten().and_then(|v| v.parse().ok()),
            }),
            wake: Notify::new(),
            urgent: std::sync::atomic::AtomicBool::new(false),
        });
        let (stop, stop_rx) = watch::channel(false);
        let task_shared = Arc::clone(&shared);
        let task = runtime.spawn(async move {
            run(&mut store, &task_shared, events.as_ref(), clock.as_ref(), every, stop_rx).await;
        });
        Worker { shared, stop, task }
    }

    /// Whether the task still syncs (it ends by itself only when the device is revoked or
    /// not enrolled).
    pub(crate) fn is_running(&self) -> bool {
        !self.task.is_finished()
    }

    /// Stops the task and waits until it has ended and closed its connection. A sync under
    /// way is cut at its next network wait; what it applied stays (each answer is one
    /// transaction), and the next sync resumes from there.
    pub(crate) fn stop(mut self, runtime: &tokio::runtime::Runtime) {
        let _ = self.stop.send(true);
        self.task.abort();
        let _ = runtime.block_on(&mut self.task);
    }

    /// What tells this worker apart from another (tests).
    #[cfg(test)]
    pub(crate) fn shared(&self) -> Arc<Shared> {
        Arc::clone(&self.shared)
    }

    pub(crate) fn status(&self) -> SyncStatus {
        self.shared.status()
    }

    /// Something changed on this device: show the new count and sync soon.
    pub(crate) fn changed(&self, events: &dyn EventSink, pending: i64, refused: i64) {
        self.shared.update(events, |s| {
            s.pending = pending;
            s.refused = refused;
        });
        self.shared.wake.notify_one();
    }

    /// "Sync now".
    pub(crate) fn now(&self) {
        self.shared.urgent.store(true, std::sync::atomic::Ordering::SeqCst);
        self.shared.wake.notify_one();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn run(
    store: &mut Store,
    shared: &Shared,
    events: &dyn EventSink,
    clock: &dyn Clock,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let client = match Client::for_device(store, Duration::from_secs(60)) {
        Ok(client) => client,
        Err(error) => {
            let error = ErrorDto::from(&AppError::from(error));
            shared.update(events, |s| {
                s.state = SyncState::Error;
                s.error = Some(error);
            });
            return;
        }
    };
    let mut backoff = PROBE_EVERY;
    loop {
        if *stop.borrow() {
            return;
        }
        let wait = if client.reachable().await {
            shared.update(events, |s| {
                s.state = SyncState::Syncing;
                s.progress = Some(SyncProgress::default());
            });
            let reference_before = store.reference_tag().unwrap_or_default();
            let started = std::time::Instant::now();
            let outcome = sync_once(store, &client, shared, events).await;
            tracing::debug!(ms = started.elapsed().as_secs_f64() * 1e3, ok = outcome.is_ok(), "sync");
            match outcome {
                Ok(down) => {
                    let reference_changed = store.reference_tag().unwrap_or_default() != reference_before;
                    let now = clock.now_ms();
                    let _ = store.set_sync_value("last_synced_ms", &now.to_string());
                    let (pending, refused) = store.outbox_status().unwrap_or((0, 0));
                    shared.update(events, |s| {
                        s.state = SyncState::Synced;
                        s.last_synced_ms = Some(now);
                        s.pending = pending;
                        s.refused = refused;
                        s.error = None;
                        s.route = Some(SyncRoute::Server);
                    });
                    if down > 0 || reference_changed {
                        events.records_changed();
                    }
                    backoff = PROBE_EVERY;
                    every
                }
                Err(error) => {
                    let transient = error.is_transient();
                    let revoked = matches!(error, SyncError::Revoked);
                    let dto = ErrorDto::from(&AppError::from(error));
                    shared.update(events, |s| {
                        s.state = if dto.code == ErrorCode::Offline { SyncState::Offline } else { SyncState::Error };
                        s.error = Some(dto);
                    });
                    if revoked {
                        return;
                    }
                    backoff = if transient { (backoff * 2).min(MAX_BACKOFF) } else { MAX_BACKOFF };
                    backoff
                }
            }
        } else if let Some(down) = via_relay(store, shared, events, clock).await {
            // No server, but the team relay in the village: the team's changes go round.
            if down > 0 {
                events.records_changed();
            }
            PROBE_EVERY
        } else {
            shared.update(events, |s| {
                s.state = SyncState::Offline;
                s.progress = None;
            });
            PROBE_EVERY
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = shared.wake.notified() => {
                // Let a burst of keystrokes settle into one sync, unless asked to sync now.
                if !shared.urgent.swap(false, std::sync::atomic::Ordering::SeqCst) {
                    tokio::time::sleep(SETTLE).await;
                }
            }
            _ = stop.changed() => return,
        }
    }
}

/// One sync with the team relay this device joined, if it joined one and the relay
/// answers; how many documents came down. The outbox still waits for the server.
async fn via_relay(store: &mut Store, shared: &Shared, events: &dyn EventSink, clock: &dyn Clock) -> Option<u64> {
    // Only a device that joined a relay has one to go through.
    xuncha_sync::relay::route(store).ok().flatten()?;
    match xuncha_sync::relay::sync(store, RELAY_TIMEOUT).await {
        Ok(report) => {
            let now = clock.now_ms();
            let _ = store.set_sync_value(RELAY_SYNCED, &now.to_string());
            let (pending, refused) = store.outbox_status().unwrap_or((0, 0));
            shared.update(events, |s| {
                s.state = SyncState::Synced;
                s.relay_synced_ms = Some(now);
                s.pending = pending;
                s.refused = refused;
                s.error = None;
                s.progress = None;
                s.route = Some(SyncRoute::Relay);
            });
            Some(report.received as u64)
        }
        Err(error) => {
            tracing::debug!(%error, "the team relay did not answer");
            None
        }
    }
}

/// One sync and the attachment uploads after it; returns how many documents came down.
async fn sync_once(
    store: &mut Store,
    client: &Client,
    shared: &Shared,
    events: &dyn EventSink,
) -> Result<u64, SyncError> {
    let report = client
        .sync(store, |p| {
            shared.update(events, |s| s.progress = Some(progress_of(p)));
        })
        .await?;
    client.upload_attachments(store, xuncha_sync::ATTACHMENT_PIECE).await?;
    Ok(report.progress.documents_down)
}
