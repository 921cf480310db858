//! What restoration tells the application: Kafka Streams' `StateRestoreListener`, called on
//! the stream thread that restores, for each changelog partition of each store.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::TopicPartition;

/// Hears how the restoration of each store's changelog partition goes. Its calls run on the
/// stream thread that restores, between reads: they should return quickly.
pub trait StateRestoreListener: Send + Sync {
    /// Restoration of `store` from `changelog` begins: it replays the offsets from
    /// `start_offset` up to (not including) `end_offset`, the partition's end when it began.
    /// Compaction and transaction markers can make the records fewer than the offsets.
    fn on_restore_start(
        &self,
        changelog: &TopicPartition,
        store: &str,
        start_offset: i64,
        end_offset: i64,
    );

    /// A batch of `restored` records, up to offset `batch_end_offset`, was written to the
    /// store.
    fn on_batch_restored(
        &self,
        changelog: &TopicPartition,
        store: &str,
        batch_end_offset: i64,
        restored: u64,
    );

    /// Restoration of `store` from `changelog` is done, after `total_restored` records.
    fn on_restore_end(&self, changelog: &TopicPartition, store: &str, total_restored: u64);
}

/// The default listener: logs, per store, the records restored, the total to restore and an
/// estimate of the time left, at most every few seconds, and a line when a store is done.
#[derive(Default)]
pub struct LoggingRestoreListener {
    progress: Mutex<HashMap<(String, i32), StoreProgress>>,
}

struct StoreProgress {
    started: Instant,
    last_line: Instant,
    start: i64,
    end: i64,
    done: u64,
}

/// How often, at most, the default listener logs the progress of one store.
const LOG_EVERY: Duration = Duration::from_secs(5);

impl StateRestoreListener for LoggingRestoreListener {
    fn on_restore_start(&self, changelog: &TopicPartition, store: &str, start: i64, end: i64) {
        tracing::info!(
            store, changelog = %changelog.topic, partition = changelog.partition,
            start_offset = start, end_offset = end, total = end - start,
            "restoring a store"
        );
        let now = Instant::now();
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        progress.insert(
            (changelog.topic.clone(), changelog.partition),
            StoreProgress {
                started: now,
                last_line: now,
                start,
                end,
                done: 0,
            },
        );
    }

    fn on_batch_restored(
        &self,
        changelog: &TopicPartition,
        store: &str,
        batch_end_offset: i64,
        restored: u64,
    ) {
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        let Some(p) = progress.get_mut(&(changelog.topic.clone(), changelog.partition)) else {
            return;
        };
        p.done += restored;
        if p.last_line.elapsed() < LOG_EVERY {
            return;
        }
        p.last_line = Instant::now();
        let total = (p.end - p.start).max(0) as u64;
        let covered = (batch_end_offset + 1 - p.start).max(1) as f64;
        let left = (p.end - batch_end_offset - 1).max(0) as f64;
        let eta = p.started.elapsed().mul_f64(left / covered);
        tracing::info!(
            store, changelog = %changelog.topic, partition = changelog.partition,
            restored = p.done, total, eta_s = eta.as_secs(),
            "restoring a store"
        );
    }

    fn on_restore_end(&self, changelog: &TopicPartition, store: &str, total_restored: u64) {
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        let ms = progress
            .remove(&(changelog.topic.clone(), changelog.partition))
            .map_or(0, |p| p.started.elapsed().as_millis() as u64);
        tracing::info!(
            store, changelog = %changelog.topic, partition = changelog.partition,
            restored = total_restored, ms, "restored a store"
        );
    }
}
