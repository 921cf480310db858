//! The record cache of a store: typed values held in memory between commits, so that a key
//! updated many times within a commit interval is serialized, written to the engine and to
//! the changelog, and forwarded downstream once.

use std::cell::Cell;
use std::rc::Rc;

use super::lru::Lru;

/// The byte budget that the record caches of one stream thread's tasks share (Kafka Streams'
/// `statestore.cache.max.bytes`). Cloning shares the budget.
#[derive(Clone, Debug)]
pub struct CacheBudget(Rc<Budget>);

#[derive(Debug)]
struct Budget {
    limit: usize,
    used: Cell<usize>,
}

impl CacheBudget {
    /// A budget of `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Self(Rc::new(Budget {
            limit,
            used: Cell::new(0),
        }))
    }

    /// The budget.
    pub fn limit(&self) -> usize {
        self.0.limit
    }

    /// The bytes the caches hold now (an estimate: keys' bytes plus each entry's fixed size).
    pub fn used(&self) -> usize {
        self.0.used.get()
    }

    /// Counts `bytes` more as held (by a cache, or by a processor that keeps state in memory
    /// in a cache's place).
    pub fn add(&self, bytes: usize) {
        self.0.used.set(self.0.used.get() + bytes);
    }

    /// Counts `bytes` as no longer held.
    pub fn remove(&self, bytes: usize) {
        self.0.used.set(self.0.used.get().saturating_sub(bytes));
    }

    /// Whether more is held than the budget allows: time to evict.
    pub fn over(&self) -> bool {
        self.used() > self.0.limit
    }
}

/// One cached value: `None` is a cached delete.
pub(crate) struct Entry<V> {
    pub(crate) value: Option<V>,
    pub(crate) dirty: bool,
    pub(crate) timestamp: i64,
}

/// The cache of one store: entries by serialized key, least recently used evicted first.
pub(crate) struct RecordCache<V> {
    entries: Lru<Entry<V>>,
    budget: CacheBudget,
    /// Reads that found their key, and reads that did not.
    pub(crate) hits: u64,
    pub(crate) misses: u64,
}

/// What an entry costs: its key twice (the slot's and the index's copy, each a heap block of
/// at least 32 bytes), the value's inline size, and the slot's links and the hash index's
/// share, measured at about 100 bytes. Heap data that the value itself owns is not counted.
fn entry_cost<V>(key: &[u8]) -> usize {
    2 * key.len().max(32) + std::mem::size_of::<Entry<V>>() + 100
}

impl<V> RecordCache<V> {
    pub(crate) fn new(budget: CacheBudget) -> Self {
        Self {
            entries: Lru::default(),
            budget,
            hits: 0,
            misses: 0,
        }
    }

    pub(crate) fn get(&mut self, key: &[u8]) -> Option<&mut Entry<V>> {
        let entry = self.entries.get_mut(key);
        match entry.is_some() {
            true => self.hits += 1,
            false => self.misses += 1,
        }
        entry
    }

    /// Caches `entry` for `key`. A dirty entry stays dirty when replaced by a clean one.
    pub(crate) fn put(&mut self, key: &[u8], entry: Entry<V>) {
        match self.entries.get_mut(key) {
            Some(existing) => {
                let dirty = existing.dirty || entry.dirty;
                *existing = entry;
                existing.dirty = dirty;
            }
            None => {
                self.budget.add(entry_cost::<V>(key));
                self.entries.insert(key, entry);
            }
        }
    }

    /// Takes the least recently used entry while the shared budget is exceeded.
    pub(crate) fn evict_one_if_over(&mut self) -> Option<(Vec<u8>, Entry<V>)> {
        if !self.budget.over() {
            return None;
        }
        let (key, entry) = self.entries.pop_oldest()?;
        self.budget.remove(entry_cost::<V>(&key));
        Some((key, entry))
    }

    /// Every dirty entry, marked clean, in the order of their last writes (as Kafka Streams'
    /// cache flushes them): a write makes an entry the most recently used, and a processor
    /// reads a key just before it writes it.
    pub(crate) fn take_dirty(&mut self) -> Vec<(Vec<u8>, Option<V>, i64)>
    where
        V: Clone,
    {
        let mut dirty: Vec<(Vec<u8>, Option<V>, i64)> = Vec::new();
        self.entries.for_each_oldest_first(|key, entry| {
            if entry.dirty {
                entry.dirty = false;
                dirty.push((key.to_vec(), entry.value.clone(), entry.timestamp));
            }
        });
        dirty
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Hands every entry to `f`, without counting a read or changing their order of use.
    pub(crate) fn for_each(&mut self, mut f: impl FnMut(&[u8], &Entry<V>)) {
        self.entries
            .for_each_oldest_first(|key, entry| f(key, entry));
    }
}

impl<V> Drop for RecordCache<V> {
    fn drop(&mut self) {
        while let Some((key, _)) = self.entries.pop_oldest() {
            self.budget.remove(entry_cost::<V>(&key));
        }
    }
}
