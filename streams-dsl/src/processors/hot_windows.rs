//! The hot-window state of a time-window aggregation: its open windows as typed values in
//! memory, found by key through a hash table and by time through an index of window starts,
//! written behind to the window store in batches: one per closing start, one per commit for
//! the rest.
//!
//! The record cache that it replaces keeps windows as byte keys in ordered trees and writes
//! them one at a time; here a record costs one hash lookup for its key (serialized into a
//! reused buffer) and a short search among that key's windows, and closing, expiry and
//! spilling visit only the windows of the starts they concern. The window store stays the
//! durable copy: a window missing here is read from it, unless it starts past the latest
//! start the store holds (the usual case, a new window at the frontier), and restoration
//! fills the store as before.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ops::Range;

use state_stores::WindowWrite;
use streams_core::{CacheBudget, StateError, WindowStore};

/// Where a key's windows are in the hot state.
pub(crate) type KeyId = usize;

/// What a window costs against the cache budget besides its slot in its key's deque (which
/// is charged as the deque grows): its entry in the index of starts, with slack. Heap data
/// that the value owns is not counted (as with the record cache).
fn window_cost() -> usize {
    std::mem::size_of::<KeyId>() + 8
}

/// What a key costs besides its deque of windows: its bytes twice (the hash table's copy and
/// the key's, each a heap block), its entry and the hash table's share.
fn key_cost<K, V>(bytes: &[u8]) -> usize {
    2 * (bytes.len() + 16) + std::mem::size_of::<Option<KeyWindows<K, V>>>() + 48
}

/// What `windows` slots of a key's deque cost.
fn slots_cost<V>(windows: usize) -> usize {
    windows * std::mem::size_of::<HotWindow<V>>()
}

/// One window of a key.
struct HotWindow<V> {
    start: i64,
    /// `None` for a window that a write has not filled yet (its fold runs on the value
    /// taken out, not on a copy).
    value: Option<V>,
    /// What the store holds, kept only when flushes report changes: their old value. Boxed,
    /// so that windows that need none stay small (a key's windows are one deque).
    stored: Option<Box<V>>,
    /// The number of the window's last write since it was last written behind; 0 when the
    /// store holds what the window holds.
    written: u64,
}

/// The hot windows of one key.
struct KeyWindows<K, V> {
    bytes: Vec<u8>,
    key: K,
    /// By ascending start: new windows come at the back and old ones leave at the front,
    /// so neither moves the others.
    windows: VecDeque<HotWindow<V>>,
}

/// A window that a write-behind writes: its key, start, and its encoded value in the
/// arena (`None`: a delete).
struct Dirty {
    written: u64,
    id: KeyId,
    start: i64,
    bytes: Option<Range<usize>>,
}

/// The open windows of a time-window aggregation's task, typed, bounded by the cache budget.
pub(crate) struct HotWindows<K, V> {
    /// Key bytes to the key's place in `keys`.
    index: HashMap<Vec<u8>, KeyId>,
    keys: Vec<Option<KeyWindows<K, V>>>,
    /// Places in `keys` free for reuse.
    free: Vec<KeyId>,
    /// Window start to the keys with a hot window there, in the order they came.
    by_start: BTreeMap<i64, Vec<KeyId>>,
    budget: CacheBudget,
    /// The bytes this state holds against `budget`.
    held: usize,
    /// Whether write-behinds report each change (the old value kept for it).
    reporting: bool,
    /// The number of the last write.
    writes: u64,
    /// The latest window start seen, which the store learns only at the write-behind.
    observed: i64,
    /// Reused buffers: a key's bytes, and the encoded values of a write-behind.
    key_buf: Vec<u8>,
    arena: Vec<u8>,
    dirty: Vec<Dirty>,
    /// On close: the start of the last window whose final result is out (`None`: emission
    /// on update, nothing tracked).
    emitted_through: Option<i64>,
    /// On close: windows written to the store and dropped here before their final result
    /// was out, by start then key bytes. Not counted against the budget: the spill that
    /// puts them here is what keeps the state within it.
    spilled: BTreeMap<(i64, Vec<u8>), K>,
}

impl<K: Clone, V: Clone> HotWindows<K, V> {
    /// An empty state drawing on `budget`; with `reporting`, write-behinds report each
    /// change with its old value.
    pub(crate) fn new(budget: CacheBudget, reporting: bool) -> Self {
        Self {
            index: HashMap::new(),
            keys: Vec::new(),
            free: Vec::new(),
            by_start: BTreeMap::new(),
            budget,
            held: 0,
            reporting,
            writes: 0,
            observed: i64::MIN,
            key_buf: Vec::new(),
            arena: Vec::new(),
            dirty: Vec::new(),
            emitted_through: None,
            spilled: BTreeMap::new(),
        }
    }

