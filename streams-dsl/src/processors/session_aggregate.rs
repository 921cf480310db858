use std::collections::BTreeMap;
use std::sync::Arc;

use streams_core::{
    FlushedChange, Processor, ProcessorContext, ProcessorError, Record, SessionStore,
    ValueAndTimestamp,
};

use super::emit_progress::EmitProgress;
use super::latest_sessions::{LatestSessions, Session};
use super::LateRecords;
use crate::{Change, EmitStrategy, SessionWindows, Window, Windowed};

/// Folds each record into the session of its key that it falls in, merging every session
/// within the inactivity gap of it, as Kafka Streams' `KStreamSessionWindowAggregate`: the
/// merged aggregate starts from the initializer and merges each absorbed session in store
/// order; each absorbed session (also one that holds the record) is removed and retracted
/// downstream (a tombstone at its end) before the merged session is written. A record whose
/// merged session ends before watermark − gap − grace is dropped and counted.
///
/// The store has a record cache. With `every_update`, each change is forwarded as it happens;
/// otherwise (on-update emission with caching) the cache's flushes are forwarded: per flush,
/// the removal of each replaced session that downstream had seen, then the merged session.
///
/// The latest session of each key is kept typed in memory ([`LatestSessions`]): a record at
/// or after it (the usual case) finds what it merges with there, without reading the store.
pub(crate) struct SessionAggregate<K, V, VA, F, M> {
    every_update: bool,
    /// The watermark reached (on close: kept across restarts).
    progress: EmitProgress,
    late: Option<Arc<LateRecords<K, V>>>,
    store_name: String,
    store: Option<SessionStore<K, ValueAndTimestamp<VA>>>,
    windows: SessionWindows,
    emit: EmitStrategy,
    fold: Arc<F>,
    merge: Arc<M>,
    /// How many not yet emitted sessions end at each time: a close check scans the store
    /// only when the earliest of them can close (rebuilt from the store at init).
    open_ends: BTreeMap<i64, usize>,
    /// The latest session of the keys seen (opened by `init`).
    latest: Option<LatestSessions<ValueAndTimestamp<VA>>>,
    /// Whether a removed session's retraction carries its aggregate (an operator downstream
    /// needs old values).
    send_old: bool,
}

impl<K, V, VA, F, M> SessionAggregate<K, V, VA, F, M> {
    pub(crate) fn new(
        store_name: String,
        windows: SessionWindows,
        emit: EmitStrategy,
        fold: Arc<F>,
        merge: Arc<M>,
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
            merge,
            open_ends: BTreeMap::new(),
            latest: None,
            send_old: false,
        }
    }

    /// Makes retractions carry the removed session's aggregate where `send_old`.
    pub(crate) fn sending_old_values(self, send_old: bool) -> Self {
        Self { send_old, ..self }
    }

    fn opened(&mut self, end: i64) {
        if self.emit == EmitStrategy::OnWindowClose {
            *self.open_ends.entry(end).or_insert(0) += 1;
        }
    }

    fn closed(&mut self, end: i64) {
        if let Some(count) = self.open_ends.get_mut(&end) {
            *count -= 1;
            if *count == 0 {
                self.open_ends.remove(&end);
            }
        }
    }

    fn store(&self) -> Result<&SessionStore<K, ValueAndTimestamp<VA>>, ProcessorError> {
        self.store
            .as_ref()
            .ok_or_else(|| ProcessorError::UnknownStore(self.store_name.clone()))
    }
}

fn windowed<K>(key: K, start: i64, end: i64) -> Windowed<K> {
    Windowed {
        key,
        window: Window { start, end },
    }
}

impl<K: Clone + 'static, V, VA: Clone + 'static, F, M> SessionAggregate<K, V, VA, F, M> {
    /// Whether each change is forwarded as it happens.
    fn forwards_updates(&self) -> bool {
        self.emit == EmitStrategy::OnWindowUpdate && self.every_update
    }

    /// Whether the cache's flushes are what goes downstream.
    fn forwards_flushes(&self) -> bool {
        self.emit == EmitStrategy::OnWindowUpdate && !self.every_update
    }

