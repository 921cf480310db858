//! The processors of a stream-stream join, as Kafka Streams lays them out: each side's records
//! are buffered in a window store (by key and time, duplicates kept) for the other side to
//! find, and each side's join processor looks its records up in the other side's buffer.
//! Left and outer joins keep records without a partner in a store shared by both sides and
//! emit them only once their window has closed.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use streams_core::{
    Headers, KeyValueStore, Processor, ProcessorContext, ProcessorError, Record, SerdeRef, TaskId,
    WindowStore,
};

use super::hot_join_buffer::HotJoinBuffer;
use super::unjoined::{JoinSide, Unjoined, UnjoinedKey};
use super::LateRecords;
use crate::JoinWindows;

/// The reason a record sent to the late-records topic carries.
const EXPIRED: &str = "expired for the join window";

/// Keeps each record of one side in its buffer (typed and in memory, written behind to its
/// window store at each commit: see [`HotJoinBuffer`]) and passes it on to its join
/// processor. A record older than the store's retention is not kept: it is counted as
/// dropped (and sent to the late-records topic, if one is configured), as Kafka Streams'
/// window stores drop expired records.
pub(crate) struct JoinBuffer<K, V> {
    store_name: String,
    state: Option<BufferState<K, V>>,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    late: Option<Arc<LateRecords<K, V>>>,
}

/// A side's window store and the hot buffer in front of it.
type BufferState<K, V> = (WindowStore<K, Vec<V>>, Rc<RefCell<HotJoinBuffer<V>>>);

/// The store called `name` and its hot buffer.
fn buffer_state<K, V, KO, VO>(
    ctx: &ProcessorContext<'_, KO, VO>,
    name: &str,
) -> Result<BufferState<K, V>, ProcessorError>
where
    K: 'static,
    V: Clone + 'static,
{
    let store: WindowStore<K, Vec<V>> = ctx.state_store(name)?;
    let hot = HotJoinBuffer::shared(&store)?;
    Ok((store, hot))
}

impl<K: 'static, V: 'static> JoinBuffer<K, V> {
    pub(crate) fn new(
        store_name: String,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        late: Option<Arc<LateRecords<K, V>>>,
    ) -> Self {
        Self {
            store_name,
            state: None,
            key_serde,
            value_serde,
            late,
        }
    }
}

impl<K, V> Processor<K, V> for JoinBuffer<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, V>) -> Result<(), ProcessorError> {
        self.state = Some(buffer_state(ctx, &self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), ProcessorError> {
        // A record without a key or value never joins (the join processor drops it).
        if !self.key_serde.is_null(&r.key) && !self.value_serde.is_null(&r.value) {
            let (store, hot) = self
                .state
                .as_ref()
                .ok_or_else(|| ProcessorError::UnknownStore(self.store_name.clone()))?;
            let kept = hot
                .borrow_mut()
                .put(store, &r.key, r.timestamp, r.value.clone())?;
            if !kept {
                ctx.record_dropped(1);
                if let Some(late) = &self.late {
                    late.send(&r, EXPIRED, ctx)?;
                }
            }
        }
        ctx.forward(r)
    }

    fn flush(&mut self, _: &mut ProcessorContext<'_, K, V>) -> Result<(), ProcessorError> {
        if let Some((store, hot)) = &self.state {
            hot.borrow_mut().write_behind(store)?;
        }
        Ok(())
    }
}

/// The time a join's two processors of one task share: the largest record time either has
/// seen, and the earliest time of an unjoined record waiting in the shared store (so that the
/// store is read only when something in it may be due).
pub(crate) struct JoinClock {
    stream_time: AtomicI64,
    earliest_unjoined: AtomicI64,
}

impl JoinClock {
    fn new() -> Self {
        Self {
            stream_time: AtomicI64::new(i64::MIN),
            // Unknown until the store is first read (it may hold records after a restart).
            earliest_unjoined: AtomicI64::new(i64::MIN),
        }
    }

