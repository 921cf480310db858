//! The sliding-window aggregation (Kafka Streams KIP-450).
//!
//! Windows are defined by the records: each record at `t` has a left window `[t - d, t]`,
//! and a right window `[t + 1, t + d + 1]` that exists once a later record falls into it. A
//! window exists only while it holds records, so one set of records is never aggregated
//! twice.
//!
//! An existing window takes a record incrementally. A window that a record brings into being
//! is folded from the records it holds, which a second window store (`<store>-records`)
//! keeps per key and time for as long as a window holding them can still open. Folding from
//! the records themselves (rather than from a neighbouring window's aggregate) keeps every
//! window exact when out-of-order records were too late for some of their windows but not
//! for others.

use std::sync::Arc;

use streams_core::{
    Processor, ProcessorContext, ProcessorError, Record, ValueAndTimestamp, WindowStore,
};

use super::emit_progress::EmitProgress;
use super::window_emit::{self, Unemitted};
use super::LateRecords;
use crate::{Change, EmitStrategy, SlidingWindows, Windowed};

/// The name of the store that keeps the records of a sliding aggregation whose store is
/// `aggregate_store`.
pub(crate) fn records_store_name(aggregate_store: &str) -> String {
    format!("{aggregate_store}-records")
}

/// One window's new result: its start, aggregate, time and previous aggregate.
struct Update<VA> {
    start: i64,
    aggregate: VA,
    timestamp: i64,
    old: Option<VA>,
}

/// Folds records into sliding windows per key and emits per the emit strategy; see the
/// module documentation.
pub(crate) struct SlidingAggregate<K, V, VA, F> {
    every_update: bool,
    /// The watermark reached (on close: kept across restarts).
    progress: EmitProgress,
    late: Option<Arc<LateRecords<K, V>>>,
    store_name: String,
    store: Option<WindowStore<K, ValueAndTimestamp<VA>>>,
    records: Option<WindowStore<K, Vec<V>>>,
    windows: SlidingWindows,
    emit: EmitStrategy,
    fold: Arc<F>,
    /// On close: the windows whose final result is not out yet.
    unemitted: Option<Unemitted<K>>,
}

impl<K, V, VA, F> SlidingAggregate<K, V, VA, F> {
    pub(crate) fn new(
        store_name: String,
        windows: SlidingWindows,
        emit: EmitStrategy,
        fold: Arc<F>,
        late: Option<Arc<LateRecords<K, V>>>,
        every_update: bool,
    ) -> Self {
        let progress = EmitProgress::for_strategy(emit, &store_name);
        Self {
            every_update,
            progress,
            late,
            store_name,
            store: None,
            records: None,
            windows,
            emit,
            fold,
            unemitted: None,
        }
    }

    fn store(&self) -> Result<&WindowStore<K, ValueAndTimestamp<VA>>, ProcessorError> {
        self.store
            .as_ref()
            .ok_or_else(|| ProcessorError::UnknownStore(self.store_name.clone()))
    }

    fn records(&self) -> Result<&WindowStore<K, Vec<V>>, ProcessorError> {
        self.records
            .as_ref()
            .ok_or_else(|| ProcessorError::UnknownStore(records_store_name(&self.store_name)))
    }

    /// The start of the last window that `watermark` closes: the window `[s, s + d]` closes
    /// once watermark >= s + d + 1 + grace.
    fn last_closed_start(&self, watermark: i64) -> i64 {
        watermark
            .saturating_sub(self.windows.time_difference())
            .saturating_sub(1)
            .saturating_sub(self.windows.grace())
    }
}

