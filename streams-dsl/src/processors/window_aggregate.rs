use std::sync::Arc;

use streams_core::{
    Processor, ProcessorContext, ProcessorError, Record, ValueAndTimestamp, WindowStore,
};

use super::emit_progress::EmitProgress;
use super::window_emit::{self, Unemitted};
use super::LateRecords;
use crate::{Change, EmitStrategy, TimeWindows, Window, Windowed};

/// Folds each record into every time window of its key that holds it, in a window store, and
/// emits per the emit strategy. A window accepts records while the watermark is before its end
/// plus grace; a record too late for a window is dropped for it and counted.
///
/// The store has a record cache. With `every_update`, each update is forwarded as it happens
/// and the cache only collapses the writes; otherwise (on-update emission with caching) the
/// cache also collapses what goes downstream to the last value per window per flush.
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
    /// On close: the windows whose final result is not out yet.
    unemitted: Option<Unemitted<K>>,
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
            unemitted: None,
        }
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

    /// Forwards the windows that the cache wrote through since the last call.
    fn forward_flushed(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        let size = self.windows.size();
        window_emit::forward_flushed(
            self.store()?,
            |start| Window {
                start,
                end: start + size,
            },
            ctx,
        )
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
        let (Some(unemitted), Some(store)) = (&mut self.unemitted, &self.store) else {
            return Ok(());
        };
        let window = |start| Window {
            start,
            end: start + size,
        };
        unemitted.emit_until(store, last_closed_start, window, ctx)
    }
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
        store.report_flushes(self.forwards_flushes());
        self.store = Some(store);
        let restored = self.progress.open(ctx)?;
        if self.emit == EmitStrategy::OnWindowClose {
            // The windows that the watermark reached before a restart closed are out.
            let from = restored.map_or(i64::MIN, |w| {
                self.next_start_after(self.last_closed_start(w))
            });
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
        if self.emit == EmitStrategy::OnWindowClose {
            // Before this record's writes: they may expire windows that close just now.
            if let Some(watermark) = self.progress.emit_due(ctx.current_system_time()) {
                self.emit_closed(ctx, watermark)?;
            }
        }
        let grace = self.windows.grace();
        let (mut dropped, mut windows) = (0, 0);
        for window in self.windows.windows_for(r.timestamp) {
            windows += 1;
            if watermark >= window.end.saturating_add(grace) {
                dropped += 1;
                continue;
            }
            let store = self.store()?;
            let old = store.fetch(&r.key, window.start)?;
            let (old_value, old_time) = match old {
                Some(v) => (Some(v.value), v.timestamp),
                None => (None, i64::MIN),
            };
            let new = (self.fold)(&r.key, r.value.clone(), old_value.clone());
            let timestamp = old_time.max(r.timestamp);
            if !store.put(
                &r.key,
                window.start,
                Some(&ValueAndTimestamp::new(new.clone(), timestamp)),
            )? {
                dropped += 1;
                continue;
            }
            if let (Some(unemitted), Some(store), None) =
                (&mut self.unemitted, &self.store, &old_value)
            {
                unemitted.add(store, &r.key, window.start)?;
            }
            if self.emit == EmitStrategy::OnWindowUpdate && self.every_update {
                let windowed = Windowed {
                    key: r.key.clone(),
                    window,
                };
                let mut out = Record::new(windowed, Change::new(Some(new), old_value), timestamp);
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