    /// Moves stream time to `time` if that is later; returns stream time.
    fn advance(&self, time: i64) -> i64 {
        self.stream_time
            .fetch_max(time, Ordering::Relaxed)
            .max(time)
    }

    fn waiting_since(&self, time: i64) {
        self.earliest_unjoined.fetch_min(time, Ordering::Relaxed);
    }
}

/// The clocks of one join, one per task; both sides' processors of a task take the same one
/// (the topology creates the processors of a task one by one, from separate suppliers).
#[derive(Default)]
pub(crate) struct JoinClocks(Mutex<HashMap<TaskId, (usize, Arc<JoinClock>)>>);

impl JoinClocks {
    fn acquire(&self, task: TaskId) -> Arc<JoinClock> {
        let mut clocks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (users, clock) = clocks
            .entry(task)
            .or_insert_with(|| (0, Arc::new(JoinClock::new())));
        *users += 1;
        Arc::clone(clock)
    }

    fn release(&self, task: TaskId) {
        let mut clocks = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((users, _)) = clocks.get_mut(&task) {
            *users -= 1;
            if *users == 0 {
                clocks.remove(&task);
            }
        }
    }
}

/// The (left, right) pair that a value of one side and one of the other make.
type Pairing<VThis, VOther, VL, VR> =
    for<'a> fn(Option<&'a VThis>, Option<&'a VOther>) -> (Option<&'a VL>, Option<&'a VR>);

/// How a processor's own side relates to the join's left and right.
pub(crate) struct Side<VThis, VOther, VL, VR> {
    side: JoinSide,
    pair: Pairing<VThis, VOther, VL, VR>,
    unjoined: fn(VThis) -> Unjoined<VL, VR>,
}

fn as_is<'a, A, B>(this: Option<&'a A>, other: Option<&'a B>) -> (Option<&'a A>, Option<&'a B>) {
    (this, other)
}

fn swapped<'a, A, B>(this: Option<&'a A>, other: Option<&'a B>) -> (Option<&'a B>, Option<&'a A>) {
    (other, this)
}

impl<VL, VR> Side<VL, VR, VL, VR> {
    pub(crate) fn left() -> Self {
        Self {
            side: JoinSide::Left,
            pair: as_is,
            unjoined: Unjoined::Left,
        }
    }
}

impl<VL, VR> Side<VR, VL, VL, VR> {
    pub(crate) fn right() -> Self {
        Self {
            side: JoinSide::Right,
            pair: swapped,
            unjoined: Unjoined::Right,
        }
    }
}

/// The store of unjoined records, shared by both sides of a left or outer join.
type UnjoinedStore<K, VL, VR> = KeyValueStore<UnjoinedKey<K>, Vec<Unjoined<VL, VR>>>;

/// What one side's join processor is given when the topology is built.
pub(crate) struct StreamJoinSpec<K, VThis> {
    pub(crate) windows: JoinWindows,
    /// Whether this side's records without a partner are emitted (left side of left and
    /// outer joins, right side of outer joins).
    pub(crate) outer: bool,
    pub(crate) this_store: String,
    pub(crate) other_store: String,
    pub(crate) unjoined_store: Option<String>,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<VThis>,
    pub(crate) clocks: Arc<JoinClocks>,
}

impl<K, VThis> Clone for StreamJoinSpec<K, VThis> {
    fn clone(&self) -> Self {
        Self {
            windows: self.windows,
            outer: self.outer,
            this_store: self.this_store.clone(),
            other_store: self.other_store.clone(),
            unjoined_store: self.unjoined_store.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            clocks: Arc::clone(&self.clocks),
        }
    }
}

