//! The record cache of a window or session store: typed values by their place in the store
//! (key bytes and window or session times), kept in that order so that range reads can merge
//! cached writes with the engine's data, and evicted least recently used first.

use std::collections::BTreeMap;
use std::ops::RangeBounds;

use super::cache::{CacheBudget, Entry};
use super::FlushedChange;

/// A place in a window or session store, ordered as the engine orders its results.
pub(crate) trait Place: Ord + Clone {
    /// The serialized key.
    fn key_bytes(&self) -> &[u8];
    /// The time that decides expiry (window start, session end).
    fn time(&self) -> i64;
}

/// `(key bytes, window start)`.
impl Place for (Vec<u8>, i64) {
    fn key_bytes(&self) -> &[u8] {
        &self.0
    }

    fn time(&self) -> i64 {
        self.1
    }
}

/// `(key bytes, session end, session start)`.
impl Place for (Vec<u8>, i64, i64) {
    fn key_bytes(&self) -> &[u8] {
        &self.0
    }

    fn time(&self) -> i64 {
        self.1
    }
}

struct Slot<V> {
    entry: Entry<V>,
    /// What the engine holds at this place, when the cache knows it (a read that missed
    /// the cache, or a flush): a flush then needs no engine read for the old value.
    stored: Option<Option<V>>,
    /// When the entry was last used (read or written), on the cache's clock.
    used: u64,
    /// When the entry was last written: dirty entries flush in write order, so that a
    /// session's removal reaches downstream before the merged session that replaced it.
    written: u64,
}

/// What an entry costs against the budget: its key twice (the entry's and the use index's
/// copy), the slot, and the two tree nodes' share (about 100 bytes).
fn entry_cost<V>(key: &[u8]) -> usize {
    2 * key.len().max(32) + std::mem::size_of::<Slot<V>>() + 100
}

/// An entry leaving the cache for the engine: its place, value and time, and what the
/// engine holds there when the cache knows it.
pub(crate) struct Leaving<P, V> {
    pub(crate) place: P,
    pub(crate) entry: Entry<V>,
    pub(crate) stored: Option<Option<V>>,
}

/// The cache of one window or session store.
pub(crate) struct OrderedCache<P: Place, V> {
    entries: BTreeMap<P, Slot<V>>,
    by_use: BTreeMap<u64, P>,
    clock: u64,
    budget: CacheBudget,
}

