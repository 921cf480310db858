//! The hot part of one side's buffer in a stream-stream join: the side's recent records as
//! typed values in memory, a time-ordered queue per key (duplicates kept, in arrival order
//! within a time), found by key through a hash table ([`KeyIndex`]), with one time-ordered
//! index of all records for expiry by stream time and for spilling the oldest first. A
//! key's expired records leave its queue when the key is next used (or when the budget is
//! short), so that expiry touches no key.
//!
//! The window store (a list of values per key and time) stays the durable copy: records are
//! written behind to it, and to its changelog from the same pass, in one batch per commit
//! ([`write_behind`](HotJoinBuffer::write_behind)); a record that has expired by then (older
//! than stream time minus the retention) is not written, as no lookup can see it again,
//! here or after a restore. The store is read only for what is not hot: after a restart
//! (the records up to the restored stream time) and what was spilled to keep within the
//! cache budget. Both cases are one rule: every record at or after `hot_from` is here,
//! every earlier one only in the store.
//!
//! A join's buffer is written by its side's buffering processor and read by the other
//! side's join processor; both find it beside the store ([`WindowStore::companion`]).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ops::Range;
use std::rc::Rc;

use state_stores::WindowWrite;
use streams_core::{CacheBudget, ProcessorError, StateError, WindowStore};

use streams_core::state::key_index::{KeyBytes, KeyIndex};

use super::key_queue::{HotRecord, KeyQueue};

/// Where a key's records are in the buffer.
type KeyId = usize;

/// The hot records of one key, by time (arrival order within a time), beside the key's
/// bytes: a lookup compares the bytes and finds the queue, and a single record, in one
/// cache line.
#[repr(align(64))]
struct KeyRecords<V> {
    bytes: KeyBytes,
    records: KeyQueue<V>,
}

/// What a key costs besides its records: its slot, its bytes if not inline, and its share
/// of the index (two 8-byte slots at most).
fn key_cost<V>(bytes: &KeyBytes) -> usize {
    std::mem::size_of::<Option<KeyRecords<V>>>() + bytes.heap_bytes() + 16
}

/// What a record costs in its key's queue (heap data that the value owns is not counted,
/// as with the record cache, nor the queues' spare capacity).
fn record_cost<V>() -> usize {
    std::mem::size_of::<HotRecord<V>>()
}

/// What a record costs in the time index.
const TIME_SLOT_COST: usize = std::mem::size_of::<(i64, KeyId)>();

/// The typed, time-ordered buffer of one side of a stream-stream join, in front of its
/// window store, within the store's cache budget.
pub(crate) struct HotJoinBuffer<V> {
    /// Key bytes to the key's place in `keys`.
    index: KeyIndex,
    keys: Vec<Option<KeyRecords<V>>>,
    /// Places in `keys` free for reuse.
    free: Vec<KeyId>,
    /// Every live hot record's time and key, by time (arrival order within a time).
    /// Expiry pops it without touching the keys: a key's queue drops its expired records
    /// when the key is next used, or when the budget is short ([`sweep`](Self::sweep)).
    by_time: VecDeque<(i64, KeyId)>,
    /// What this buffer held after its last sweep.
    held_after_sweep: usize,
    /// The records put since the last write-behind, as (time, key).
    dirty: Vec<(i64, KeyId)>,
    /// The latest record time put (the store's stream time as the buffer sees it).
    observed: i64,
    retention: i64,
    /// Every record at or after this time is hot; earlier ones are only in the store.
    hot_from: i64,
    budget: CacheBudget,
    /// The bytes this buffer holds against `budget`.
    held: usize,
    /// Reused buffers: a key's bytes (and their inline copy, for short keys), encoded
    /// lists and their spans, a list of values.
    key_buf: Vec<u8>,
    key_inline: Option<KeyBytes>,
    arena: Vec<u8>,
    spans: Vec<Range<usize>>,
    list: Vec<V>,
}