    /// Forwards the sessions that the cache wrote through (or removed) since the last call.
    fn forward_flushed(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        self.store()?
            .drain_flushed(|c: FlushedChange<(K, i64, i64), ValueAndTimestamp<VA>>| {
                let (key, start, end) = c.key;
                let old = c.old.filter(|_| self.send_old).map(|v| v.value);
                let change = Change::new(c.new.map(|v| v.value), old);
                // As Kafka Streams' session flush listener: a session's change, removal
                // or not, carries the session's end.
                ctx.forward(Record::new(windowed(key, start, end), change, end))
            })
    }

    /// Emits the final result of every session that can no longer change: no record can
    /// reach it once the watermark passes its end plus gap plus grace.
    fn emit_closed(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        watermark: i64,
    ) -> Result<(), ProcessorError> {
        let bound = watermark
            .saturating_sub(self.windows.gap())
            .saturating_sub(self.windows.grace());
        let Some(&earliest) = self.open_ends.keys().next() else {
            return Ok(());
        };
        if earliest >= bound {
            return Ok(());
        }
        let mut closed: Vec<_> = self
            .store()?
            .all()?
            .into_iter()
            .filter(|(_, _, end, _)| *end < bound && self.open_ends.contains_key(end))
            .collect();
        // The store's order is key, end, start: sorted stably by end, the sessions come by
        // end, key, start, as Kafka Streams' time-ordered session store emits them.
        closed.sort_by_key(|(_, _, end, _)| *end);
        for (key, start, end, aggregate) in closed {
            self.closed(end);
            ctx.forward(Record::new(
                windowed(key, start, end),
                Change::new(Some(aggregate.value), None),
                aggregate.timestamp,
            ))?;
        }
        Ok(())
    }
}

/// The sessions of a key that a record merges with, by end then start, and the key's latest
/// session if it is later than all of them and the record does not reach it.
type Near<VA> = (
    Vec<Session<ValueAndTimestamp<VA>>>,
    Option<Session<ValueAndTimestamp<VA>>>,
);

impl<K: Clone + 'static, V, VA: Clone + 'static, F, M> SessionAggregate<K, V, VA, F, M> {
    /// The sessions of `key` within the gap of time `t` (that a record at `t` merges with),
    /// and the key's latest session if it starts after them, beyond the gap; `close` is the end before which
    /// sessions are closed. From the key's latest session when it is known, still open and
    /// starts at or before `t`: no other session of the key can be within the gap of `t`
    /// then. Otherwise read from the store, with every later session of the key, so that
    /// the key's latest session is known from then on.
    fn sessions_near(&mut self, key: &K, t: i64, close: i64) -> Result<Near<VA>, ProcessorError> {
        let gap = self.windows.gap();
        let (Some(store), Some(latest)) = (&self.store, &mut self.latest) else {
            return Err(ProcessorError::UnknownStore(self.store_name.clone()));
        };
        latest.key(store, key)?;
        match latest.get() {
            Some(None) => return Ok((Vec::new(), None)),
            Some(Some(last)) if last.start <= t => {
                // Past its gap, the record starts the key's new latest session: no session
                // of the key ends within the gap of it (expiry only removes sessions).
                if t > last.end.saturating_add(gap) {
                    return Ok((Vec::new(), None));
                }
                // Still open, so the store retains it and it is what the record merges with.
                if last.end >= close {
                    return Ok((vec![last.clone()], None));
                }
            }
            _ => {}
        }
        let found = store.find_sessions(key, t.saturating_sub(gap), i64::MAX)?;
        let (mut near, mut later) = (Vec::new(), None);
        for (_, start, end, value) in found {
            let session = Session { start, end, value };
            if start <= t.saturating_add(gap) {
                near.push(session);
            } else {
                // By end: the last one is the latest.
                later = Some(session);
            }
        }
        Ok((near, later))
    }
}