    /// Tracks final results for emission on close, from the windows of `store` starting at
    /// `from` or later (after a restart: those that are not out yet).
    pub(crate) fn track_emission(
        &mut self,
        store: &WindowStore<K, V>,
        from: i64,
    ) -> Result<(), StateError> {
        self.emitted_through = Some(from.saturating_sub(1));
        for (key, start, _) in store.fetch_all(from, i64::MAX)? {
            self.spilled.insert((start, store.key_bytes(&key)?), key);
        }
        Ok(())
    }

    fn charge(&mut self, bytes: usize) {
        self.held += bytes;
        self.budget.add(bytes);
    }

    fn refund(&mut self, bytes: usize) {
        self.held -= bytes;
        self.budget.remove(bytes);
    }

    fn entry(&mut self, id: KeyId) -> &mut KeyWindows<K, V> {
        self.keys[id]
            .as_mut()
            .expect("a key id names a live key until it is released")
    }

    /// The place of `key`'s windows, entered if new.
    pub(crate) fn key_id(
        &mut self,
        store: &WindowStore<K, V>,
        key: &K,
    ) -> Result<KeyId, StateError> {
        store.key_bytes_into(key, &mut self.key_buf)?;
        if let Some(&id) = self.index.get(self.key_buf.as_slice()) {
            return Ok(id);
        }
        let bytes = self.key_buf.clone();
        self.charge(key_cost::<K, V>(&bytes));
        let entry = KeyWindows {
            bytes: bytes.clone(),
            key: key.clone(),
            windows: VecDeque::new(),
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
        self.index.insert(bytes, id);
        Ok(id)
    }

    /// Drops the key `id` if it has no window (a record whose windows were all too late).
    pub(crate) fn release_if_empty(&mut self, id: KeyId) {
        if self.entry(id).windows.is_empty() {
            self.release(id);
        }
    }

    fn release(&mut self, id: KeyId) {
        if let Some(entry) = self.keys[id].take() {
            self.index.remove(&entry.bytes);
            self.free.push(id);
            self.refund(key_cost::<K, V>(&entry.bytes) + slots_cost::<V>(entry.windows.capacity()));
        }
    }

    /// Whether the store retains a window starting at `start`, by its rule (expired once
    /// older than the latest start seen minus the retention), with the starts seen here
    /// counted.
    pub(crate) fn accepts(&mut self, start: i64, store: &WindowStore<K, V>) -> bool {
        self.observed = self.observed.max(store.observed_stream_time()).max(start);
        start >= self.observed.saturating_sub(store.retention())
    }

    /// The value of key `id`'s window starting at `start`, for a write: the caller takes it
    /// out, folds, and puts the new value back. A window not hot is read from the store
    /// (unless it starts past what the store holds); `None` for a window that does not
    /// exist yet.
    pub(crate) fn value_for_write(
        &mut self,
        id: KeyId,
        start: i64,
        store: &WindowStore<K, V>,
    ) -> Result<&mut Option<V>, StateError> {
        self.writes += 1;
        let (written, reporting) = (self.writes, self.reporting);
        let position = {
            let entry = self.entry(id);
            entry.windows.binary_search_by_key(&start, |w| w.start)
        };
        let i = match position {
            Ok(i) => i,
            Err(i) => {
                let stored = store.fetch_stored(&self.entry(id).bytes, start)?;
                let (value, stored) = if reporting {
                    (stored.clone(), stored.map(Box::new))
                } else {
                    (stored, None)
                };
                let window = HotWindow {
                    start,
                    value,
                    stored,
                    written: 0,
                };
                let windows = &mut self.entry(id).windows;
                let capacity = windows.capacity();
                if windows.len() == capacity {
                    // A key holds about as many windows as are open at once: room for one
                    // more, not twice as many, keeps the state small within its budget.
                    windows.reserve_exact(1);
                }
                windows.insert(i, window);
                let grown = windows.capacity() - capacity;
                self.by_start.entry(start).or_default().push(id);
                self.charge(window_cost() + slots_cost::<V>(grown));
                i
            }
        };
        let window = &mut self.entry(id).windows[i];
        window.written = written;
        Ok(&mut window.value)
    }

    /// Writes every window changed since the last write-behind to the store, in one batch;
    /// with reporting, hands each change to `report` in the order of the windows' last
    /// writes.
    pub(crate) fn flush<E: From<StateError>>(
        &mut self,
        store: &WindowStore<K, V>,
        report: impl FnMut(&K, i64, V, Option<V>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.write_behind(store, i64::MIN, i64::MAX, report)
    }

    /// Writes behind and drops every window starting at `through` or before: windows that
    /// are closed (on close: with their final result out), so they need no room here. One
    /// batch per start; changes go to `report` as with [`flush`](Self::flush).
    pub(crate) fn retire<E: From<StateError>>(
        &mut self,
        store: &WindowStore<K, V>,
        through: i64,
        mut report: impl FnMut(&K, i64, V, Option<V>) -> Result<(), E>,
    ) -> Result<(), E> {
        let through = self.emitted_through.map_or(through, |e| e.min(through));
        while let Some((&start, _)) = self.by_start.first_key_value() {
            if start > through {
                break;
            }
            self.write_behind(store, start, start, &mut report)?;
            self.drop_start(start);
        }
        Ok(())
    }

    /// While the cache budget is exceeded, writes the windows of the oldest start behind and
    /// drops them: in a stream mostly in time order, the oldest windows are the next to
    /// close and the least likely to be written again. Changes go to `report` as with
    /// [`flush`](Self::flush); on close, dropped windows not yet emitted are remembered.
    pub(crate) fn spill<E: From<StateError>>(
        &mut self,
        store: &WindowStore<K, V>,
        mut report: impl FnMut(&K, i64, V, Option<V>) -> Result<(), E>,
    ) -> Result<(), E> {
        while self.budget.over() {
            let Some((&start, _)) = self.by_start.first_key_value() else {
                break;
            };
            self.write_behind(store, start, start, &mut report)?;
            self.drop_start(start);
        }
        Ok(())
    }

    /// Drops the windows starting at `start`, remembering those whose final result is due
    /// but not out.
    fn drop_start(&mut self, start: i64) {
        let Some(ids) = self.by_start.remove(&start) else {
            return;
        };
        let unemitted = self.emitted_through.is_some_and(|e| start > e);
        for id in ids {
            let entry = self.entry(id);
            if let Ok(i) = entry.windows.binary_search_by_key(&start, |w| w.start) {
                entry.windows.remove(i);
            }
            if unemitted {
                let (bytes, key) = (entry.bytes.clone(), entry.key.clone());
                self.spilled.insert((start, bytes), key);
            }
            self.refund(window_cost());
            self.release_if_empty(id);
        }
    }

    /// Writes the changed windows starting in `[from, to]` to the store in one batch, and
    /// reports the changes.
    fn write_behind<E: From<StateError>>(
        &mut self,
        store: &WindowStore<K, V>,
        from: i64,
        to: i64,
        mut report: impl FnMut(&K, i64, V, Option<V>) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.clear();
        self.arena.clear();
        for (&start, ids) in self.by_start.range(from..=to) {
            for &id in ids {
                let Some(entry) = self.keys[id].as_mut() else {
                    continue;
                };
                let Ok(i) = entry.windows.binary_search_by_key(&start, |w| w.start) else {
                    continue;
                };
                let window = &mut entry.windows[i];
                let written = std::mem::take(&mut window.written);
                let Some(value) = window.value.as_ref().filter(|_| written > 0) else {
                    continue;
                };
                let at = self.arena.len();
                let present = store.value_bytes_onto(value, &mut self.arena)?;
                if !present {
                    self.arena.truncate(at);
                }
                let bytes = present.then_some(at..self.arena.len());
                if self.reporting {
                    // As the record cache: a window that ends up as the store holds it is
                    // neither written nor reported.
                    let end = self.arena.len();
                    let stored_present = match &window.stored {
                        Some(stored) => store.value_bytes_onto(stored, &mut self.arena)?,
                        None => false,
                    };
                    let unchanged = match &bytes {
                        Some(r) => stored_present && self.arena[r.clone()] == self.arena[end..],
                        None => !stored_present,
                    };
                    self.arena.truncate(end);
                    if unchanged {
                        continue;
                    }
                }
                dirty.push(Dirty {
                    written,
                    id,
                    start,
                    bytes,
                });
            }
        }
        if dirty.is_empty() {
            self.dirty = dirty;
            return Ok(());
        }
        // In the engine's order (a start's segment, then key bytes): RocksDB inserts a
        // sorted batch into its memtable far faster than a shuffled one.
        let keys = &self.keys;
        let bytes_of = |id: KeyId| keys[id].as_ref().map_or(&[][..], |e| e.bytes.as_slice());
        dirty.sort_unstable_by(|a, b| (a.start, bytes_of(a.id)).cmp(&(b.start, bytes_of(b.id))));
        let retained = {
            let writes: Vec<WindowWrite<'_>> = dirty
                .iter()
                .filter_map(|d| {
                    let entry = self.keys[d.id].as_ref()?;
                    Some(WindowWrite {
                        key: &entry.bytes,
                        start: d.start,
                        value: d.bytes.clone().map(|r| &self.arena[r]),
                    })
                })
                .collect();
            store.write_behind(&writes)?
        };
        if self.reporting {
            let mut kept: Vec<&Dirty> = dirty
                .iter()
                .zip(&retained)
                .filter_map(|(d, kept)| kept.then_some(d))
                .collect();
            kept.sort_unstable_by_key(|d| d.written);
            for d in kept {
                let Some(entry) = self.keys[d.id].as_mut() else {
                    continue;
                };
                let Ok(i) = entry.windows.binary_search_by_key(&d.start, |w| w.start) else {
                    continue;
                };
                let window = &mut entry.windows[i];
                let Some(new) = window.value.clone() else {
                    continue;
                };
                let old = window.stored.replace(Box::new(new.clone()));
                report(&entry.key, d.start, new, old.map(|old| *old))?;
            }
        }
        self.dirty = dirty;
        Ok(())
    }

    /// Hands to `emit`, in window order (start, then key bytes, as Kafka Streams emits
    /// them), the final value of every window starting after the last emission and at `to`
    /// or before. The windows stay until they are written behind and retired.
    pub(crate) fn emit_closed<E: From<StateError>>(
        &mut self,
        store: &WindowStore<K, V>,
        to: i64,
        mut emit: impl FnMut(K, i64, V) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(from) = self.emitted_through.filter(|&e| e < to) else {
            return Ok(());
        };
        let mut starts: Vec<i64> = self
            .by_start
            .range(from.saturating_add(1)..=to)
            .map(|(&start, _)| start)
            .collect();
        starts.extend(
            self.spilled
                .range((from.saturating_add(1), Vec::new())..)
                .map(|((start, _), _)| *start)
                .take_while(|&start| start <= to),
        );
        starts.sort_unstable();
        starts.dedup();
        let mut hot: Vec<KeyId> = Vec::new();
        for start in starts {
            hot.clear();
            hot.extend(self.by_start.get(&start).into_iter().flatten());
            hot.sort_unstable_by(|&a, &b| self.key_bytes(a).cmp(self.key_bytes(b)));
            let mut spilled = self.take_spilled(start).into_iter().peekable();
            let mut hot_ids = hot.iter().peekable();
            loop {
                // Merge the two by key bytes; a window in both (read back after a spill)
                // is emitted once, from its hot copy.
                let next_hot = hot_ids.peek().map(|&&id| self.key_bytes(id));
                let next_spilled = spilled.peek().map(|(bytes, _)| bytes.as_slice());
                let spilled_first = match (next_hot, next_spilled) {
                    (None, None) => break,
                    (None, Some(_)) => true,
                    (Some(_), None) => false,
                    (Some(h), Some(s)) => s < h,
                };
                if spilled_first {
                    if let Some((bytes, key)) = spilled.next() {
                        if let Some(value) = store.fetch_stored(&bytes, start)? {
                            emit(key, start, value)?;
                        }
                    }
                    continue;
                }
                let Some(&id) = hot_ids.next() else { break };
                if spilled
                    .peek()
                    .is_some_and(|(bytes, _)| bytes.as_slice() == self.key_bytes(id))
                {
                    spilled.next();
                }
                if let Some((key, value)) = self.window_value(id, start) {
                    emit(key, start, value)?;
                }
            }
        }
        self.emitted_through = Some(to);
        Ok(())
    }

    fn key_bytes(&self, id: KeyId) -> &[u8] {
        self.keys[id].as_ref().map_or(&[], |e| e.bytes.as_slice())
    }

    /// The key and value of key `id`'s window at `start`, if it has one with a value.
    fn window_value(&self, id: KeyId, start: i64) -> Option<(K, V)> {
        let entry = self.keys[id].as_ref()?;
        let i = entry
            .windows
            .binary_search_by_key(&start, |w| w.start)
            .ok()?;
        let value = entry.windows[i].value.clone()?;
        Some((entry.key.clone(), value))
    }

    /// Takes the spilled windows starting at `start`, by key bytes.
    fn take_spilled(&mut self, start: i64) -> Vec<(Vec<u8>, K)> {
        let mut taken = Vec::new();
        while let Some(entry) = self.spilled.first_entry() {
            if entry.key().0 > start {
                break;
            }
            let ((at, bytes), key) = entry.remove_entry();
            if at == start {
                taken.push((bytes, key));
            }
        }
        taken
    }
}

impl<K, V> Drop for HotWindows<K, V> {
    fn drop(&mut self) {
        self.budget.remove(self.held);
    }
}