/// One side of a stream-stream join (Kafka Streams' `KStreamKStreamJoin` processors): joins
/// each record with the other side's buffered records in its window, and, for left and outer
/// joins, keeps a record that found none until its window closes, then emits it alone.
///
/// The joiner takes `(key, left, right)` and returns `None` for no result; it is called with
/// both values for a match and with one for an unjoined record.
pub(crate) struct StreamJoin<K, VThis, VOther, VL, VR, J> {
    spec: StreamJoinSpec<K, VThis>,
    side: Side<VThis, VOther, VL, VR>,
    joiner: Arc<J>,
    /// How far this side's records look before and after themselves.
    before: i64,
    after: i64,
    other: Option<BufferState<K, VOther>>,
    /// The other side's records that a record joins (reused from record to record).
    partners: Vec<(i64, VOther)>,
    unjoined: Option<UnjoinedStore<K, VL, VR>>,
    clock: Option<(TaskId, Arc<JoinClock>)>,
}

impl<K, VThis, VOther, VL, VR, J> StreamJoin<K, VThis, VOther, VL, VR, J> {
    pub(crate) fn new(
        spec: StreamJoinSpec<K, VThis>,
        side: Side<VThis, VOther, VL, VR>,
        joiner: Arc<J>,
    ) -> Self {
        let (before, after) = match side.side {
            JoinSide::Left => (spec.windows.before_ms(), spec.windows.after_ms()),
            JoinSide::Right => (spec.windows.after_ms(), spec.windows.before_ms()),
        };
        Self {
            spec,
            side,
            joiner,
            before,
            after,
            other: None,
            partners: Vec::new(),
            unjoined: None,
            clock: None,
        }
    }
}

