//! The watermark that an emit-on-close aggregation has reached, kept in a small logged store:
//! a task rebuilt from its changelogs starts from it, so it neither emits a closed window
//! again nor accepts a record that the window's closing had made too late.

use streams_core::{KeyValueStore, ProcessorContext, ProcessorError};

use crate::EmitStrategy;

/// An aggregation's watermark, surviving restarts; or, for an aggregation that emits on
/// update, just the task's watermark (no store).
pub(crate) struct EmitProgress {
    /// `None` when the watermark need not survive restarts.
    store_name: Option<String>,
    store: Option<KeyValueStore<String, i64>>,
    /// The store's only key (kept to write without allocating).
    key: String,
    watermark: i64,
    /// The watermark last written to the store.
    written: i64,
}

impl EmitProgress {
    /// The progress of the aggregation whose store is `aggregate_store`.
    pub(crate) fn new(aggregate_store: &str) -> Self {
        Self {
            store_name: Some(Self::store_name(aggregate_store)),
            store: None,
            key: "watermark".to_owned(),
            watermark: i64::MIN,
            written: i64::MIN,
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

    /// Opens the store and reads the watermark reached before a restart, if any (then
    /// returned); call from `Processor::init`.
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
        self.watermark = restored.unwrap_or(i64::MIN);
        self.written = self.watermark;
        self.store = Some(store);
        Ok(restored)
    }

    /// Writes the watermark through to the store and its changelog; call from
    /// `Processor::flush`, so that every commit covers it (a restart resumes from the last
    /// commit, records after it included, so the watermark of that commit is the one to keep).
    pub(crate) fn flush(&mut self) -> Result<(), ProcessorError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        if self.watermark > self.written {
            store.put(&self.key, &self.watermark)?;
            store.flush_cache()?;
            self.written = self.watermark;
        }
        Ok(())
    }

    /// Advances to the task's watermark if it is later, and returns the watermark: the
    /// task's, or the one reached before a restart.
    pub(crate) fn advance(&mut self, task_watermark: i64) -> i64 {
        self.watermark = self.watermark.max(task_watermark);
        self.watermark
    }
}
