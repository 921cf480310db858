use std::sync::Arc;

use streams_core::{
    CacheBudget, Processor, ProcessorContext, ProcessorError, Record, ValueAndTimestamp,
    WindowStore,
};

use super::emit_progress::EmitProgress;
use super::hot_windows::HotWindows;
use super::window_emit;
use super::window_slices::{Merge, WindowSlices};
use super::LateRecords;
use crate::{Change, EmitStrategy, TimeWindows, Window, Windowed};

/// Folds each record into every time window of its key that holds it, and emits per the
/// emit strategy. A window accepts records while the watermark is before its end plus
/// grace; a record too late for a window is dropped for it and counted.
///
/// Open windows live in the task's [`HotWindows`], typed, within the store's cache budget,
/// and are written behind to the window store (and its changelog) in batches: at each
/// commit, and as windows close or are spilled to stay within the budget. With
/// `every_update`, each update is forwarded as it happens; otherwise (on-update emission
/// with caching) what goes downstream is a window's last value when it is written behind.
///
/// On close, hopping windows whose aggregates can be merged (a `merge` is given) are kept
/// by slices instead ([`WindowSlices`]): each record is folded once, into its slice, and a
/// window's result is merged from its slices when it closes.
pub(crate) struct WindowAggregate<K, V, VA, F> {
    every_update: bool,
    /// The watermark reached (on close: kept across restarts).
    progress: EmitProgress,
    late: Option<Arc<LateRecords<K, V>>>,
    store_name: String,
    store: Option<WindowStore<K, ValueAndTimestamp<VA>>>,
    windows: TimeWindows,
    emit: EmitStrategy,
    fold: Arc<F>,
    hot: Option<HotWindows<K, ValueAndTimestamp<VA>>>,
    /// How two aggregates of a key and window merge, if they can.
    merge: Option<Arc<Merge<VA>>>,
    /// The slices, on close when `merge` is known and the windows hop.
    slices: Option<WindowSlices<K, VA>>,
    /// Whether changes carry the window's previous aggregate (an operator downstream needs it).
    send_old: bool,
}

impl<K, V, VA, F> WindowAggregate<K, V, VA, F> {
    pub(crate) fn new(
        store_name: String,
        windows: TimeWindows,
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
            hot: None,
            merge: None,
            slices: None,
            send_old: false,
        }
    }

    /// Lets hopping windows emitted on close be kept by slices, merged with `merge`, which
    /// must agree with the fold: merging the aggregates of two runs of records gives the
    /// aggregate of all of them, whatever their order.
    pub(crate) fn merging_with(self, merge: Option<Arc<Merge<VA>>>) -> Self {
        Self { merge, ..self }
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
}

impl<K, V, VA, F> WindowAggregate<K, V, VA, F>
where
    K: Clone + 'static,
    VA: Clone + 'static,
{
    /// Whether the cache's flushes are what goes downstream.
    fn forwards_flushes(&self) -> bool {
        self.emit == EmitStrategy::OnWindowUpdate && !self.every_update
    }

    /// The start of the last window that `watermark` closes: a window closes once
    /// watermark >= end + grace, that is start <= watermark - size - grace.
    fn last_closed_start(&self, watermark: i64) -> i64 {
        watermark
            .saturating_sub(self.windows.size())
            .saturating_sub(self.windows.grace())
    }

    /// The first window start after `last_closed_start` (starts are multiples of the
    /// advance): the next window that can close.
    fn next_start_after(&self, last_closed_start: i64) -> i64 {
        let advance = self.windows.advance();
        (last_closed_start.div_euclid(advance) + 1) * advance
    }

    /// Emits, in window order, the final result of every window closed by `watermark`.
    fn emit_closed(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        watermark: i64,
    ) -> Result<(), ProcessorError> {
        let (size, last_closed_start) = (self.windows.size(), self.last_closed_start(watermark));
        let mut emit = |key, start, aggregate: ValueAndTimestamp<VA>| {
            let windowed = Windowed {
                key,
                window: window_at(start, size),
            };
            ctx.forward(Record::new(
                windowed,
                Change::new(Some(aggregate.value), None),
                aggregate.timestamp,
            ))
        };
        let (Some(store), Some(hot)) = (&self.store, &mut self.hot) else {
            return Err(ProcessorError::UnknownStore(self.store_name.clone()));
        };
        match &mut self.slices {
            None => hot.emit_closed(store, last_closed_start, emit),
            Some(slices) => {
                // The windows left to the per-window state come first: they start earlier.
                let unsliced = last_closed_start.min(slices.frontier());
                hot.emit_closed(store, unsliced, &mut emit)?;
                slices.emit_closed(store, last_closed_start, emit)
            }
        }
    }
}

/// Forwards a window change that a write-behind reports (on-update emission with caching).
fn forward_change<K, VA>(
    ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    key: &K,
    window: Window,
    new: ValueAndTimestamp<VA>,
    old: Option<ValueAndTimestamp<VA>>,
    send_old: bool,
) -> Result<(), ProcessorError>
where
    K: Clone + 'static,
    VA: Clone + 'static,
{
    let timestamp = new.timestamp;
    let old = old.filter(|_| send_old).map(|v| v.value);
    let change = Change::new(Some(new.value), old);
    let windowed = Windowed {
        key: key.clone(),
        window,
    };
    ctx.forward(Record::new(windowed, change, timestamp))
}

