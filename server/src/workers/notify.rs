//! The notify worker: delivers the queued events of every registered target (the queue is
//! written in the commit of each change, see `coffer_storage` events), each target on its own
//! and in commit order: a target's first queued event goes before any later one, so an event
//! being retried holds back the events after it (of its key and of every other). A target
//! that fails is retried with backoff while the others go on. Targets added, changed or
//! removed with `coffer admin notify` are picked up on the next step.

use super::{Step, Waiting, Worker, WorkerError};
use crate::keys::secrets::Secrets;
use crate::notify::{Delivery, Sender};
use coffer_storage::{NotifyTarget, Store, StorageError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Events read and sent per target and step.
const BATCH: usize = 100;
/// The first retry of a failing target; each failure in a row doubles it, up to `MAX_RETRY`.
const FIRST_RETRY: Duration = Duration::from_millis(500);
const MAX_RETRY: Duration = Duration::from_secs(30);
/// How many failures in a row between two warnings about the same target.
const WARN_EVERY: u32 = 20;

/// What the worker has done since the server started.
#[derive(Debug, Default)]
pub struct NotifyCounters {
    pub delivered: AtomicU64,
    pub failed_sends: AtomicU64,
}

/// One target as the worker keeps it: its sender (made when first needed, again after the
/// target changed) and its retry state.
struct TargetState {
    target: NotifyTarget,
    secret: Option<Vec<u8>>,
    sender: Option<Sender>,
    failures: u32,
    next_try: Instant,
}

pub struct NotifyWorker {
    store: Store,
    secrets: Secrets,
    targets: HashMap<String, TargetState>,
    counters: Arc<NotifyCounters>,
}

impl NotifyWorker {
    pub fn new(store: Store, secrets: Secrets) -> NotifyWorker {
        NotifyWorker { store, secrets, targets: HashMap::new(), counters: Arc::default() }
    }

    pub fn counters(&self) -> Arc<NotifyCounters> {
        self.counters.clone()
    }

    /// Brings the kept targets in line with the registered ones.
    async fn refresh_targets(&mut self) -> Result<(), StorageError> {
        let registered = self.store.notify_targets().await?;
        self.targets.retain(|name, _| registered.iter().any(|(t, _)| &t.name == name));
        for (target, secret) in registered {
            match self.targets.get_mut(&target.name) {
                Some(kept) if kept.target == target && kept.secret == secret => {}
                Some(kept) => {
                    (kept.target, kept.secret, kept.sender) = (target, secret, None);
                    kept.next_try = Instant::now();
                }
                None => {
                    let state = TargetState { target: target.clone(), secret, sender: None, failures: 0, next_try: Instant::now() };
                    self.targets.insert(target.name, state);
                }
            }
        }
        Ok(())
    }
}

/// 0.5 s after the first failure in a row, doubling with each further one, at most 30 s.
fn retry_after(failures: u32) -> Duration {
    FIRST_RETRY.saturating_mul(1 << failures.saturating_sub(1).min(16)).min(MAX_RETRY)
}

/// Sends the next batch of one target's events. Returns how many it delivered and whether a
/// full batch went (so more may be waiting).
async fn deliver(store: &Store, secrets: &Secrets, counters: &NotifyCounters, state: &mut TargetState) -> Result<(u64, bool), StorageError> {
    let name = state.target.name.clone();
    let events = store.queued_events(&name, BATCH).await?;
    if events.is_empty() {
        return Ok((0, false));
    }
    let sent = match &mut state.sender {
        Some(sender) => sender.send(&events).await,
        None => {
            let secret = match &state.secret {
                Some(sealed) => secrets.open_notify_secret(&name, sealed).map(|s| Some(s.to_string())).map_err(|e| e.to_string()),
                None => Ok(None),
            };
            match secret.and_then(|s| Sender::new(&state.target, s)) {
                Ok(sender) => state.sender.insert(sender).send(&events).await,
                Err(error) => Delivery { delivered: 0, error: Some(error) },
            }
        }
    };
    if sent.delivered > 0 {
        store.events_delivered(&name, events[sent.delivered - 1].seq).await?;
        counters.delivered.fetch_add(sent.delivered as u64, Ordering::Relaxed);
    }
    match sent.error {
        None => {
            if state.failures > 0 {
                tracing::info!(target_name = %name, failures = state.failures, "notification target {name} takes events again");
            }
            state.failures = 0;
        }
        Some(error) => {
            counters.failed_sends.fetch_add(1, Ordering::Relaxed);
            state.failures += 1;
            state.next_try = Instant::now() + retry_after(state.failures);
            if state.failures == 1 || state.failures.is_multiple_of(WARN_EVERY) {
                tracing::warn!(target_name = %name, failures = state.failures, "delivering to notification target {name} failed (retrying): {error}");
            }
            store.event_delivery_failed(events[sent.delivered].seq, error).await?;
        }
    }
    Ok((sent.delivered as u64, sent.delivered == BATCH))
}

impl Worker for NotifyWorker {
    fn name(&self) -> &'static str {
        "notify"
    }

    fn failed_items(&self) -> u64 {
        self.counters.failed_sends.load(Ordering::Relaxed)
    }

    fn backlog(b: &coffer_storage::Backlogs) -> Option<Waiting> {
        Some(Waiting { items: b.notify, oldest_ms: b.notify_oldest_ms })
    }

    fn idle_interval(&self) -> Duration {
        Duration::from_millis(100)
    }

    async fn step(&mut self) -> Result<Step, WorkerError> {
        self.refresh_targets().await?;
        let now = Instant::now();
        let (store, secrets, counters) = (&self.store, &self.secrets, &*self.counters);
        let due = self.targets.values_mut().filter(|s| s.next_try <= now);
        let results = futures::future::join_all(due.map(|state| deliver(store, secrets, counters, state))).await;
        let (mut delivered, mut more) = (0, false);
        for result in results {
            let (n, full) = result?;
            delivered += n;
            more |= full;
        }
        Ok(if more { Step::More(delivered) } else { Step::Idle(delivered) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_cap() {
        assert_eq!(retry_after(1), Duration::from_millis(500));
        assert_eq!(retry_after(3), Duration::from_secs(2));
        assert_eq!(retry_after(40), MAX_RETRY);
    }
}
