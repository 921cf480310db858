//! What an instance and its stream threads share: the lifecycle state, its listeners, the
//! shutdown flag, the error policy and the counters.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

use super::RuntimeError;
use crate::TaskMetrics;

/// The lifecycle of a [`KafkaStreams`](super::KafkaStreams) instance, as in Kafka Streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Built, not started.
    Created,
    /// Joining the group, or tasks moving between threads and instances (being restored).
    Rebalancing,
    /// Every thread has its tasks and processes.
    Running,
    /// `close` was called; threads are committing and stopping.
    PendingShutdown,
    /// Stopped cleanly.
    NotRunning,
    /// A thread failed and the error policy stops the instance; threads are stopping.
    PendingError,
    /// Stopped after an error.
    Error,
}

impl State {
    fn is_terminal(self) -> bool {
        matches!(self, State::NotRunning | State::Error)
    }
}

/// What to do when a stream thread fails with an error it cannot handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorResponse {
    /// Start a new thread in its place: its tasks are rebuilt from the last commit.
    ReplaceThread,
    /// Stop this instance (its state becomes [`State::Error`]).
    ShutdownClient,
    /// Stop every instance of the application: this one asks the others through the
    /// application's control topic, `<application.id>-control`.
    ShutdownApplication,
}

/// Where a stream thread is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Starting,
    Rebalancing,
    Running,
    Dead,
}

type Listener = Box<dyn Fn(State, State) + Send + Sync>;
type ErrorPolicy = Box<dyn Fn(&RuntimeError) -> ErrorResponse + Send + Sync>;

/// Counters of an instance, summed over its threads.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    processed: AtomicU64,
    commits: AtomicU64,
    restored: AtomicU64,
    rewinds: AtomicU64,
    rebalances: AtomicU64,
    replaced_threads: AtomicU64,
    skipped_sends: AtomicU64,
    dead_lettered_sends: AtomicU64,
    skipped: AtomicU64,
    dead_lettered: AtomicU64,
    dropped: AtomicU64,
}

/// A snapshot of an instance's counters, and of the figures of its threads, tasks and stores
/// (the values its `metrics` handles carry; see [`metrics`](super::metrics)).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RuntimeMetrics {
    /// Records processed by tasks.
    pub processed: u64,
    /// Commits completed.
    pub commits: u64,
    /// Changelog records replayed into stores.
    pub restored: u64,
    /// Exactly-once transactions aborted, with their tasks rebuilt from the last commit.
    pub rewinds: u64,
    /// Rebalances that revoked or assigned partitions of a stream thread, summed over the
    /// threads (an eager rebalance counts twice per thread: the revocation, then the
    /// assignment; an incremental one once per change).
    pub rebalances: u64,
    /// Stream threads replaced after an error.
    pub replaced_threads: u64,
    /// Records the producer refused (or the broker rejected) that the production handler
    /// skipped.
    pub skipped_sends: u64,
    /// Records the producer refused (or the broker rejected) that the production handler
    /// sent to its dead-letter topic.
    pub dead_lettered_sends: u64,
    /// Input records the deserialization or processing handler (or the production handler,
    /// for a sink that could not serialize) skipped.
    pub skipped: u64,
    /// Input records those handlers sent to their dead-letter topics.
    pub dead_lettered: u64,
    /// Records operators dropped (too late for their window, or a null their type cannot
    /// hold).
    pub dropped: u64,
    /// Each stream thread's figures, as last published.
    pub threads: Vec<super::metrics::ThreadMetrics>,
    /// Each running task's figures, as last published.
    pub tasks: Vec<super::metrics::TaskSnapshot>,
    /// Each store's figures, per task, as last published.
    pub stores: Vec<super::metrics::StoreSnapshot>,
}