impl<K, VThis, VOther, VL, VR, VOut, J> StreamJoin<K, VThis, VOther, VL, VR, J>
where
    K: Clone + 'static,
    VThis: Clone + 'static,
    VOther: Clone + 'static,
    VL: Clone + 'static,
    VR: Clone + 'static,
    VOut: Clone + 'static,
    J: Fn(&K, Option<&VL>, Option<&VR>) -> Option<VOut> + 'static,
{
    fn clock(&self) -> Result<&JoinClock, ProcessorError> {
        self.clock
            .as_ref()
            .map(|(_, c)| &**c)
            .ok_or_else(|| ProcessorError::UnknownStore(self.spec.other_store.clone()))
    }

    fn forward(
        &self,
        key: &K,
        pair: (Option<&VL>, Option<&VR>),
        timestamp: i64,
        headers: &Headers,
        ctx: &mut ProcessorContext<'_, K, VOut>,
    ) -> Result<(), ProcessorError> {
        match (self.joiner)(key, pair.0, pair.1) {
            Some(value) => ctx.forward(Record {
                key: key.clone(),
                value,
                timestamp,
                headers: headers.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Whether an unjoined record of `side` at `time` can still find a partner.
    fn window_open(&self, side: JoinSide, time: i64, stream_time: i64) -> bool {
        let w = &self.spec.windows;
        // A left record waits for right records up to `after` later; a right one for left
        // records up to `before` later.
        let look_ahead = match side {
            JoinSide::Left => w.after_ms(),
            JoinSide::Right => w.before_ms(),
        };
        time.saturating_add(look_ahead).saturating_add(w.grace_ms()) >= stream_time
    }

    /// Emits, in time order, the unjoined records whose window has closed, and removes them.
    fn emit_unjoined(
        &self,
        stream_time: i64,
        headers: &Headers,
        ctx: &mut ProcessorContext<'_, K, VOut>,
    ) -> Result<(), ProcessorError> {
        let Some(store) = &self.unjoined else {
            return Ok(());
        };
        let clock = self.clock()?;
        let w = &self.spec.windows;
        let earliest = clock.earliest_unjoined.load(Ordering::Relaxed);
        let shortest = w.before_ms().min(w.after_ms());
        if earliest
            .saturating_add(shortest)
            .saturating_add(w.grace_ms())
            >= stream_time
        {
            return Ok(());
        }
        let (mut left_open, mut right_open) = (false, false);
        let mut still_waiting = i64::MAX;
        let mut due = Vec::new();
        store.scan_while(|key: UnjoinedKey<K>, values| {
            if left_open && right_open {
                return Ok::<_, ProcessorError>(false);
            }
            if self.window_open(key.side, key.time, stream_time) {
                match key.side {
                    JoinSide::Left => left_open = true,
                    JoinSide::Right => right_open = true,
                }
                still_waiting = still_waiting.min(key.time);
            } else {
                due.push((key, values));
            }
            Ok(true)
        })?;
        clock
            .earliest_unjoined
            .store(still_waiting, Ordering::Relaxed);
        for (key, values) in due {
            store.put_at(&key, None, key.time)?;
            for value in &values {
                let pair = match value {
                    Unjoined::Left(l) => (Some(l), None),
                    Unjoined::Right(r) => (None, Some(r)),
                };
                self.forward(&key.key, pair, key.time, headers, ctx)?;
            }
        }
        Ok(())
    }

    /// Joins `r` with each of its partners, in order; without any, an outer side's record
    /// waits for one until its window (ending at `to`) closes.
    fn join_partners(
        &self,
        r: Record<K, VThis>,
        partners: &[(i64, VOther)],
        to: i64,
        stream_time: i64,
        ctx: &mut ProcessorContext<'_, K, VOut>,
    ) -> Result<(), ProcessorError> {
        let time = r.timestamp;
        let Some(((last_partner_time, last_partner), others)) = partners.split_last() else {
            return self.without_partner(r, to, stream_time, ctx);
        };
        let mut previous_time = None;
        for (other_time, value) in others {
            self.stop_waiting(&r.key, *other_time, &mut previous_time)?;
            let pair = (self.side.pair)(Some(&r.value), Some(value));
            self.forward(&r.key, pair, time.max(*other_time), &r.headers, ctx)?;
        }
        self.stop_waiting(&r.key, *last_partner_time, &mut previous_time)?;
        // The last result takes the record's key and headers: no copy of them.
        let Record {
            key,
            value,
            headers,
            ..
        } = r;
        let pair = (self.side.pair)(Some(&value), Some(last_partner));
        match (self.joiner)(&key, pair.0, pair.1) {
            Some(value) => ctx.forward(Record {
                key,
                value,
                timestamp: time.max(*last_partner_time),
                headers,
            }),
            None => Ok(()),
        }
    }

    /// A partner of `key` at `other_time` has found a match: it is no longer waiting to be
    /// emitted alone (checked once per time: `previous_time` is the partner time before).
    fn stop_waiting(
        &self,
        key: &K,
        other_time: i64,
        previous_time: &mut Option<i64>,
    ) -> Result<(), ProcessorError> {
        let seen = previous_time.replace(other_time) == Some(other_time);
        let Some(store) = self.unjoined.as_ref().filter(|_| !seen) else {
            return Ok(());
        };
        let waiting = UnjoinedKey {
            time: other_time,
            side: match self.side.side {
                JoinSide::Left => JoinSide::Right,
                JoinSide::Right => JoinSide::Left,
            },
            key: key.clone(),
        };
        if store.get(&waiting)?.is_some() {
            store.put_at(&waiting, None, other_time)?;
        }
        Ok(())
    }

    /// A record that found no partner: an outer side's is emitted alone once its window
    /// closes (now, if it closed already).
    fn without_partner(
        &self,
        r: Record<K, VThis>,
        to: i64,
        stream_time: i64,
        ctx: &mut ProcessorContext<'_, K, VOut>,
    ) -> Result<(), ProcessorError> {
        let time = r.timestamp;
        if self.spec.outer {
            if self.unjoined.is_none() || to < stream_time {
                // Its window closed already (it arrived out of order): nothing can join it.
                let pair = (self.side.pair)(Some(&r.value), None);
                self.forward(&r.key, pair, time, &r.headers, ctx)?;
            } else {
                self.wait_for_partner(r)?;
            }
        }
        Ok(())
    }

    /// Keeps `r` in the shared store until its window closes.
    fn wait_for_partner(&self, r: Record<K, VThis>) -> Result<(), ProcessorError> {
        let Some(store) = &self.unjoined else {
            return Ok(());
        };
        let key = UnjoinedKey {
            time: r.timestamp,
            side: self.side.side,
            key: r.key,
        };
        let mut values = store.get(&key)?.unwrap_or_default();
        values.push((self.side.unjoined)(r.value));
        store.put_at(&key, Some(&values), key.time)?;
        self.clock()?.waiting_since(key.time);
        Ok(())
    }
}

impl<K, VThis, VOther, VL, VR, VOut, J> Processor<K, VThis, K, VOut>
    for StreamJoin<K, VThis, VOther, VL, VR, J>
where
    K: Clone + 'static,
    VThis: Clone + 'static,
    VOther: Clone + 'static,
    VL: Clone + 'static,
    VR: Clone + 'static,
    VOut: Clone + 'static,
    J: Fn(&K, Option<&VL>, Option<&VR>) -> Option<VOut> + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VOut>) -> Result<(), ProcessorError> {
        let other = buffer_state(ctx, &self.spec.other_store)?;
        if let Some(name) = &self.spec.unjoined_store {
            self.unjoined = Some(ctx.key_value_store(name)?);
        }
        let task = ctx.task_id();
        let clock = self.spec.clocks.acquire(task);
        // After a restart, stream time starts where the restored buffers end (each side's
        // processor reads the other side's buffer; the clock takes the later of the two).
        clock.advance(other.1.borrow().observed_stream_time());
        self.other = Some(other);
        self.clock = Some((task, clock));
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, VThis>,
        ctx: &mut ProcessorContext<'_, K, VOut>,
    ) -> Result<(), ProcessorError> {
        let time = r.timestamp;
        let stream_time = self.clock()?.advance(time);
        let null_value = self.spec.value_serde.is_null(&r.value);
        if self.spec.key_serde.is_null(&r.key) || null_value {
            // Kafka Streams: an outer side passes a keyless record through alone; anything
            // else without a key or a value cannot join and is dropped.
            if self.spec.outer && !null_value {
                let pair = (self.side.pair)(Some(&r.value), None);
                return self.forward(&r.key, pair, time, &r.headers, ctx);
            }
            ctx.record_dropped(1);
            return Ok(());
        }
        if time == stream_time {
            self.emit_unjoined(stream_time, &r.headers, ctx)?;
        }
        let (other, hot) = self
            .other
            .as_ref()
            .ok_or_else(|| ProcessorError::UnknownStore(self.spec.other_store.clone()))?;
        let mut partners = std::mem::take(&mut self.partners);
        {
            let mut hot = hot.borrow_mut();
            // Records at or before the other side's stream time minus its retention are
            // expired (Kafka Streams hides them even where their segment is still kept).
            let from = time
                .saturating_sub(self.before)
                .max(0)
                .max(hot.visible_from());
            let to = time.saturating_add(self.after).max(0);
            hot.fetch(other, &r.key, from, to, &mut partners)?;
        }
        let to = time.saturating_add(self.after).max(0);
        let result = self.join_partners(r, &partners, to, stream_time, ctx);
        partners.clear();
        self.partners = partners;
        result
    }

    /// A watermark that a rule for quiet inputs raised past the join's stream time moves it
    /// there: the unjoined records whose windows that closes come out now, as they would
    /// when a record moved stream time so far.
    fn on_watermark(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, VOut>,
    ) -> Result<(), ProcessorError> {
        let watermark = ctx.watermark();
        let clock = self.clock()?;
        if watermark <= clock.stream_time.load(Ordering::Relaxed) {
            return Ok(());
        }
        let stream_time = clock.advance(watermark);
        self.emit_unjoined(stream_time, &Headers::default(), ctx)
    }

    fn close(&mut self) {
        if let Some((task, _)) = self.clock.take() {
            self.spec.clocks.release(task);
        }
    }
}
