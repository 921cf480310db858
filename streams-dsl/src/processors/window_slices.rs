//! Hopping windows by slices: an emit-on-close aggregation whose aggregates can be merged
//! folds each record once, into its slice (a stretch of time as wide as the greatest common
//! divisor of the window size and advance, so that every window is a run of whole slices),
//! and a window's result is its slices merged when it closes. A record of a 10 s window that
//! hops by 1 s costs one fold instead of ten.
//!
//! What the window store (and its changelog) holds stays per window: a closed window is
//! written with its final result when it is emitted, and each commit writes the open windows
//! that changed since the last one, merged from their slices, so that queries and a restart
//! from the changelog see the windows as the per-window path writes them. The slices
//! themselves live only in memory. Windows starting at or before the `frontier` are not
//! sliced: after a restart those are the windows the store may already hold part of (their
//! records before the restart are in no slice), and when the slices outgrow the cache budget
//! the aggregation moves the windows they hold to its per-window state and raises the
//! frontier past them.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use state_stores::WindowWrite;
use streams_core::{CacheBudget, StateError, ValueAndTimestamp, WindowStore};

use super::hot_windows::HotWindows;
use crate::TimeWindows;

/// Merges two aggregates of the same key and window: the earlier slice's, then the later's.
pub(crate) type Merge<VA> = dyn Fn(VA, VA) -> VA + Send + Sync;

/// Hashes a key id by one multiplication (ids are small dense numbers).
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A key's number here.
type SliceKeyId = usize;

/// A key's aggregate in one slice.
struct Part<VA> {
    id: SliceKeyId,
    /// `None` only while a fold runs on the value taken out.
    value: Option<VA>,
    timestamp: i64,
    /// Whether it changed since the last commit's write of the open windows.
    dirty: bool,
}

/// The aggregates of one slice, with where each key's is.
struct Slice<VA> {
    parts: Vec<Part<VA>>,
    at: HashMap<SliceKeyId, usize, BuildHasherDefault<IdHasher>>,
}

/// A key with parts in slices or closed windows.
struct SliceKey<K> {
    bytes: Vec<u8>,
    key: K,
    /// How many parts and closed windows name it.
    uses: usize,
}

/// A window's result for one key.
struct WindowResult<VA> {
    id: SliceKeyId,
    value: VA,
    timestamp: i64,
}

/// The windows of one start that closed and are not out yet, by key bytes.
struct ClosedWindows<VA> {
    results: Vec<WindowResult<VA>>,
    /// Whether a commit has written them to the store already.
    written: bool,
}

/// What a part costs against the cache budget: itself and its place in the slice's map.
fn part_cost<VA>() -> usize {
    std::mem::size_of::<Part<VA>>() + 16
}

/// What a closed window waiting for emission costs.
fn result_cost<VA>() -> usize {
    std::mem::size_of::<WindowResult<VA>>()
}

/// What a key costs: its bytes twice (the index's copy and its own) and its entries.
fn key_cost<K>(bytes: &[u8]) -> usize {
    2 * (bytes.len() + 16) + std::mem::size_of::<Option<SliceKey<K>>>() + 8 + 48
}