impl<K, V, VA, F, M> Processor<K, V, Windowed<K>, Change<VA>> for SessionAggregate<K, V, VA, F, M>
where
    K: Clone + 'static,
    V: 'static,
    VA: Clone + 'static,
    F: Fn(&K, V, Option<VA>) -> VA + 'static,
    M: Fn(&K, Option<VA>, VA) -> VA + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), ProcessorError> {
        let store: SessionStore<K, ValueAndTimestamp<VA>> = ctx.state_store(&self.store_name)?;
        store.report_flushes(self.forwards_flushes());
        self.latest = Some(LatestSessions::new(store.cache_budget()));
        self.store = Some(store);
        let restored = self.progress.open(ctx)?;
        if self.emit == EmitStrategy::OnWindowClose {
            // After a restart the store holds the sessions that were still open, and the
            // closed ones it still retains, which the watermark reached before tells apart.
            let bound = restored
                .unwrap_or(i64::MIN)
                .max(ctx.watermark())
                .saturating_sub(self.windows.gap())
                .saturating_sub(self.windows.grace());
            for (_, _, end, _) in self.store()?.all()? {
                if end >= bound {
                    self.opened(end);
                }
            }
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

    /// A watermark raised without a record (quiet inputs, issue 22) closes sessions:
    /// on-close emission sends their final results now.
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
        if self.emit == EmitStrategy::OnWindowClose {
            if let Some(watermark) = self.progress.emit_due(ctx.current_system_time()) {
                self.emit_closed(ctx, watermark)?;
            }
        }
        let (t, gap) = (r.timestamp, self.windows.gap());
        // As Kafka Streams: a session closes once stream time passes its end by gap plus
        // grace (a later record within the gap could still have extended it).
        let close = watermark
            .saturating_sub(gap)
            .saturating_sub(self.windows.grace());
        let (overlapping, later) = self.sessions_near(&r.key, t, close)?;
        let start = overlapping.iter().map(|s| s.start).fold(t, i64::min);
        let end = overlapping.iter().map(|s| s.end).fold(t, i64::max);
        if end < close {
            tracing::debug!(time = t, close, "record too late for its session");
            ctx.record_dropped(1);
            if let Some(late) = &self.late {
                let mut reason = format!(
                    "too late for its session [{start}, {end}]: watermark {watermark}, gap {gap}, grace {}",
                    self.windows.grace()
                );
                super::window_emit::name_watermark_rule(&mut reason, ctx.watermark_source());
                late.send(&r, &reason, ctx)?;
            }
            return Ok(());
        }
        // The merged aggregate starts from the initializer (`None`) and takes in every
        // absorbed session with the merger, in store order (by end, then start).
        let mut aggregate: Option<VA> = None;
        let rewrites = (start, end) != (t, t);
        for Session {
            start: s,
            end: e,
            value: old,
        } in overlapping
        {
            self.closed(e);
            if rewrites {
                // Every absorbed session is removed, even one that holds the record: its
                // windowed key is retracted before the merged session is written back.
                self.store()?.put(&r.key, s, e, None)?;
                if self.forwards_updates() {
                    let removed = self.send_old.then(|| old.value.clone());
                    let retraction = Change::new(None, removed);
                    ctx.forward(Record::new(windowed(r.key.clone(), s, e), retraction, e))?;
                }
            }
            aggregate = Some((self.merge)(&r.key, aggregate, old.value));
        }
        let new = (self.fold)(&r.key, r.value, aggregate);
        // The session's end is the time of its latest record, the time its results carry.
        let merged = ValueAndTimestamp::new(new.clone(), end);
        let retained = self.store()?.put(&r.key, start, end, Some(&merged))?;
        if let Some(latest) = &mut self.latest {
            if retained {
                // A later session that the record did not reach stays the latest.
                latest.set(Some(later.unwrap_or(Session {
                    start,
                    end,
                    value: merged,
                })));
            } else {
                latest.forget();
            }
        }
        self.opened(end);
        if self.forwards_flushes() {
            // What the cache evicted to stay within its budget.
            self.forward_flushed(ctx)?;
        }
        if self.forwards_updates() {
            let mut out = Record::new(
                windowed(r.key, start, end),
                Change::new(Some(new), None),
                end,
            );
            out.headers = r.headers;
            ctx.forward(out)?;
        }
        Ok(())
    }
}
