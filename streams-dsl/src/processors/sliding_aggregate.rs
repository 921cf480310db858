//! The sliding-window aggregation (Kafka Streams KIP-450), as Kafka Streams'
//! `KStreamSlidingWindowAggregate` computes it.
//!
//! Windows are defined by the records: each record at `t` has a left window `[t - d, t]`,
//! and a right window `[t + 1, t + d + 1]` that exists once a later record falls into it. A
//! window exists only while it holds records, so one set of records is never aggregated
//! twice. No window starts before 0: records before `d` share the window `[0, d]`.
//!
//! A record updates the existing windows that hold it (newest first) and brings its missing
//! windows into being from its neighbours' aggregates: its left window from the aggregate of
//! the newest window ending before it, plus the record; the right window of the record before
//! it from the record alone; its own right window as a copy of the window that holds the
//! records after it. Aggregates thus fold records in arrival order.

use std::collections::HashSet;
use std::sync::Arc;

use streams_core::{
    Headers, Processor, ProcessorContext, ProcessorError, Record, ValueAndTimestamp, WindowStore,
};

use super::emit_progress::EmitProgress;
use super::window_emit::{self, Unemitted};
use super::LateRecords;
use crate::{Change, EmitStrategy, SlidingWindows, Windowed};

/// The record being aggregated, with its close time (stream time − grace) and the counts of
/// the windows it reached and was too late for.
struct Arrival<'r, K, V> {
    key: &'r K,
    value: &'r V,
    t: i64,
    headers: &'r Headers,
    close: i64,
    windows: u64,
    dropped: u64,
}

/// What the windows near a record tell about it, read from the store.
struct Neighbours<VA> {
    /// Every window start read.
    starts: HashSet<i64>,
    /// The newest window ending before the record: its aggregate seeds the left window.
    left: Option<ValueAndTimestamp<VA>>,
    /// The newest window holding records after the record: it becomes the right window.
    right: Option<ValueAndTimestamp<VA>>,
    left_exists: bool,
    right_exists: bool,
    /// The time of the newest record before this one, when its right window may be missing.
    previous: Option<i64>,
}