impl<V: Clone + 'static> HotJoinBuffer<V> {
    /// The buffer of `store` shared by the processors of its task: made by the first to
    /// ask, drawing on the store's cache budget.
    pub(crate) fn shared<K: 'static>(
        store: &WindowStore<K, Vec<V>>,
    ) -> Result<Rc<RefCell<Self>>, ProcessorError> {
        store
            .companion(|| RefCell::new(Self::new(store)))
            .ok_or_else(|| ProcessorError::UnknownStore(store.name().to_owned()))
    }

    /// An empty buffer in front of `store`, which holds everything up to its stream time
    /// (after a restore or a restart on local state).
    fn new<K>(store: &WindowStore<K, Vec<V>>) -> Self {
        let observed = store.observed_stream_time();
        Self {
            index: KeyIndex::new(),
            keys: Vec::new(),
            free: Vec::new(),
            held_after_sweep: 0,
            by_time: VecDeque::new(),
            dirty: Vec::new(),
            observed,
            retention: store.retention(),
            hot_from: observed.saturating_add(1),
            budget: store.cache_budget().unwrap_or_else(|| CacheBudget::new(0)),
            held: 0,
            key_buf: Vec::new(),
            key_inline: None,
            arena: Vec::new(),
            spans: Vec::new(),
            list: Vec::new(),
        }
    }

    /// The latest record time put, here or in the store.
    pub(crate) fn observed_stream_time(&self) -> i64 {
        self.observed
    }

    /// The earliest time a lookup can see: older records have expired (the store keeps
    /// records at stream time minus the retention, but Kafka Streams' joins hide them).
    pub(crate) fn visible_from(&self) -> i64 {
        self.observed
            .saturating_sub(self.retention)
            .saturating_add(1)
    }

    /// Records before this time have expired by the store's rule: no lookup can see them,
    /// and the store would drop them.
    fn live_from(&self) -> i64 {
        self.observed.saturating_sub(self.retention)
    }

    fn charge(&mut self, bytes: usize) {
        self.held += bytes;
        self.budget.add(bytes);
    }

    fn refund(&mut self, bytes: usize) {
        self.held -= bytes;
        self.budget.remove(bytes);
    }

    /// Buffers `value` of `key` at `time`; `false` if it is too old for the store's
    /// retention (dropped, as the store drops an expired put).
    pub(crate) fn put<K>(
        &mut self,
        store: &WindowStore<K, Vec<V>>,
        key: &K,
        time: i64,
        value: V,
    ) -> Result<bool, StateError> {
        self.observed = self.observed.max(time);
        if time < self.live_from() {
            return Ok(false);
        }
        self.expire();
        self.load_key(store, key)?;
        if time < self.hot_from {
            return self.put_stored(store, time, value);
        }
        let id = self.key_id();
        let live = self.live_from();
        let trimmed = {
            let records = &mut self.entry(id).records;
            let trimmed = records.trim(live);
            records.insert(HotRecord { time, value });
            trimmed
        };
        self.refund(trimmed * record_cost::<V>());
        if self.by_time.back().is_none_or(|&(t, _)| t <= time) {
            self.by_time.push_back((time, id));
        } else {
            let at = self.by_time.partition_point(|&(t, _)| t <= time);
            self.by_time.insert(at, (time, id));
        }
        self.charge(record_cost::<V>() + TIME_SLOT_COST);
        self.dirty.push((time, id));
        if self.dirty.len() > 64 && self.dirty.len() > 2 * self.by_time.len() {
            // Most records put since the last write-behind have expired: forget them now,
            // so that the list stays about as long as the buffer.
            let live = self.live_from();
            self.dirty.retain(|&(t, _)| t >= live);
        }
        if self.budget.over() {
            self.spill(store)?;
        }
        Ok(true)
    }

    /// Appends `value` to the store's list at `time` for the key in `key_buf`: a time
    /// before the hot part, whose records only the store holds.
    fn put_stored<K>(
        &mut self,
        store: &WindowStore<K, Vec<V>>,
        time: i64,
        value: V,
    ) -> Result<bool, StateError> {
        let mut list = store.fetch_stored(&self.key_buf, time)?.unwrap_or_default();
        list.push(value);
        self.arena.clear();
        store.value_bytes_onto(&list, &mut self.arena)?;
        let retained = store.write_behind(&[WindowWrite {
            key: &self.key_buf,
            start: time,
            value: Some(&self.arena),
        }])?;
        Ok(retained.first().copied().unwrap_or(false))
    }

    fn entry(&mut self, id: KeyId) -> &mut KeyRecords<V> {
        self.keys[id]
            .as_mut()
            .expect("a key id names a live key until it is swept")
    }

    /// Reads the bytes of `key` into `key_buf` (and `key_inline`).
    fn load_key<K>(&mut self, store: &WindowStore<K, Vec<V>>, key: &K) -> Result<(), StateError> {
        store.key_bytes_into(key, &mut self.key_buf)?;
        self.key_inline = KeyBytes::inline(&self.key_buf);
        Ok(())
    }

    /// The place of the key in `key_buf`, if it has one.
    fn find_key(&self) -> Option<KeyId> {
        let (keys, key, inline) = (
            &self.keys,
            self.key_buf.as_slice(),
            self.key_inline.as_ref(),
        );
        self.index.find(self.index.hash(key), |id| {
            keys[id]
                .as_ref()
                .is_some_and(|e| e.bytes.matches(key, inline))
        })
    }

    /// The place of the key in `key_buf`, entered if new.
    fn key_id(&mut self) -> KeyId {
        if let Some(id) = self.find_key() {
            return id;
        }
        let bytes = KeyBytes::new(&self.key_buf);
        self.charge(key_cost::<V>(&bytes));
        let entry = KeyRecords {
            bytes,
            records: KeyQueue::default(),
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.keys[id] = Some(entry);
                id
            }
            None => {
                self.keys.push(Some(entry));
                self.keys.len() - 1
            }
        };
        self.index.insert(self.index.hash(&self.key_buf), id);
        id
    }

    /// Drops the expired records from the time index, oldest first.
    fn expire(&mut self) {
        let live = self.live_from();
        while self.by_time.front().is_some_and(|&(t, _)| t < live) {
            self.by_time.pop_front();
            self.refund(TIME_SLOT_COST);
        }
    }

    /// Writes every record put since the last write-behind (and not expired) to the store
    /// and its changelog, in one batch: per key and time, the list of all its records, in
    /// the order of time, then key bytes.
    pub(crate) fn write_behind<K>(
        &mut self,
        store: &WindowStore<K, Vec<V>>,
    ) -> Result<(), StateError> {
        let live = self.live_from();
        let Self {
            keys,
            dirty,
            arena,
            spans,
            list,
            ..
        } = self;
        dirty.retain(|&(t, _)| t >= live);
        if dirty.is_empty() {
            return Ok(());
        }
        let bytes_of = |id: KeyId| keys[id].as_ref().map_or(&[][..], |e| e.bytes.as_slice());
        dirty.sort_unstable_by(|a, b| (a.0, bytes_of(a.1)).cmp(&(b.0, bytes_of(b.1))));
        dirty.dedup();
        arena.clear();
        spans.clear();
        for &(time, id) in dirty.iter() {
            let records = keys[id].as_ref().map(|e| &e.records);
            list.clear();
            if let Some(records) = records {
                list.extend(
                    records
                        .since(time)
                        .take_while(|r| r.time == time)
                        .map(|r| r.value.clone()),
                );
            }
            let begin = arena.len();
            store.value_bytes_onto(list, arena)?;
            spans.push(begin..arena.len());
        }
        list.clear();
        let writes: Vec<WindowWrite<'_>> = dirty
            .iter()
            .zip(spans.iter())
            .map(|(&(time, id), span)| WindowWrite {
                key: bytes_of(id),
                start: time,
                value: Some(&arena[span.clone()]),
            })
            .collect();
        store.write_behind(&writes)?;
        dirty.clear();
        Ok(())
    }

    /// While the cache budget is exceeded: writes behind, drops keys without live records
    /// (unless that was done since this buffer last grew by a sixteenth of the budget: it
    /// visits every key), then drops the oldest times whole, so that everything from
    /// `hot_from` on stays hot.
    fn spill<K>(&mut self, store: &WindowStore<K, Vec<V>>) -> Result<(), StateError> {
        self.write_behind(store)?;
        if self.held > self.held_after_sweep + self.budget.limit() / 16 {
            self.sweep();
        }
        let live = self.live_from();
        while self.budget.over() {
            let Some(&(oldest, _)) = self.by_time.front() else {
                break;
            };
            while let Some((t, id)) = self.by_time.front().copied().filter(|&(t, _)| t == oldest) {
                self.by_time.pop_front();
                let mut dropped = 0;
                if let Some(entry) = self.keys[id].as_mut() {
                    dropped = entry.records.trim(live);
                    debug_assert_eq!(entry.records.front().map(|r| r.time), Some(t));
                    dropped += entry.records.pop_front().map_or(0, |_| 1);
                }
                self.refund(TIME_SLOT_COST + dropped * record_cost::<V>());
            }
            self.hot_from = oldest.saturating_add(1);
        }
        Ok(())
    }

    /// Drops the expired records of every key, and the keys left without records.
    fn sweep(&mut self) {
        let live = self.live_from();
        for id in 0..self.keys.len() {
            let Some(entry) = self.keys[id].as_mut() else {
                continue;
            };
            let trimmed = entry.records.trim(live);
            self.refund(trimmed * record_cost::<V>());
            let Some(entry) = self.keys[id].take_if(|e| e.records.is_empty()) else {
                continue;
            };
            self.index
                .remove(self.index.hash(entry.bytes.as_slice()), id);
            self.free.push(id);
            self.refund(key_cost::<V>(&entry.bytes));
        }
        self.held_after_sweep = self.held;
    }

    /// The records of `key` with a time in `[from, to]` into `out` (cleared first), by
    /// time, in arrival order within a time: the store's for times before the hot part,
    /// then the hot ones.
    pub(crate) fn fetch<K>(
        &mut self,
        store: &WindowStore<K, Vec<V>>,
        key: &K,
        from: i64,
        to: i64,
        out: &mut Vec<(i64, V)>,
    ) -> Result<(), StateError> {
        out.clear();
        if from > to {
            return Ok(());
        }
        if from < self.hot_from {
            let stored_to = to.min(self.hot_from.saturating_sub(1));
            for (time, values) in store.fetch_range(key, from, stored_to)? {
                out.extend(values.into_iter().map(|v| (time, v)));
            }
            if to < self.hot_from {
                return Ok(());
            }
        }
        self.load_key(store, key)?;
        let Some(id) = self.find_key() else {
            return Ok(());
        };
        let live = self.live_from();
        let Some(entry) = self.keys[id].as_mut() else {
            return Ok(());
        };
        let trimmed = entry.records.trim(live);
        let lowest = from.max(self.hot_from);
        out.extend(
            entry
                .records
                .since(lowest)
                .take_while(|r| r.time <= to)
                .map(|r| (r.time, r.value.clone())),
        );
        self.refund(trimmed * record_cost::<V>());
        Ok(())
    }
}

impl<V> Drop for HotJoinBuffer<V> {
    fn drop(&mut self) {
        self.budget.remove(self.held);
    }
}