impl<K, V, VA, F> SlidingAggregate<K, V, VA, F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VA: Clone + 'static,
    F: Fn(&K, V, Option<VA>) -> VA + 'static,
{
    /// Whether the cache's flushes are what goes downstream.
    fn forwards_flushes(&self) -> bool {
        self.emit == EmitStrategy::OnWindowUpdate && !self.every_update
    }

    fn forward_flushed(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        let windows = self.windows;
        window_emit::forward_flushed(self.store()?, |start| windows.window(start), ctx)
    }

    /// Emits, in window order, the final result of every window closed by `watermark`.
    fn emit_closed(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        watermark: i64,
    ) -> Result<(), ProcessorError> {
        let (windows, last_closed_start) = (self.windows, self.last_closed_start(watermark));
        let (Some(unemitted), Some(store)) = (&mut self.unemitted, &self.store) else {
            return Ok(());
        };
        unemitted.emit_until(store, last_closed_start, |start| windows.window(start), ctx)
    }

    /// The aggregate of the records in `[start, start + d]` among `nearby` (records by time,
    /// ascending), folded in time order, with the latest record time.
    fn fold_window(&self, key: &K, start: i64, nearby: &[(i64, Vec<V>)]) -> Option<(VA, i64)> {
        let end = start.saturating_add(self.windows.time_difference());
        let mut result: Option<(VA, i64)> = None;
        for (time, values) in nearby.iter().filter(|(t, _)| (start..=end).contains(t)) {
            for value in values {
                let aggregate = (self.fold)(key, value.clone(), result.take().map(|r| r.0));
                result = Some((aggregate, *time));
            }
        }
        result
    }

    /// The new results of the windows that the record `(key, value)` at `t` updates or
    /// brings into being, by ascending start, and how many of its windows had closed.
    fn updates(
        &self,
        key: &K,
        value: &V,
        t: i64,
        watermark: i64,
    ) -> Result<(Vec<Update<VA>>, u64), ProcessorError> {
        let d = self.windows.time_difference();
        let records = self.records()?;
        let mut at_t = records.fetch(key, t)?.unwrap_or_default();
        at_t.push(value.clone());
        records.put(key, t, Some(&at_t))?;
        // Every record that a window touching `t` (or created now) can hold.
        let nearby = records.fetch_range(key, t.saturating_sub(d + 1), t.saturating_add(d + 1))?;
        let existing = self
            .store()?
            .fetch_range(key, t.saturating_sub(d), t.saturating_add(1))?;
        let (mut updates, mut dropped) = (Vec::new(), 0);
        for (start, old) in &existing {
            if *start > t {
                continue; // the record's right window: it does not hold the record
            }
            if !self.windows.is_open(start.saturating_add(d), watermark) {
                dropped += 1;
                continue;
            }
            updates.push(Update {
                start: *start,
                aggregate: (self.fold)(key, value.clone(), Some(old.value.clone())),
                timestamp: old.timestamp.max(t),
                old: Some(old.value.clone()),
            });
        }
        // The windows the record may bring into being: the right windows of the records up
        // to d + 1 before it (they now hold it), its own left window, and its own right
        // window if a later record falls into it.
        let mut candidates: Vec<i64> = nearby
            .iter()
            .filter(|(p, _)| *p < t)
            .map(|(p, _)| p + 1)
            .collect();
        candidates.push(t.saturating_sub(d));
        if nearby.iter().any(|(p, _)| *p > t) {
            candidates.push(t.saturating_add(1));
        }
        candidates.sort_unstable();
        candidates.dedup();
        for start in candidates {
            if existing.iter().any(|(s, _)| *s == start) {
                continue;
            }
            if !self.windows.is_open(start.saturating_add(d), watermark) {
                // Only the record's own left window counts as one it missed: the others
                // would not have existed had it been on time.
                dropped += u64::from(start == t.saturating_sub(d));
                continue;
            }
            if let Some((aggregate, timestamp)) = self.fold_window(key, start, &nearby) {
                updates.push(Update {
                    start,
                    aggregate,
                    timestamp,
                    old: None,
                });
            }
        }
        updates.sort_by_key(|u| u.start);
        Ok((updates, dropped))
    }
}

impl<K, V, VA, F> Processor<K, V, Windowed<K>, Change<VA>> for SlidingAggregate<K, V, VA, F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VA: Clone + 'static,
    F: Fn(&K, V, Option<VA>) -> VA + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        let store: WindowStore<K, ValueAndTimestamp<VA>> = ctx.state_store(&self.store_name)?;
        store.report_flushes(self.forwards_flushes());
        self.store = Some(store);
        let records: WindowStore<K, Vec<V>> =
            ctx.state_store(&records_store_name(&self.store_name))?;
        records.report_flushes(false);
        self.records = Some(records);
        let restored = self.progress.open(ctx)?;
        if self.emit == EmitStrategy::OnWindowClose {
            // The windows that the watermark reached before a restart closed are out.
            let from = restored.map_or(i64::MIN, |w| self.last_closed_start(w).saturating_add(1));
            let mut unemitted = Unemitted::new();
            unemitted.restore(self.store()?, from)?;
            self.unemitted = Some(unemitted);
        }
        Ok(())
    }

    fn flush(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        self.store()?.flush_cache()?;
        self.records()?.flush_cache()?;
        self.progress.flush()?;
        self.forward_flushed(ctx)
    }

    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        let watermark = self.progress.advance(ctx.watermark());
        if self.emit == EmitStrategy::OnWindowClose {
            // Before this record's writes: they may expire windows that close just now.
            self.emit_closed(ctx, watermark)?;
        }
        let (t, d, grace) = (
            r.timestamp,
            self.windows.time_difference(),
            self.windows.grace(),
        );
        if !self.windows.is_open(t.saturating_add(d), watermark) {
            // Even the last window that could hold the record has closed.
            return window_emit::report_late(
                &r,
                (1, 1),
                (watermark, grace),
                self.late.as_deref(),
                ctx,
            );
        }
        let (updates, dropped) = self.updates(&r.key, &r.value, t, watermark)?;
        let windows = updates.len() as u64 + dropped;
        for update in updates {
            let stored = ValueAndTimestamp::new(update.aggregate, update.timestamp);
            let retained = self.store()?.put(&r.key, update.start, Some(&stored))?;
            if let (Some(unemitted), Some(store), None, true) =
                (&mut self.unemitted, &self.store, &update.old, retained)
            {
                unemitted.add(store, &r.key, update.start)?;
            }
            if self.emit == EmitStrategy::OnWindowUpdate && self.every_update {
                let windowed = Windowed {
                    key: r.key.clone(),
                    window: self.windows.window(update.start),
                };
                let change = Change::new(Some(stored.value), update.old);
                let mut out = Record::new(windowed, change, update.timestamp);
                out.headers = r.headers.clone();
                ctx.forward(out)?;
            }
        }
        if self.forwards_flushes() {
            // What the cache evicted to stay within its budget.
            self.forward_flushed(ctx)?;
        }
        window_emit::report_late(
            &r,
            (dropped, windows),
            (watermark, grace),
            self.late.as_deref(),
            ctx,
        )
    }
}
