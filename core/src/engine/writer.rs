//! The writer thread (`consentgate-writer`, one per open gate) and the group
//! commit it runs. It sleeps until something is due and never polls:
//!
//! - records (or drop/eviction counts) buffered: committed within
//!   [`COMMIT_WITHIN`] of the first, or at once when [`WAKE_AT`] are waiting;
//! - maintenance due (the next expiry, the oldest event's TTL, the next
//!   ledger prune — [`Engine::next_due`]): run at that time by the clock;
//! - neither: it blocks without a timeout (an idle gate costs no wake-ups).
//!
//! A jump of the clock ([`crate::clock::time_changed`]) wakes it to look
//! again. `persist`, `close`, `next_upload` and `export_data` run the same
//! commit on the caller's thread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{lock, Engine};
use crate::clock::TimeWaker;
use crate::error::Result;
use crate::event::HOST_BUFFER_MAX_EVENTS;
use crate::GateError;

/// Buffered records that wake the writer at once.
pub(super) const WAKE_AT: usize = HOST_BUFFER_MAX_EVENTS as usize;
/// How soon after the first buffered record the writer commits.
pub(super) const COMMIT_WITHIN: Duration = Duration::from_secs(1);
/// How soon maintenance that failed (a full disk) is tried again.
const RETRY_FAILED_MS: i64 = 5_000;

/// How the writer is woken and stopped.
#[derive(Default)]
pub(crate) struct Signal {
    state: Mutex<SignalState>,
    wake: Condvar,
    /// Times the writer woke up, for the `idle_wakeups_per_min` figure.
    wakeups: AtomicU64,
}

#[derive(Default)]
struct SignalState {
    stop: bool,
    kicked: bool,
}

impl Signal {
    /// Wakes the writer to look again (records buffered, the time jumped).
    pub fn kick(&self) {
        lock(&self.state).kicked = true;
        self.wake.notify_one();
    }

    /// Asks the writer to commit what is left and end.
    pub fn stop(&self) {
        lock(&self.state).stop = true;
        self.wake.notify_one();
    }

    /// How often the writer has woken up since open.
    pub fn wakeups(&self) -> u64 {
        self.wakeups.load(Ordering::Relaxed)
    }

    /// Sleeps until kicked, stopped or `deadline`; returns whether to stop.
    fn sleep(&self, deadline: Option<Instant>) -> bool {
        let mut st = lock(&self.state);
        while !st.kicked && !st.stop {
            match deadline {
                None => st = self.wake.wait(st).unwrap_or_else(|e| e.into_inner()),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    st = self
                        .wake
                        .wait_timeout(st, d - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
            }
        }
        st.kicked = false;
        self.wakeups.fetch_add(1, Ordering::Relaxed);
        st.stop
    }
}

/// The writer's registration for clock jumps.
struct Waker(Weak<Engine>);

impl TimeWaker for Waker {
    fn time_changed(&self) {
        if let Some(e) = self.0.upgrade() {
            e.writer.kick();
        }
    }
}

/// Starts the writer thread of `engine`.
pub(super) fn spawn(engine: &Arc<Engine>) -> std::io::Result<JoinHandle<()>> {
    let waker: Arc<dyn TimeWaker> = Arc::new(Waker(Arc::downgrade(engine)));
    let thread_engine = Arc::clone(engine);
    let handle = std::thread::Builder::new()
        .name("consentgate-writer".into())
        .spawn(move || {
            // Registered for the thread's life; dropped (and so forgotten)
            // when the thread ends.
            crate::clock::on_time_change(Arc::downgrade(&waker));
            run(&thread_engine);
            drop(waker);
        })?;
    Ok(handle)
}

fn run(engine: &Engine) {
    loop {
        let stop = engine.writer.sleep(engine.writer_deadline());
        // Host code runs in here (the clock, the logger, listeners): if it
        // throws, this round is lost, never the thread (G7).
        let round =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.writer_round(stop)));
        if round.is_err() {
            log::warn!("consentgate: writer round failed in host code; continuing");
        }
        if stop {
            return;
        }
    }
}

impl Engine {
    /// When the writer must next wake: a commit within a second of the first
    /// buffered record, or the next maintenance by the clock; `None` when
    /// nothing is due.
    fn writer_deadline(&self) -> Option<Instant> {
        let due_ms = self.next_due(&lock(&self.db));
        let commit = lock(&self.buffer).since.map(|s| s + COMMIT_WITHIN);
        let maintain = due_ms.map(|due| {
            let wait = due.saturating_sub(self.clock.now_ms()).max(0) as u64;
            Instant::now() + Duration::from_millis(wait)
        });
        match (commit, maintain) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// One round of the writer: group commit, then maintenance when due.
    fn writer_round(&self, stop: bool) {
        if let Err(e) = self.commit_buffer() {
            log::warn!(
                "consentgate: group commit failed, will retry: {}",
                GateError::from(e)
            );
        }
        if stop {
            return;
        }
        let notify = {
            let mut db = lock(&self.db);
            let now = self.clock.now_ms();
            if self.next_due(&db).is_some_and(|due| now >= due) {
                match self.maintain(&mut db) {
                    Ok(changed) => {
                        db.retry_maintenance_ms = None;
                        changed
                    }
                    Err(e) => {
                        log::warn!(
                            "consentgate: maintenance failed, will retry: {}",
                            GateError::from(e)
                        );
                        db.retry_maintenance_ms = Some(now.saturating_add(RETRY_FAILED_MS));
                        false
                    }
                }
            } else {
                false
            }
        };
        if notify {
            self.notify();
        }
    }

    /// Moves the buffer into the store in one transaction with the G8 bounds
    /// (see `queue::commit`). On failure the records go back to the buffer
    /// for the next attempt.
    pub(super) fn commit_buffer(&self) -> Result<()> {
        let mut db = lock(&self.db);
        let (mut records, dropped, evicted) = {
            let mut b = lock(&self.buffer);
            let d = std::mem::take(&mut b.dropped_no_consent);
            let e = std::mem::take(&mut b.evicted);
            (b.take(), d, e)
        };
        if records.is_empty() && dropped == 0 && evicted == 0 {
            return Ok(());
        }
        let db = &mut *db;
        match crate::queue::commit(
            &mut db.store,
            &mut db.queue,
            &self.policy,
            &mut records,
            dropped,
            evicted,
        ) {
            Ok(by_bounds) => {
                log::debug!(
                    "consentgate: committed {} records ({by_bounds} evicted by queue bounds)",
                    records.len()
                );
                Ok(())
            }
            Err(e) => {
                // No withdrawal can have run meanwhile: it needs the store lock
                // we hold. Putting the records back is therefore safe (G3).
                let mut b = lock(&self.buffer);
                b.restore(records);
                b.dropped_no_consent += dropped;
                b.evicted += evicted;
                Err(e)
            }
        }
    }

    /// Stops the writer thread and waits for it.
    pub fn stop_writer(&self, handle: Option<JoinHandle<()>>) {
        self.writer.stop();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// How often the writer thread has woken up since open (a diagnostic for
    /// the `idle_wakeups_per_min` figure).
    pub fn writer_wakeups(&self) -> u64 {
        self.writer.wakeups()
    }
}
