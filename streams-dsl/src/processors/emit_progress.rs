//! The watermark that an emit-on-close aggregation has reached, and the one up to which it
//! has emitted closed windows, kept in a small logged store: a task rebuilt from its
//! changelogs starts from them, so it neither emits a closed window again (nor skips one)
//! nor accepts a record that the window's closing had made too late.
//!
//! Closed windows are looked for at most once per emit interval of wall-clock time (Kafka
//! Streams' `emit.interval.ms.kstreams.windowed.aggregation`), as Kafka Streams throttles the
//! store scans that finding them takes.

use streams_core::{KeyValueStore, ProcessorContext, ProcessorError};

use crate::EmitStrategy;

/// An aggregation's watermark, surviving restarts; or, for an aggregation that emits on
/// update, just the task's watermark (no store).
pub(crate) struct EmitProgress {
    /// `None` when the watermark need not survive restarts.
    store_name: Option<String>,
    store: Option<KeyValueStore<String, i64>>,
    /// The store's key of the watermark (kept to write without allocating).
    key: String,
    /// The store's key of the watermark up to which closed windows are out.
    emitted_key: String,
    watermark: i64,
    /// The watermark up to which closed windows are out.
    emitted: i64,
    /// The watermark and the emitted watermark last written to the store.
    written: (i64, i64),
    /// How often, at most, closed windows are looked for (wall-clock ms).
    interval: i64,
    /// The wall-clock time before which they are not looked for again.
    next_look: i64,
}

impl EmitProgress {
    /// The progress of the aggregation whose store is `aggregate_store`.
    pub(crate) fn new(aggregate_store: &str) -> Self {
        Self {
            store_name: Some(Self::store_name(aggregate_store)),
            store: None,
            key: "watermark".to_owned(),
            emitted_key: "emitted".to_owned(),
            watermark: i64::MIN,
            emitted: i64::MIN,
            written: (i64::MIN, i64::MIN),
            interval: 0,
            next_look: 0,
        }
    }

    /// The progress of an aggregation that emits as `emit` says: kept in a store for
    /// on-close emission, the task's watermark otherwise.
    pub(crate) fn for_strategy(emit: EmitStrategy, aggregate_store: &str) -> Self {
        match emit {
            EmitStrategy::OnWindowClose => Self::new(aggregate_store),
            EmitStrategy::OnWindowUpdate => Self {
                store_name: None,
                ..Self::new(aggregate_store)
            },
        }
    }

    /// The name of the progress store of the aggregation whose store is `aggregate_store`.
    pub(crate) fn store_name(aggregate_store: &str) -> String {
        format!("{aggregate_store}-emit-progress")
    }

    /// Opens the store and reads the watermarks reached before a restart; returns the one up
    /// to which closed windows were out, if any. Call from `Processor::init`.
    pub(crate) fn open<K, V>(
        &mut self,
        ctx: &ProcessorContext<'_, K, V>,
    ) -> Result<Option<i64>, ProcessorError> {
        let Some(name) = &self.store_name else {
            return Ok(None);
        };
        let store: KeyValueStore<String, i64> = ctx.key_value_store(name)?;
        // Nothing reads its changes: a flush only writes them.
        store.report_flushes(false);
        let restored = store.get(&self.key)?;
        // A store from before the throttle has no emitted watermark: all was out.
        let emitted = store.get(&self.emitted_key)?.or(restored);
        self.watermark = restored.unwrap_or(i64::MIN);
        self.emitted = emitted.unwrap_or(i64::MIN);
        self.written = (self.watermark, self.emitted);
        self.interval = ctx.windowed_aggregation_emit_interval_ms();
        self.store = Some(store);
        Ok(emitted)
    }

    /// Writes the watermark through to the store and its changelog; call from
    /// `Processor::flush`, so that every commit covers it (a restart resumes from the last
    /// commit, records after it included, so the watermark of that commit is the one to keep).
    pub(crate) fn flush(&mut self) -> Result<(), ProcessorError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        if (self.watermark, self.emitted) != self.written {
            store.put(&self.key, &self.watermark)?;
            store.put(&self.emitted_key, &self.emitted)?;
            store.flush_cache()?;
            self.written = (self.watermark, self.emitted);
        }
        Ok(())
    }

    /// Whether to look for closed windows now, at wall-clock time `now`: if so, returns the
    /// watermark to emit them up to, and notes it as emitted. As Kafka Streams: at most once
    /// per interval, the next look an interval after this one.
    pub(crate) fn emit_due(&mut self, now: i64) -> Option<i64> {
        if now < self.next_look {
            return None;
        }
        self.next_look = now.saturating_add(self.interval);
        self.emitted = self.watermark;
        Some(self.watermark)
    }

    /// Notes the watermark as emitted and returns it, whatever the interval: for a watermark
    /// that a rule for quiet inputs raised, which comes once per driver round, not per record.
    pub(crate) fn emit_now(&mut self) -> i64 {
        self.emitted = self.watermark;
        self.watermark
    }

    /// Advances to the task's watermark if it is later, and returns the watermark: the
    /// task's, or the one reached before a restart.
    pub(crate) fn advance(&mut self, task_watermark: i64) -> i64 {
        self.watermark = self.watermark.max(task_watermark);
        self.watermark
    }
}