impl<VA> Neighbours<VA> {
    fn new() -> Self {
        Self {
            starts: HashSet::new(),
            left: None,
            right: None,
            left_exists: false,
            right_exists: false,
            previous: None,
        }
    }
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
    windows: SlidingWindows,
    emit: EmitStrategy,
    fold: Arc<F>,
    /// On close: the windows whose final result is not out yet.
    unemitted: Option<Unemitted<K>>,
    /// Whether changes carry the window's previous aggregate (an operator downstream needs it).
    send_old: bool,
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
            windows,
            emit,
            fold,
            unemitted: None,
            send_old: false,
        }
    }

    /// Makes the changes it forwards carry the previous aggregate where `send_old`.
    pub(crate) fn sending_old_values(self, send_old: bool) -> Self {
        Self { send_old, ..self }
    }

    fn store(&self) -> Result<&WindowStore<K, ValueAndTimestamp<VA>>, ProcessorError> {
        self.store
            .as_ref()
            .ok_or_else(|| ProcessorError::UnknownStore(self.store_name.clone()))
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
        let window = |start| windows.window(start);
        window_emit::forward_flushed(self.store()?, window, self.send_old, ctx)
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

    /// Folds the record into the window at `start`, whose aggregate so far is `base` (`None`:
    /// the initializer) with time `base_time`, unless the window has closed; forwards the
    /// update. A window that the record brings into being (`created`) has no old value.
    fn update(
        &mut self,
        r: &mut Arrival<'_, K, V>,
        start: i64,
        (base, base_time): (Option<VA>, i64),
        created: bool,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        r.windows += 1;
        if start.saturating_add(self.windows.time_difference()) < r.close {
            r.dropped += 1;
            return Ok(());
        }
        let timestamp = base_time.max(r.t);
        let aggregate = (self.fold)(r.key, r.value.clone(), base.clone());
        let old = if created { None } else { base };
        self.put_and_forward(
            r,
            start,
            ValueAndTimestamp::new(aggregate, timestamp),
            old,
            ctx,
        )
    }

    /// Stores `value` as the window at `start` and forwards it (on every update); a window
    /// without `old` value is new, and noted for its final result on close.
    fn put_and_forward(
        &mut self,
        r: &Arrival<'_, K, V>,
        start: i64,
        value: ValueAndTimestamp<VA>,
        old: Option<VA>,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        let retained = self.store()?.put(r.key, start, Some(&value))?;
        if let (Some(unemitted), Some(store), None, true) =
            (&mut self.unemitted, &self.store, &old, retained)
        {
            unemitted.add(store, r.key, start)?;
        }
        if self.emit == EmitStrategy::OnWindowUpdate && self.every_update {
            let windowed = Windowed {
                key: r.key.clone(),
                window: self.windows.window(start),
            };
            let mut out = Record::new(
                windowed,
                Change::new(Some(value.value), old.filter(|_| self.send_old)),
                value.timestamp,
            );
            out.headers = r.headers.clone();
            ctx.forward(out)?;
        }
        Ok(())
    }

    /// The record's own right window `[t + 1, t + d + 1]`, when the records after it are not
    /// in one yet: a copy of `right`, the window holding them.
    fn create_right_window(
        &mut self,
        r: &Arrival<'_, K, V>,
        right: Option<ValueAndTimestamp<VA>>,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        match right {
            Some(right) if right.timestamp > r.t => {
                self.put_and_forward(r, r.t.saturating_add(1), right, None, ctx)
            }
            _ => Ok(()),
        }
    }

    /// A record at `t >= d`: updates the windows that hold it, newest first, then creates
    /// the windows it is missing.
    fn process_in_range(
        &mut self,
        r: &mut Arrival<'_, K, V>,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        let (t, d) = (r.t, self.windows.time_difference());
        let found = self.store()?.backward_fetch_range(
            r.key,
            t.saturating_sub(d.saturating_mul(2)).max(0),
            t.saturating_add(1),
        )?;
        let mut near = Neighbours::new();
        for (start, window) in found {
            near.starts.insert(start);
            let end = start.saturating_add(d);
            if start == t.saturating_add(1) {
                near.right_exists = true;
            } else if end > t {
                if near.right.is_none() {
                    near.right = Some(window.clone());
                }
                self.update(r, start, (Some(window.value), window.timestamp), false, ctx)?;
            } else if end == t {
                near.left_exists = true;
                let newest = window.timestamp;
                self.update(r, start, (Some(window.value), newest), false, ctx)?;
                if newest >= t {
                    // A record at t came before: every window of this one exists.
                    return Ok(());
                }
                near.previous = Some(newest);
            } else {
                near.previous = Some(window.timestamp);
                near.left = Some(window);
                break;
            }
        }
        if let Some(previous) = near.previous {
            let start = previous.saturating_add(1);
            if !near.starts.contains(&start) && start.saturating_add(d) >= t {
                self.update(r, start, (None, t), true, ctx)?;
            }
        }
        if !near.left_exists {
            let seed = match (near.previous, near.left) {
                (Some(previous), Some(left)) if previous >= t.saturating_sub(d) => Some(left.value),
                _ => None,
            };
            self.update(r, t.saturating_sub(d), (seed, t), true, ctx)?;
        }
        if !near.right_exists {
            self.create_right_window(r, near.right, ctx)?;
        }
        Ok(())
    }

    /// A record at `t < d`: its left window would start before 0, so every such record
    /// goes into the one window `[0, d]`, updated last.
    fn process_early(
        &mut self,
        r: &mut Arrival<'_, K, V>,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        let t = r.t;
        let found = self.store()?.fetch_range(r.key, 0, t.saturating_add(1))?;
        let mut near = Neighbours::new();
        let mut combined = None;
        for (start, window) in found {
            near.starts.insert(start);
            if start == 0 {
                if window.timestamp < t {
                    near.previous = Some(window.timestamp);
                }
                combined = Some(window);
            } else if start <= t {
                near.right = Some(window.clone());
                self.update(r, start, (Some(window.value), window.timestamp), false, ctx)?;
            } else {
                near.right_exists = true;
            }
        }
        if near.right.is_none() {
            // Without a window between, [0, d] holds only records after this one, if any.
            near.right = combined.clone().filter(|c| c.timestamp > t);
        }
        if !near.right_exists {
            self.create_right_window(r, near.right, ctx)?;
        }
        if let Some(previous) = near.previous {
            let start = previous.saturating_add(1);
            if !near.starts.contains(&start) {
                self.update(r, start, (None, t), true, ctx)?;
            }
        }
        match combined {
            Some(c) => self.update(r, 0, (Some(c.value), c.timestamp), false, ctx),
            None => self.update(r, 0, (None, t), true, ctx),
        }
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
        self.progress.flush()?;
        self.forward_flushed(ctx)
    }

    /// A watermark raised without a record (quiet inputs) closes windows: on-close
    /// emission sends their final results now.
    fn on_watermark(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        self.progress.advance(ctx.watermark());
        if self.emit == EmitStrategy::OnWindowClose {
            let watermark = self.progress.emit_now();
            self.emit_closed(ctx, watermark)?;
        }
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        if self.store()?.is_null_key(&r.key) {
            // As Kafka Streams: a record without a key has no window to go into.
            ctx.record_dropped(1);
            return Ok(());
        }
        let watermark = self.progress.advance(ctx.watermark());
        let (t, d, grace) = (
            r.timestamp,
            self.windows.time_difference(),
            self.windows.grace(),
        );
        let close = watermark.saturating_sub(grace);
        if t.saturating_add(d) < close {
            // Even the last window that could hold the record has closed.
            return window_emit::report_late(
                &r,
                (1, 1),
                (watermark, grace),
                self.late.as_deref(),
                ctx,
            );
        }
        let mut arrival = Arrival {
            key: &r.key,
            value: &r.value,
            t,
            headers: &r.headers,
            close,
            windows: 0,
            dropped: 0,
        };
        if t < d {
            // As Kafka Streams: an early record emits no final results.
            self.process_early(&mut arrival, ctx)?;
        } else {
            self.process_in_range(&mut arrival, ctx)?;
            if self.emit == EmitStrategy::OnWindowClose {
                // After this record's writes, as Kafka Streams: a window that they pushed
                // out of the store's retention is gone, and not emitted.
                if let Some(watermark) = self.progress.emit_due(ctx.current_system_time()) {
                    self.emit_closed(ctx, watermark)?;
                }
            }
        }
        let (dropped, windows) = (arrival.dropped, arrival.windows);
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