/// The first 8 bytes of `bytes`, big-endian, zero-padded: compares as the bytes do, but for
/// ties.
fn prefix(bytes: &[u8]) -> u64 {
    let mut head = [0u8; 8];
    let n = bytes.len().min(8);
    head[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(head)
}

fn gcd(a: i64, b: i64) -> i64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The slices of an emit-on-close hopping-window aggregation's task.
pub(crate) struct WindowSlices<K, VA> {
    size: i64,
    advance: i64,
    /// The width of a slice.
    width: i64,
    merge: Arc<Merge<VA>>,
    /// Key bytes to the key's number.
    index: HashMap<Vec<u8>, SliceKeyId>,
    keys: Vec<Option<SliceKey<K>>>,
    /// Each key's [`prefix`], beside the keys for quick sorting.
    prefixes: Vec<u64>,
    free: Vec<SliceKeyId>,
    /// By slice start.
    slices: BTreeMap<i64, Slice<VA>>,
    /// Windows starting at or before it are not sliced.
    frontier: i64,
    /// The start of the last window whose result is computed: later windows are open.
    closed_through: i64,
    /// Closed windows not out yet, by start.
    closed: BTreeMap<i64, ClosedWindows<VA>>,
    budget: CacheBudget,
    /// The bytes held against `budget`.
    held: usize,
    /// Reused buffers: a key's bytes, encoded values, a window's results by key number and
    /// the keys it has.
    key_buf: Vec<u8>,
    arena: Vec<u8>,
    merged: Vec<Option<(VA, i64, bool)>>,
    touched: Vec<SliceKeyId>,
}

impl<K: Clone, VA: Clone> WindowSlices<K, VA> {
    /// Whether `windows` gain from slices: hopping windows (a window is more than one
    /// slice).
    pub(crate) fn fit(windows: &TimeWindows) -> bool {
        windows.advance() < windows.size()
    }

    /// No slices yet for `windows`, merged by `merge`, drawing on `budget`; windows starting
    /// at or before `frontier` are left to the per-window state.
    pub(crate) fn new(
        windows: &TimeWindows,
        merge: Arc<Merge<VA>>,
        budget: CacheBudget,
        frontier: i64,
    ) -> Self {
        let (size, advance) = (windows.size(), windows.advance());
        Self {
            size,
            advance,
            width: gcd(size, advance).max(1),
            merge,
            index: HashMap::new(),
            keys: Vec::new(),
            prefixes: Vec::new(),
            free: Vec::new(),
            slices: BTreeMap::new(),
            frontier,
            closed_through: i64::MIN,
            closed: BTreeMap::new(),
            budget,
            held: 0,
            key_buf: Vec::new(),
            arena: Vec::new(),
            merged: Vec::new(),
            touched: Vec::new(),
        }
    }

    /// Windows starting at or before it are left to the per-window state.
    pub(crate) fn frontier(&self) -> i64 {
        self.frontier
    }

    /// Whether the cache budget (shared with the per-window state) is exceeded.
    pub(crate) fn over_budget(&self) -> bool {
        self.budget.over()
    }

    /// Whether the window starting at `start` is sliced (not left to the per-window state).
    pub(crate) fn holds(&self, start: i64) -> bool {
        start > self.frontier
    }

    /// The start of the first window after `start` (starts are multiples of the advance).
    fn next_start(&self, start: i64) -> i64 {
        start
            .div_euclid(self.advance)
            .saturating_add(1)
            .saturating_mul(self.advance)
    }

    /// The start of the first sliced window not closed yet (window starts are not negative).
    fn first_open_start(&self) -> i64 {
        self.next_start(self.closed_through.max(self.frontier))
            .max(0)
    }

    /// The start of the first window that holds the slice starting at `slice`.
    fn first_window_of(&self, slice: i64) -> i64 {
        self.next_start(slice - self.size).max(0)
    }

    fn charge(&mut self, bytes: usize) {
        self.held += bytes;
        self.budget.add(bytes);
    }

    fn refund(&mut self, bytes: usize) {
        self.held -= bytes;
        self.budget.remove(bytes);
    }

    fn key_id(
        &mut self,
        store: &WindowStore<K, ValueAndTimestamp<VA>>,
        key: &K,
    ) -> Result<SliceKeyId, StateError> {
        store.key_bytes_into(key, &mut self.key_buf)?;
        if let Some(&id) = self.index.get(self.key_buf.as_slice()) {
            return Ok(id);
        }
        let bytes = self.key_buf.clone();
        self.charge(key_cost::<K>(&bytes));
        let entry = SliceKey {
            bytes: bytes.clone(),
            key: key.clone(),
            uses: 0,
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.keys[id] = Some(entry);
                self.prefixes[id] = prefix(&bytes);
                id
            }
            None => {
                self.keys.push(Some(entry));
                self.prefixes.push(prefix(&bytes));
                self.keys.len() - 1
            }
        };
        self.index.insert(bytes, id);
        Ok(id)
    }

    fn entry(&mut self, id: SliceKeyId) -> &mut SliceKey<K> {
        self.keys[id]
            .as_mut()
            .expect("a key number names a live key while parts or windows use it")
    }

    /// Counts one use less of key `id`, dropping it at none.
    fn unuse(&mut self, id: SliceKeyId) {
        let entry = self.entry(id);
        entry.uses -= 1;
        if entry.uses == 0 {
            if let Some(entry) = self.keys[id].take() {
                self.index.remove(&entry.bytes);
                self.free.push(id);
                self.refund(key_cost::<K>(&entry.bytes));
            }
        }
    }

    /// Folds the record `(key, value)` at `timestamp` into its slice with `fold`; call only
    /// for a record with an open sliced window.
    pub(crate) fn add<V>(
        &mut self,
        store: &WindowStore<K, ValueAndTimestamp<VA>>,
        key: &K,
        value: V,
        timestamp: i64,
        fold: impl Fn(&K, V, Option<VA>) -> VA,
    ) -> Result<(), StateError> {
        let id = self.key_id(store, key)?;
        let start = timestamp.div_euclid(self.width) * self.width;
        let slice = self.slices.entry(start).or_insert_with(|| Slice {
            parts: Vec::new(),
            at: HashMap::default(),
        });
        if let Some(&i) = slice.at.get(&id) {
            let part = &mut slice.parts[i];
            part.value = Some(fold(key, value, part.value.take()));
            part.timestamp = part.timestamp.max(timestamp);
            part.dirty = true;
            return Ok(());
        }
        slice.at.insert(id, slice.parts.len());
        slice.parts.push(Part {
            id,
            value: Some(fold(key, value, None)),
            timestamp,
            dirty: true,
        });
        self.entry(id).uses += 1;
        self.charge(part_cost::<VA>());
        Ok(())
    }

    /// Merges the slices of the window starting at `start` into `self.touched` (the keys it
    /// has, by key bytes) and `self.merged` (by key number: the key's result and whether a
    /// part of it changed since the last commit).
    fn merge_window(&mut self, start: i64) {
        self.touched.clear();
        if self.merged.len() < self.keys.len() {
            self.merged.resize_with(self.keys.len(), || None);
        }
        let end = start.saturating_add(self.size);
        for slice in self.slices.range(start..end).map(|(_, slice)| slice) {
            for part in &slice.parts {
                let Some(value) = part.value.as_ref() else {
                    continue;
                };
                let at = &mut self.merged[part.id];
                *at = Some(match at.take() {
                    None => {
                        self.touched.push(part.id);
                        (value.clone(), part.timestamp, part.dirty)
                    }
                    Some((merged, timestamp, dirty)) => (
                        (self.merge)(merged, value.clone()),
                        timestamp.max(part.timestamp),
                        dirty || part.dirty,
                    ),
                });
            }
        }
        // Kafka Streams' order within a start: by key bytes.
        let (prefixes, keys) = (&self.prefixes, &self.keys);
        let bytes = |id: SliceKeyId| keys[id].as_ref().map_or(&[][..], |k| &k.bytes);
        self.touched.sort_unstable_by(|&a, &b| {
            prefixes[a]
                .cmp(&prefixes[b])
                .then_with(|| bytes(a).cmp(bytes(b)))
        });
    }

    /// The results merged by [`merge_window`](Self::merge_window), taken out, in its order;
    /// with `changed_only`, only those with a part changed since the last commit.
    fn take_results(&mut self, changed_only: bool) -> Vec<WindowResult<VA>> {
        let mut results = Vec::with_capacity(self.touched.len());
        for &id in &self.touched {
            let Some((value, timestamp, dirty)) = self.merged[id].take() else {
                continue;
            };
            if dirty || !changed_only {
                results.push(WindowResult {
                    id,
                    value,
                    timestamp,
                });
            }
        }
        results
    }

    /// Computes the result of every sliced window that `last_closed` (the start of the last
    /// closed window) closes, to be emitted, and drops the slices that no open window holds.
    /// Call before a record is folded in: a record too late for a closed window is then in
    /// none of its results.
    pub(crate) fn close_through(&mut self, last_closed: i64) {
        if last_closed <= self.closed_through {
            return;
        }
        let mut start = self.first_open_start();
        while start <= last_closed {
            let Some((&first, _)) = self.slices.range(start..).next() else {
                break;
            };
            if first >= start.saturating_add(self.size) {
                // No slice in this window: on to the first window of the next slice.
                start = self.first_window_of(first).max(self.next_start(start));
                continue;
            }
            self.merge_window(start);
            let results = self.take_results(false);
            if !results.is_empty() {
                for r in &results {
                    self.entry(r.id).uses += 1;
                }
                self.charge(results.len() * result_cost::<VA>());
                self.closed.insert(
                    start,
                    ClosedWindows {
                        results,
                        written: false,
                    },
                );
            }
            start = self.next_start(start);
        }
        self.closed_through = last_closed;
        let first_open = self.next_start(last_closed.max(self.frontier));
        self.drop_slices_before(first_open);
    }

    /// Drops the slices starting before `start`.
    fn drop_slices_before(&mut self, start: i64) {
        while let Some(entry) = self.slices.first_entry() {
            if *entry.key() >= start {
                break;
            }
            let slice = entry.remove();
            self.refund(slice.parts.len() * part_cost::<VA>());
            for part in slice.parts {
                self.unuse(part.id);
            }
        }
    }

    /// Hands to `emit`, in window order (start, then key bytes), the result of every closed
    /// sliced window starting at `to` or before, and writes them to the store, one batch
    /// per start.
    pub(crate) fn emit_closed<E: From<StateError>>(
        &mut self,
        store: &WindowStore<K, ValueAndTimestamp<VA>>,
        to: i64,
        mut emit: impl FnMut(K, i64, ValueAndTimestamp<VA>) -> Result<(), E>,
    ) -> Result<(), E> {
        while let Some(entry) = self.closed.first_entry() {
            let start = *entry.key();
            if start > to {
                break;
            }
            let closed = entry.remove();
            if !closed.written {
                self.write(store, start, &closed.results)?;
            }
            self.refund(closed.results.len() * result_cost::<VA>());
            for r in closed.results {
                let key = self.entry(r.id).key.clone();
                self.unuse(r.id);
                emit(key, start, ValueAndTimestamp::new(r.value, r.timestamp))?;
            }
        }
        Ok(())
    }

    /// Writes `results` of the windows starting at `start` to the store in one batch.
    fn write(
        &mut self,
        store: &WindowStore<K, ValueAndTimestamp<VA>>,
        start: i64,
        results: &[WindowResult<VA>],
    ) -> Result<(), StateError> {
        self.arena.clear();
        let mut ranges = Vec::with_capacity(results.len());
        for r in results {
            let at = self.arena.len();
            // The store's encoding of the value with its timestamp, as the per-window path
            // writes it.
            let value = ValueAndTimestamp::new(r.value.clone(), r.timestamp);
            let present = store.value_bytes_onto(&value, &mut self.arena)?;
            if !present {
                self.arena.truncate(at);
            }
            ranges.push(present.then_some(at..self.arena.len()));
        }
        let writes: Vec<WindowWrite<'_>> = results
            .iter()
            .zip(ranges)
            .map(|(r, range)| WindowWrite {
                key: self.keys[r.id]
                    .as_ref()
                    .map_or(&[][..], |k| k.bytes.as_slice()),
                start,
                value: range.map(|range| &self.arena[range]),
            })
            .collect();
        store.write_behind(&writes)?;
        Ok(())
    }

    /// Writes to the store what a commit must cover: the closed windows not out yet, and the
    /// open sliced windows that changed since the last commit.
    pub(crate) fn flush(
        &mut self,
        store: &WindowStore<K, ValueAndTimestamp<VA>>,
    ) -> Result<(), StateError> {
        let mut closed = std::mem::take(&mut self.closed);
        for (&start, windows) in closed.iter_mut().filter(|(_, w)| !w.written) {
            self.write(store, start, &windows.results)?;
            windows.written = true;
        }
        self.closed = closed;
        let Some((&last, _)) = self.slices.last_key_value() else {
            return Ok(());
        };
        let mut start = self.first_open_start();
        while start <= last {
            let Some((&first, _)) = self.slices.range(start..).next() else {
                break;
            };
            if first >= start.saturating_add(self.size) {
                start = self.first_window_of(first).max(self.next_start(start));
                continue;
            }
            self.merge_window(start);
            let results = self.take_results(true);
            if !results.is_empty() {
                self.write(store, start, &results)?;
            }
            start = self.next_start(start);
        }
        for slice in self.slices.values_mut() {
            for part in &mut slice.parts {
                part.dirty = false;
            }
        }
        Ok(())
    }

    /// Whether the slices hold anything: windows to move to the per-window state when the
    /// budget runs out.
    pub(crate) fn is_empty(&self) -> bool {
        self.slices.is_empty() && self.closed.is_empty()
    }

    /// Moves every sliced window (closed ones not out yet, and open ones) to `hot`, the
    /// per-window state, and raises the frontier past them: what the aggregation does when
    /// the cache budget runs out, so that `hot` can spill windows to the store.
    pub(crate) fn move_to(
        &mut self,
        hot: &mut HotWindows<K, ValueAndTimestamp<VA>>,
        store: &WindowStore<K, ValueAndTimestamp<VA>>,
    ) -> Result<(), StateError> {
        let closed = std::mem::take(&mut self.closed);
        for (start, windows) in closed {
            self.refund(windows.results.len() * result_cost::<VA>());
            for r in windows.results {
                self.put_hot(hot, store, r, start)?;
            }
        }
        let Some((&last, _)) = self.slices.last_key_value() else {
            return Ok(());
        };
        let last_window = last.div_euclid(self.advance) * self.advance;
        let mut start = self.first_open_start();
        while start <= last_window {
            let Some((&first, _)) = self.slices.range(start..).next() else {
                break;
            };
            if first >= start.saturating_add(self.size) {
                start = self.first_window_of(first).max(self.next_start(start));
                continue;
            }
            self.merge_window(start);
            for r in self.take_results(false) {
                self.entry(r.id).uses += 1;
                self.put_hot(hot, store, r, start)?;
            }
            start = self.next_start(start);
        }
        self.frontier = self.frontier.max(last_window);
        self.drop_slices_before(self.next_start(self.frontier.max(self.closed_through)));
        Ok(())
    }

    /// Puts the result `r` of the window at `start` into `hot`, as written there.
    fn put_hot(
        &mut self,
        hot: &mut HotWindows<K, ValueAndTimestamp<VA>>,
        store: &WindowStore<K, ValueAndTimestamp<VA>>,
        r: WindowResult<VA>,
        start: i64,
    ) -> Result<(), StateError> {
        let key = self.entry(r.id).key.clone();
        self.unuse(r.id);
        let id = hot.key_id(store, &key)?;
        *hot.value_for_write(id, start, store)? =
            Some(ValueAndTimestamp::new(r.value, r.timestamp));
        Ok(())
    }
}

impl<K, VA> Drop for WindowSlices<K, VA> {
    fn drop(&mut self) {
        self.budget.remove(self.held);
    }
}