impl<K, V, VA, F> Processor<K, V, Windowed<K>, Change<VA>> for WindowAggregate<K, V, VA, F>
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
        // The hot windows take the store's place in the cache budget (the store's own cache
        // then holds only what queries read); a store without a cache gets no room, so
        // every window is written at once.
        let budget = store.cache_budget().unwrap_or_else(|| CacheBudget::new(0));
        let mut hot = HotWindows::new(budget.clone(), self.forwards_flushes());
        let restored = self.progress.open(ctx)?;
        if self.emit == EmitStrategy::OnWindowClose {
            // The windows that the watermark reached before a restart closed are out.
            let from = restored.map_or(i64::MIN, |w| {
                self.next_start_after(self.last_closed_start(w))
            });
            hot.track_emission(&store, from)?;
            if let Some(merge) = self
                .merge
                .clone()
                .filter(|_| WindowSlices::<K, VA>::fit(&self.windows))
            {
                // Windows the store may hold part of stay per window: their records before
                // the restart are in no slice.
                let frontier = store.latest_stored_start();
                self.slices = Some(WindowSlices::new(&self.windows, merge, budget, frontier));
            }
        }
        self.store = Some(store);
        self.hot = Some(hot);
        Ok(())
    }

    fn flush(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        let (size, send_old) = (self.windows.size(), self.send_old);
        let (Some(store), Some(hot)) = (&self.store, &mut self.hot) else {
            return Err(ProcessorError::UnknownStore(self.store_name.clone()));
        };
        hot.flush(store, |key, start, new, old| {
            forward_change(ctx, key, window_at(start, size), new, old, send_old)
        })?;
        if let Some(slices) = &mut self.slices {
            slices.flush(store)?;
        }
        self.progress.flush()
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
        let last_closed = self.last_closed_start(watermark);
        if let Some(slices) = &mut self.slices {
            // Before this record is folded in: it is too late for the windows closed now.
            slices.close_through(last_closed);
        }
        if self.emit == EmitStrategy::OnWindowClose {
            // Before this record's writes: they may expire windows that close just now.
            if let Some(watermark) = self.progress.emit_due(ctx.current_system_time()) {
                self.emit_closed(ctx, watermark)?;
            }
        }
        let forwards_updates = self.emit == EmitStrategy::OnWindowUpdate && self.every_update;
        let (grace, size) = (self.windows.grace(), self.windows.size());
        let closed = self.last_closed_start(watermark);
        let (Some(store), Some(hot)) = (&self.store, &mut self.hot) else {
            return Err(ProcessorError::UnknownStore(self.store_name.clone()));
        };
        let (mut dropped, mut windows, mut sliced) = (0, 0, false);
        let mut id = None;
        for window in self.windows.windows_for(r.timestamp) {
            windows += 1;
            if watermark >= window.end.saturating_add(grace) || !hot.accepts(window.start, store) {
                dropped += 1;
                continue;
            }
            if self.slices.as_ref().is_some_and(|s| s.holds(window.start)) {
                sliced = true;
                continue;
            }
            let id = match id {
                Some(id) => id,
                None => *id.insert(hot.key_id(store, &r.key)?),
            };
            let slot = hot.value_for_write(id, window.start, store)?;
            let (old_value, old_time) = match slot.take() {
                Some(v) => (Some(v.value), v.timestamp),
                None => (None, i64::MIN),
            };
            let old_out = if forwards_updates && self.send_old {
                old_value.clone()
            } else {
                None
            };
            let new = (self.fold)(&r.key, r.value.clone(), old_value);
            let timestamp = old_time.max(r.timestamp);
            if !forwards_updates {
                *slot = Some(ValueAndTimestamp::new(new, timestamp));
                continue;
            }
            *slot = Some(ValueAndTimestamp::new(new.clone(), timestamp));
            let windowed = Windowed {
                key: r.key.clone(),
                window,
            };
            let mut out = Record::new(windowed, Change::new(Some(new), old_out), timestamp);
            out.headers = r.headers.clone();
            ctx.forward(out)?;
        }
        if let Some(id) = id {
            hot.release_if_empty(id);
        }
        if let Some(slices) = self.slices.as_mut().filter(|_| sliced) {
            slices.add(store, &r.key, r.value.clone(), r.timestamp, |k, v, a| {
                (self.fold)(k, v, a)
            })?;
            if slices.over_budget() && !slices.is_empty() {
                // Out of room: the sliced windows go to the per-window state, which spills.
                slices.move_to(hot, store)?;
            }
        }
        // Closed windows are final: written behind now, they leave room for open ones.
        let send_old = self.send_old;
        hot.retire(store, closed, |key, start, new, old| {
            forward_change(ctx, key, window_at(start, size), new, old, send_old)
        })?;
        hot.spill(store, |key, start, new, old| {
            forward_change(ctx, key, window_at(start, size), new, old, send_old)
        })?;
        window_emit::report_late(
            &r,
            (dropped, windows),
            (watermark, grace),
            self.late.as_deref(),
            ctx,
        )
    }
}

/// The time window of size `size` starting at `start`.
fn window_at(start: i64, size: i64) -> Window {
    Window {
        start,
        end: start + size,
    }
}