impl<P: Place, V> OrderedCache<P, V> {
    pub(crate) fn new(budget: CacheBudget) -> Self {
        Self {
            entries: BTreeMap::new(),
            by_use: BTreeMap::new(),
            clock: 0,
            budget,
        }
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// The entry at `place`, marked as most recently used.
    pub(crate) fn get(&mut self, place: &P) -> Option<&Entry<V>> {
        let now = self.tick();
        let slot = self.entries.get_mut(place)?;
        // The use index's copy of the place moves to its new position: no new copy.
        let indexed = self.by_use.remove(&slot.used);
        slot.used = now;
        self.by_use
            .insert(now, indexed.unwrap_or_else(|| place.clone()));
        Some(&slot.entry)
    }

    /// Caches what a read found in the engine at `place` (`None`: nothing), as a clean entry,
    /// unless the place is cached already.
    pub(crate) fn fill(&mut self, place: P, stored: Option<V>)
    where
        V: Clone,
    {
        if self.entries.contains_key(&place) {
            return;
        }
        let now = self.tick();
        self.budget.add(entry_cost::<V>(place.key_bytes()));
        let entry = Entry {
            value: stored.clone(),
            dirty: false,
            timestamp: i64::MIN,
        };
        let slot = Slot {
            entry,
            stored: Some(stored),
            used: now,
            written: now,
        };
        self.entries.insert(place.clone(), slot);
        self.by_use.insert(now, place);
    }

    /// Caches `entry` at `place`. A dirty entry stays dirty when replaced by a clean one.
    pub(crate) fn put(&mut self, place: P, entry: Entry<V>) {
        let now = self.tick();
        match self.entries.get_mut(&place) {
            Some(slot) => {
                let indexed = self.by_use.remove(&slot.used);
                let dirty = slot.entry.dirty || entry.dirty;
                slot.entry = entry;
                slot.entry.dirty = dirty;
                slot.used = now;
                slot.written = now;
                self.by_use.insert(now, indexed.unwrap_or(place));
                return;
            }
            None => {
                self.budget.add(entry_cost::<V>(place.key_bytes()));
                let slot = Slot {
                    entry,
                    stored: None,
                    used: now,
                    written: now,
                };
                self.entries.insert(place.clone(), slot);
            }
        }
        self.by_use.insert(now, place);
    }

    /// The entries in `range`, in order, without marking them used (an inverted range is
    /// empty).
    pub(crate) fn range(
        &self,
        range: impl RangeBounds<P>,
    ) -> impl Iterator<Item = (&P, &Entry<V>)> {
        use std::ops::Bound::{Excluded, Included};
        let inverted = match (range.start_bound(), range.end_bound()) {
            (Included(l) | Excluded(l), Included(u) | Excluded(u)) => l > u,
            _ => false,
        };
        let entries = (!inverted).then(|| self.entries.range(range));
        entries.into_iter().flatten().map(|(p, s)| (p, &s.entry))
    }

    /// Drops the entry at `place`, if any.
    pub(crate) fn remove(&mut self, place: &P) {
        if let Some(slot) = self.entries.remove(place) {
            self.by_use.remove(&slot.used);
            self.budget.remove(entry_cost::<V>(place.key_bytes()));
        }
    }

    /// Whether the cache holds no entry.
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The budget the cache draws on.
    pub(crate) fn budget(&self) -> &CacheBudget {
        &self.budget
    }

    /// Takes the least recently used entry while the shared budget is exceeded.
    pub(crate) fn evict_one_if_over(&mut self) -> Option<Leaving<P, V>> {
        if !self.budget.over() {
            return None;
        }
        let (_, place) = self.by_use.pop_first()?;
        let slot = self.entries.remove(&place)?;
        self.budget.remove(entry_cost::<V>(place.key_bytes()));
        Some(Leaving {
            place,
            entry: slot.entry,
            stored: slot.stored,
        })
    }

    /// Every dirty entry, in the order they were written, marked clean (and known to be
    /// what the engine holds once written).
    pub(crate) fn take_dirty(&mut self) -> Vec<Leaving<P, V>>
    where
        V: Clone,
    {
        let mut dirty: Vec<(u64, Leaving<P, V>)> = Vec::new();
        for (place, slot) in &mut self.entries {
            if slot.entry.dirty {
                slot.entry.dirty = false;
                let stored = slot.stored.replace(slot.entry.value.clone());
                let entry = Entry {
                    value: slot.entry.value.clone(),
                    dirty: true,
                    timestamp: slot.entry.timestamp,
                };
                let place = place.clone();
                dirty.push((
                    slot.written,
                    Leaving {
                        place,
                        entry,
                        stored,
                    },
                ));
            }
        }
        dirty.sort_unstable_by_key(|(written, _)| *written);
        dirty.into_iter().map(|(_, leaving)| leaving).collect()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

impl<P: Place, V> Drop for OrderedCache<P, V> {
    fn drop(&mut self) {
        for place in self.entries.keys() {
            self.budget.remove(entry_cost::<V>(place.key_bytes()));
        }
    }
}

/// The cache of a window or session store, with what its flushes and evictions wrote
/// through, waiting to be forwarded.
pub(crate) struct CacheLayer<P: Place, V> {
    pub(crate) cache: OrderedCache<P, V>,
    /// Changes written through (keys still serialized), oldest first.
    pub(crate) flushed: Vec<FlushedChange<P, V>>,
    /// Whether flushes report their changes; without, a flush only writes.
    pub(crate) reporting: bool,
    /// The latest time put through the cache, which the engine learns only on a flush.
    pub(crate) observed: i64,
}

impl<P: Place, V> CacheLayer<P, V> {
    pub(crate) fn new(budget: CacheBudget) -> Self {
        Self {
            cache: OrderedCache::new(budget),
            flushed: Vec::new(),
            reporting: true,
            observed: i64::MIN,
        }
    }

    /// Whether a write at `time` is retained, by the engine's rule (expired once older than
    /// observed stream time minus retention), with the cache's writes counted as observed.
    pub(crate) fn accepts(&mut self, time: i64, engine_observed: i64, retention: i64) -> bool {
        self.observed = self.observed.max(engine_observed).max(time);
        time >= self.observed.saturating_sub(retention)
    }

    /// The oldest time still retained: reads hide older cached entries, as the engine hides
    /// its expired ones.
    pub(crate) fn live_from(&self, engine_observed: i64, retention: i64) -> i64 {
        self.observed.max(engine_observed).saturating_sub(retention)
    }
}

/// Merges an engine's results with cached writes in the same range, both in store order:
/// a cached value replaces the engine's, and a cached delete hides it.
pub(crate) fn merge<P: Ord, V>(engine: Vec<(P, V)>, cached: Vec<(P, Option<V>)>) -> Vec<(P, V)> {
    let mut out = Vec::with_capacity(engine.len() + cached.len());
    let mut engine = engine.into_iter().peekable();
    for (place, value) in cached {
        while let Some((p, _)) = engine.peek() {
            if *p < place {
                out.extend(engine.next());
            } else {
                break;
            }
        }
        if engine.peek().is_some_and(|(p, _)| *p == place) {
            engine.next();
        }
        if let Some(value) = value {
            out.push((place, value));
        }
    }
    out.extend(engine);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small deterministic random source (xorshift), for the stores' randomized tests.
    pub(crate) struct Random(pub(crate) u64);

    impl Random {
        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    fn dirty(value: Option<i64>) -> Entry<i64> {
        Entry {
            value,
            dirty: true,
            timestamp: 0,
        }
    }

    #[test]
    fn merge_prefers_the_cache_and_hides_cached_deletes() {
        let engine = vec![(1, "a"), (3, "c"), (5, "e")];
        let cached = vec![(0, Some("z")), (3, None), (4, Some("d")), (5, Some("E"))];
        assert_eq!(
            merge(engine, cached),
            vec![(0, "z"), (1, "a"), (4, "d"), (5, "E")]
        );
    }

    #[test]
    fn evicts_least_recently_used_and_flushes_in_write_order() {
        let budget = CacheBudget::new(3 * entry_cost::<i64>(b"k"));
        let mut cache = OrderedCache::new(budget.clone());
        for start in [30, 10, 20] {
            cache.put((b"k".to_vec(), start), dirty(Some(start)));
        }
        assert!(cache.evict_one_if_over().is_none());
        cache.get(&(b"k".to_vec(), 30));
        cache.put((b"k".to_vec(), 40), dirty(None));
        let leaving = cache.evict_one_if_over().expect("over budget");
        assert_eq!(
            leaving.place,
            (b"k".to_vec(), 10),
            "the least recently used"
        );
        assert!(budget.used() <= budget.limit());
        let order: Vec<i64> = cache.take_dirty().into_iter().map(|l| l.place.1).collect();
        assert_eq!(order, vec![30, 20, 40]);
        assert!(cache.take_dirty().is_empty(), "flushed entries are clean");
        assert_eq!(cache.len(), 3);
        drop(cache);
        assert_eq!(budget.used(), 0, "a dropped cache returns its budget");
    }
}