impl Metrics {
    pub(crate) fn add_processed(&self, n: u64) {
        self.processed.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_restored(&self, n: u64) {
        self.restored.fetch_add(n, Ordering::Relaxed);
    }
    pub(crate) fn add_commit(&self) {
        self.commits.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_rewind(&self) {
        self.rewinds.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_rebalance(&self) {
        self.rebalances.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_replaced_thread(&self) {
        self.replaced_threads.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_skipped_send(&self) {
        self.skipped_sends.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn add_dead_lettered_send(&self) {
        self.dead_lettered_sends.fetch_add(1, Ordering::Relaxed);
    }
    /// Adds what tasks counted between `before` and `after`.
    pub(crate) fn add_task_counts(&self, before: &TaskMetrics, after: &TaskMetrics) {
        let delta = |a: u64, b: u64| a.saturating_sub(b);
        for (counter, n) in [
            (&self.skipped, delta(after.skipped, before.skipped)),
            (
                &self.dead_lettered,
                delta(after.dead_lettered, before.dead_lettered),
            ),
            (&self.dropped, delta(after.dropped, before.dropped)),
        ] {
            if n > 0 {
                counter.fetch_add(n, Ordering::Relaxed);
            }
        }
    }
    pub(crate) fn snapshot(&self) -> RuntimeMetrics {
        RuntimeMetrics {
            processed: self.processed.load(Ordering::Relaxed),
            commits: self.commits.load(Ordering::Relaxed),
            restored: self.restored.load(Ordering::Relaxed),
            rewinds: self.rewinds.load(Ordering::Relaxed),
            rebalances: self.rebalances.load(Ordering::Relaxed),
            replaced_threads: self.replaced_threads.load(Ordering::Relaxed),
            skipped_sends: self.skipped_sends.load(Ordering::Relaxed),
            dead_lettered_sends: self.dead_lettered_sends.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            ..RuntimeMetrics::default()
        }
    }
}

pub(crate) struct Shared {
    state: Mutex<State>,
    changes: watch::Sender<State>,
    listeners: Mutex<Vec<Listener>>,
    phases: Mutex<Vec<Phase>>,
    shutdown: AtomicBool,
    /// Whether processing is paused (`KafkaStreams::pause`).
    paused: AtomicBool,
    /// Threads asked to stop by `KafkaStreams::remove_stream_thread`.
    retired: Mutex<std::collections::BTreeSet<usize>>,
    error_policy: Mutex<ErrorPolicy>,
    errors: Mutex<Vec<String>>,
    pub(crate) metrics: std::sync::Arc<Metrics>,
    pub(crate) published: super::metrics::Published,
    pub(crate) queries: super::query::QueryRoutes,
    /// The task directories the stream threads hold (for the state cleaner).
    pub(crate) task_dirs: std::sync::Arc<super::state_cleaner::TaskDirectories>,
}

impl Shared {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State::Created),
            changes: watch::Sender::new(State::Created),
            listeners: Mutex::new(Vec::new()),
            phases: Mutex::new(Vec::new()),
            shutdown: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            retired: Mutex::default(),
            error_policy: Mutex::new(Box::new(|_| ErrorResponse::ShutdownClient)),
            errors: Mutex::new(Vec::new()),
            metrics: std::sync::Arc::default(),
            published: super::metrics::Published::default(),
            queries: super::query::QueryRoutes::default(),
            task_dirs: std::sync::Arc::default(),
        }
    }

    pub(crate) fn state(&self) -> State {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<State> {
        self.changes.subscribe()
    }

    pub(crate) fn add_listener(&self, listener: Listener) {
        self.listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(listener);
    }

    pub(crate) fn set_error_policy(&self, policy: ErrorPolicy) {
        *self.error_policy.lock().unwrap_or_else(|p| p.into_inner()) = policy;
    }

    /// Moves to `to` unless already stopped (or stopping, for the running states); tells the
    /// listeners. Returns whether the state changed.
    pub(crate) fn transition(&self, to: State) -> bool {
        let from = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let from = *state;
            let stopping = matches!(from, State::PendingShutdown | State::PendingError);
            let running = matches!(to, State::Rebalancing | State::Running);
            if from == to || from.is_terminal() || (stopping && running) {
                return false;
            }
            *state = to;
            from
        };
        tracing::info!(?from, ?to, "state change");
        for listener in self
            .listeners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            listener(from, to);
        }
        self.changes.send_replace(to);
        true
    }

    pub(crate) fn start_threads(&self, n: usize) {
        *self.phases.lock().unwrap_or_else(|p| p.into_inner()) = vec![Phase::Starting; n];
    }

    /// Adds a thread (starting) to those the state derives from; returns its index. The
    /// instance is rebalancing from here on, until the new thread has its tasks: a caller
    /// waiting for `Running` waits for the rebalance the new member sets off.
    pub(crate) fn add_thread(&self) -> usize {
        let index = {
            let mut phases = self.phases.lock().unwrap_or_else(|p| p.into_inner());
            phases.push(Phase::Starting);
            phases.len() - 1
        };
        self.set_phase(index, Phase::Starting);
        index
    }

    /// Asks the live thread with the highest index to stop; returns its index, or `None`
    /// if no thread is left to ask.
    pub(crate) fn retire_thread(&self) -> Option<usize> {
        let phases = self.phases.lock().unwrap_or_else(|p| p.into_inner());
        let mut retired = self.retired.lock().unwrap_or_else(|p| p.into_inner());
        let index = (0..phases.len())
            .rev()
            .find(|i| phases[*i] != Phase::Dead && !retired.contains(i))?;
        retired.insert(index);
        Some(index)
    }

    /// Whether thread `index` was asked to stop.
    pub(crate) fn retired(&self, index: usize) -> bool {
        self.retired
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&index)
    }

    /// Records where thread `index` is, and derives the instance's state from all threads.
    pub(crate) fn set_phase(&self, index: usize, phase: Phase) {
        let state = {
            let mut phases = self.phases.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(slot) = phases.get_mut(index) {
                *slot = phase;
            }
            if phases
                .iter()
                .any(|p| matches!(p, Phase::Starting | Phase::Rebalancing))
            {
                Some(State::Rebalancing)
            } else if phases.contains(&Phase::Running) {
                Some(State::Running)
            } else if self.state() == State::PendingError {
                // Every thread has stopped after an error.
                Some(State::Error)
            } else {
                None
            }
        };
        if let Some(state) = state {
            self.transition(state);
        }
    }

    pub(crate) fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
    }

    /// Pauses or resumes processing.
    pub(crate) fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Whether processing is paused.
    pub(crate) fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    pub(crate) fn shutting_down(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    pub(crate) fn record_error(&self, error: String) {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(error);
    }

    /// Asks the error policy what a failed thread should do, remembering the error.
    pub(crate) fn on_thread_error(&self, error: &RuntimeError) -> ErrorResponse {
        self.record_error(error.to_string());
        let response = (self.error_policy.lock().unwrap_or_else(|p| p.into_inner()))(error);
        if response != ErrorResponse::ReplaceThread {
            self.transition(State::PendingError);
            self.request_shutdown();
        }
        response
    }

    pub(crate) fn errors(&self) -> Vec<String> {
        self.errors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
