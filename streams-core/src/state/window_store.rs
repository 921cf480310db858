//! The typed window store: values by key and window start over a byte engine, optionally
//! behind a record cache.

use std::any::Any;
use std::cell::RefCell;
use std::ops::Bound;
use std::rc::Rc;

use state_stores::{WindowBytesStore, WindowEntry, WindowWrite};

use super::cache::Entry;
use super::ordered_cache::{merge, CacheLayer, Leaving, Place as _};
use super::windowed::Codec;
use super::{CacheBudget, FlushedChange};
use crate::StateError;

/// Where a window lives in the store: key bytes, then window start.
type Place = (Vec<u8>, i64);

/// A typed window store: values by key and window start, kept for the store's retention.
///
/// With a record cache, writes stay in memory as typed values until the cache is flushed (on
/// commit) or evicts them; each flushed window is then serialized, written and logged once,
/// and reported by [`drain_flushed`](Self::drain_flushed). Reads merge the cache with the
/// engine.
pub struct WindowStore<K, V> {
    engine: Rc<RefCell<Box<dyn WindowBytesStore>>>,
    codec: Rc<Codec<K, V>>,
    name: Rc<str>,
    cached: Option<Rc<RefCell<CacheLayer<Place, V>>>>,
    /// What the processors using this store keep beside it (see [`companion`](Self::companion)).
    companion: Rc<RefCell<Option<Rc<dyn Any>>>>,
}

impl<K, V> Clone for WindowStore<K, V> {
    fn clone(&self) -> Self {
        Self {
            engine: Rc::clone(&self.engine),
            codec: Rc::clone(&self.codec),
            name: Rc::clone(&self.name),
            cached: self.cached.clone(),
            companion: Rc::clone(&self.companion),
        }
    }
}

/// A window of a key, as scans return it: `(key, window start, value)`.
pub type WindowedValue<K, V> = (K, i64, V);

impl<K, V> WindowStore<K, V> {
    pub(crate) fn new(
        engine: Box<dyn WindowBytesStore>,
        codec: Rc<Codec<K, V>>,
        name: Rc<str>,
    ) -> Self {
        Self {
            engine: Rc::new(RefCell::new(engine)),
            codec,
            name,
            cached: None,
            companion: Rc::default(),
        }
    }

    /// The same store with a record cache drawing on `budget`.
    pub(crate) fn with_cache(mut self, budget: CacheBudget) -> Self {
        self.cached = Some(Rc::new(RefCell::new(CacheLayer::new(budget))));
        self
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the store has a record cache.
    pub fn is_cached(&self) -> bool {
        self.cached.is_some()
    }

    /// The largest window start the engine has been given (its stream time; `i64::MIN`
    /// before any): windows older than that minus the retention are expired.
    pub fn observed_stream_time(&self) -> i64 {
        let engine = self.engine.borrow().observed_stream_time();
        match &self.cached {
            Some(cached) => engine.max(cached.borrow().observed),
            None => engine,
        }
    }

    /// How long after stream time passes a window's start the window is kept, in ms.
    pub fn retention(&self) -> i64 {
        self.engine.borrow().retention()
    }

    /// State that the processors of a task using this store share beside it (a stream-stream
    /// join's typed in-memory front of its buffer, which one processor writes and another
    /// reads): made by `make` at the first call, the same for every handle to this store
    /// afterwards, and dropped with the store. `None` if another type is kept there.
    pub fn companion<T: 'static>(&self, make: impl FnOnce() -> T) -> Option<Rc<T>> {
        let mut slot = self.companion.borrow_mut();
        let kept = slot.get_or_insert_with(|| Rc::new(make()) as Rc<dyn Any>);
        Rc::clone(kept).downcast::<T>().ok()
    }

    /// Whether cache flushes and evictions report their changes through
    /// [`drain_flushed`](Self::drain_flushed) (the default), or only write them.
    pub fn report_flushes(&self, reporting: bool) {
        if let Some(cached) = &self.cached {
            cached.borrow_mut().reporting = reporting;
        }
    }
}

impl<K, V: Clone> WindowStore<K, V> {
    /// Whether `key` encodes as a null (an `Option` key's `None`), which no store can hold:
    /// aggregations drop such records, as Kafka Streams drops null keys.
    pub fn is_null_key(&self, key: &K) -> bool {
        self.codec.key.is_null(key)
    }

    /// `key` as the store encodes it: keys of one window are ordered by these bytes.
    pub fn key_bytes(&self, key: &K) -> Result<Vec<u8>, StateError> {
        self.codec.key(key)
    }

    /// Serializes `key` into `out` (cleared first) as the store encodes it, reusing `out`'s
    /// buffer: for a processor that keeps windows by key bytes without allocating per record.
    pub fn key_bytes_into(&self, key: &K, out: &mut Vec<u8>) -> Result<(), StateError> {
        self.codec.key_into(key, out)
    }

    /// Appends the serialization of `value` to `out`; `false` if it serializes as null
    /// (which the store holds as a delete).
    pub fn value_bytes_onto(&self, value: &V, out: &mut Vec<u8>) -> Result<bool, StateError> {
        self.codec.value_onto(value, out)
    }

    /// The budget of the store's record cache, if it has one: what a processor that keeps the
    /// store's windows in memory itself draws on instead.
    pub fn cache_budget(&self) -> Option<CacheBudget> {
        let cached = self.cached.as_ref()?;
        let budget = cached.borrow().cache.budget().clone();
        Some(budget)
    }

    /// The latest window start the engine may hold (no window starts after it): a processor
    /// that keeps windows in memory knows that later windows exist only in memory.
    pub fn latest_stored_start(&self) -> i64 {
        self.engine.borrow().latest_stored_start()
    }

    /// The window of the serialized key `key` starting at `window_start` as the engine holds
    /// it, bypassing the record cache: for a processor that keeps the store's windows in
    /// memory itself and writes them with [`write_behind`](Self::write_behind). A window
    /// past the engine's latest stored start is answered without reading the engine.
    pub fn fetch_stored(&self, key: &[u8], window_start: i64) -> Result<Option<V>, StateError> {
        let engine = self.engine.borrow();
        if window_start > engine.latest_stored_start() {
            return Ok(None);
        }
        let bytes = engine.fetch(key, window_start)?;
        bytes.map(|b| self.codec.decode_value(&b)).transpose()
    }

    /// Writes `writes` to the engine (and its changelog) in one batch, bypassing the record
    /// cache, whose copies of those windows it drops; returns, per write, whether its window
    /// is retained. The write-behind of a processor that keeps the store's windows in memory.
    pub fn write_behind(&self, writes: &[WindowWrite<'_>]) -> Result<Vec<bool>, StateError> {
        if let Some(cached) = &self.cached {
            let mut cached = cached.borrow_mut();
            // Only reads from outside the processor (queries) fill the cache here: their
            // copies of what is written now would be stale.
            if !cached.cache.is_empty() {
                for w in writes {
                    cached.cache.remove(&(w.key.to_vec(), w.start));
                }
            }
        }
        Ok(self.engine.borrow_mut().put_batch(writes)?)
    }

    /// Stores `value` (`None` deletes) for `key` in the window starting at `window_start`;
    /// returns whether the window is retained (a put into an expired window is dropped).
    pub fn put(&self, key: &K, window_start: i64, value: Option<&V>) -> Result<bool, StateError> {
        let k = self.codec.key(key)?;
        let Some(cached) = &self.cached else {
            let v = self.codec.value(value)?;
            return Ok(self
                .engine
                .borrow_mut()
                .put(&k, window_start, v.as_deref())?);
        };
        let mut cached = cached.borrow_mut();
        let (observed, retention) = {
            let engine = self.engine.borrow();
            (engine.observed_stream_time(), engine.retention())
        };
        if !cached.accepts(window_start, observed, retention) {
            return Ok(false);
        }
        let value = value.filter(|v| !self.codec.value.is_null(v)).cloned();
        let entry = Entry {
            value,
            dirty: true,
            timestamp: window_start,
        };
        cached.cache.put((k, window_start), entry);
        self.evict(&mut cached)?;
        Ok(true)
    }

    /// As [`fetch`](Self::fetch), but a window read from the engine is not kept in the cache:
    /// for a last read (a closed window's final result), which would otherwise push windows
    /// still in use out of the cache.
    pub fn fetch_once(&self, key: &K, window_start: i64) -> Result<Option<V>, StateError> {
        self.read(key, window_start, false)
    }

    /// The value of `key` in the window starting at `window_start`.
    pub fn fetch(&self, key: &K, window_start: i64) -> Result<Option<V>, StateError> {
        self.read(key, window_start, true)
    }

    /// A window's value from the cache, else the engine; with `fill`, a value read from the
    /// engine is remembered in the cache.
    fn read(&self, key: &K, window_start: i64, fill: bool) -> Result<Option<V>, StateError> {
        // The engine holds no window starting after its latest stored start, so a new window
        // at the frontier (where most new windows are) needs no engine read.
        let past_engine = window_start > self.engine.borrow().latest_stored_start();
        let place = (self.codec.key(key)?, window_start);
        let Some(cached) = &self.cached else {
            return if past_engine {
                Ok(None)
            } else {
                self.engine_fetch(&place)
            };
        };
        let mut cached = cached.borrow_mut();
        if window_start < self.live_from(&cached) {
            return Ok(None);
        }
        if let Some(entry) = cached.cache.get(&place) {
            return Ok(entry.value.clone());
        }
        let stored = if past_engine {
            None
        } else {
            self.engine_fetch(&place)?
        };
        if fill {
            // Remembered, so that the update that usually follows flushes without reading
            // the engine again.
            cached.cache.fill(place, stored.clone());
            self.evict(&mut cached)?;
        }
        Ok(stored)
    }

    fn engine_fetch(&self, place: &Place) -> Result<Option<V>, StateError> {
        let bytes = self.engine.borrow().fetch(&place.0, place.1)?;
        bytes.map(|b| self.codec.decode_value(&b)).transpose()
    }

    /// The windows of `key` starting in `[from, to]`: `(start, value)` by ascending start.
    pub fn fetch_range(&self, key: &K, from: i64, to: i64) -> Result<Vec<(i64, V)>, StateError> {
        let k = self.codec.key(key)?;
        // The engine holds no window starting after its latest stored start: a range past it
        // (the recent windows a join looks up) is in the cache, if anywhere.
        let entries = if from > self.engine.borrow().latest_stored_start() {
            Vec::new()
        } else {
            self.engine.borrow().fetch_range(&k, from, to)?
        };
        let range = (Bound::Included((k.clone(), from)), Bound::Included((k, to)));
        let found = self.merged(entries, range, from, to)?;
        Ok(found
            .into_iter()
            .map(|((_, start), v)| (start, v))
            .collect())
    }

    /// The same windows as [`fetch_range`](Self::fetch_range), by descending start.
    pub fn backward_fetch_range(
        &self,
        key: &K,
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, V)>, StateError> {
        let mut found = self.fetch_range(key, from, to)?;
        found.reverse();
        Ok(found)
    }

    /// The windows of the keys in `[key_from, key_to]` starting in `[from, to]`, by key then start.
    pub fn fetch_key_range(
        &self,
        key_from: &K,
        key_to: &K,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowedValue<K, V>>, StateError> {
        let (kf, kt) = (self.codec.key(key_from)?, self.codec.key(key_to)?);
        let entries = self
            .engine
            .borrow()
            .fetch_key_range(Some(&kf), Some(&kt), from, to)?;
        let range = (
            Bound::Included((kf, i64::MIN)),
            Bound::Included((kt, i64::MAX)),
        );
        self.decode_keys(self.merged(entries, range, from, to)?)
    }

    /// The same windows as [`fetch_key_range`](Self::fetch_key_range), in reverse order.
    pub fn backward_fetch_key_range(
        &self,
        key_from: &K,
        key_to: &K,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowedValue<K, V>>, StateError> {
        let mut found = self.fetch_key_range(key_from, key_to, from, to)?;
        found.reverse();
        Ok(found)
    }

    /// The windows of every key starting in `[from, to]`, by key then start.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<WindowedValue<K, V>>, StateError> {
        let entries = self.engine.borrow().fetch_key_range(None, None, from, to)?;
        self.decode_keys(self.merged(entries, .., from, to)?)
    }

    /// Every retained window, by key then start.
    pub fn all(&self) -> Result<Vec<WindowedValue<K, V>>, StateError> {
        let entries = self.engine.borrow().all()?;
        self.decode_keys(self.merged(entries, .., i64::MIN, i64::MAX)?)
    }

    /// Writes every dirty cached window through to the engine (and its changelog).
    pub fn flush_cache(&self) -> Result<(), StateError> {
        let Some(cached) = &self.cached else {
            return Ok(());
        };
        let mut cached = cached.borrow_mut();
        for leaving in cached.cache.take_dirty() {
            self.write_back(&mut cached, leaving)?;
        }
        Ok(())
    }

    /// Hands every change that evictions and flushes wrote through since the last call to
    /// `f`, oldest first, keyed by `(key, window start)`.
    pub fn drain_flushed<E>(
        &self,
        mut f: impl FnMut(FlushedChange<(K, i64), V>) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<StateError>,
    {
        let Some(cached) = &self.cached else {
            return Ok(());
        };
        let flushed = std::mem::take(&mut cached.borrow_mut().flushed);
        for change in flushed {
            let (key, start) = change.key;
            f(FlushedChange {
                key: (self.codec.decode_key(&key)?, start),
                new: change.new,
                old: change.old,
                timestamp: change.timestamp,
            })?;
        }
        Ok(())
    }

    /// The engine's `entries` with the cached writes in `range` (starting in `[from, to]`)
    /// laid over them.
    fn merged(
        &self,
        entries: Vec<WindowEntry>,
        range: impl std::ops::RangeBounds<Place>,
        from: i64,
        to: i64,
    ) -> Result<Vec<(Place, V)>, StateError> {
        let stored = entries
            .into_iter()
            .map(|e| Ok(((e.key, e.window_start), self.codec.decode_value(&e.value)?)))
            .collect::<Result<Vec<_>, StateError>>()?;
        let Some(cached) = &self.cached else {
            return Ok(stored);
        };
        let cached = cached.borrow();
        let live_from = self.live_from(&cached);
        let overlay = cached
            .cache
            .range(range)
            .filter(|(place, _)| place.time() >= live_from)
            .filter(|(place, _)| (from..=to).contains(&place.1))
            .map(|(place, entry)| (place.clone(), entry.value.clone()))
            .collect();
        Ok(merge(stored, overlay))
    }

    fn decode_keys(&self, found: Vec<(Place, V)>) -> Result<Vec<WindowedValue<K, V>>, StateError> {
        found
            .into_iter()
            .map(|((key, start), value)| Ok((self.codec.decode_key(&key)?, start, value)))
            .collect()
    }

    /// The oldest time the store still retains, for reads of `cached`.
    fn live_from(&self, cached: &CacheLayer<Place, V>) -> i64 {
        let engine = self.engine.borrow();
        cached.live_from(engine.observed_stream_time(), engine.retention())
    }

    /// Writes evicted dirty windows through, while the cache budget is exceeded.
    fn evict(&self, cached: &mut CacheLayer<Place, V>) -> Result<(), StateError> {
        while let Some(leaving) = cached.cache.evict_one_if_over() {
            if leaving.entry.dirty {
                self.write_back(cached, leaving)?;
            }
        }
        Ok(())
    }

    /// Writes one cached window to the engine, reporting the change if the cache reports
    /// and the engine held something else.
    fn write_back(
        &self,
        cached: &mut CacheLayer<Place, V>,
        leaving: Leaving<Place, V>,
    ) -> Result<(), StateError> {
        let Leaving {
            place,
            entry,
            stored,
        } = leaving;
        let bytes = self.codec.value(entry.value.as_ref())?;
        let mut engine = self.engine.borrow_mut();
        if !cached.reporting {
            engine.put(&place.0, place.1, bytes.as_deref())?;
            return Ok(());
        }
        let (old, old_bytes) = match stored {
            Some(old) => {
                let old_bytes = self.codec.value(old.as_ref())?;
                (old, old_bytes)
            }
            None => {
                let old_bytes = engine.fetch(&place.0, place.1)?;
                let old = old_bytes.as_ref().map(|b| self.codec.decode_value(b));
                (old.transpose()?, old_bytes)
            }
        };
        if old_bytes == bytes || !engine.put(&place.0, place.1, bytes.as_deref())? {
            return Ok(());
        }
        cached.flushed.push(FlushedChange {
            key: place,
            new: entry.value,
            old,
            timestamp: entry.timestamp,
        });
        Ok(())
    }
}

super::windowed::managed_windowed_store!(WindowStore);

#[cfg(test)]
mod tests {
    use state_stores::InMemoryWindowStore;

    use super::*;
    use crate::state::ordered_cache::tests::Random;
    use crate::Serdes;

    fn store(budget: Option<&CacheBudget>) -> WindowStore<String, i64> {
        let codec = Rc::new(Codec {
            topic: "app-w-changelog".into(),
            key: Serdes::string(),
            value: Serdes::i64(),
        });
        let engine = Box::new(InMemoryWindowStore::new("w", 10_000));
        let store = WindowStore::new(engine, codec, Rc::from("w"));
        match budget {
            Some(budget) => store.with_cache(budget.clone()),
            None => store,
        }
    }

    #[test]
    fn a_cached_store_reads_like_an_uncached_one_through_evictions_and_flushes() {
        for seed in 1..=40 {
            let mut random = Random(seed);
            // Room for about five windows: most writes evict.
            let budget = CacheBudget::new(5 * 300);
            let (plain, cached) = (store(None), store(Some(&budget)));
            for step in 0..300 {
                let key = format!("k{}", random.below(4));
                let start = 10 * random.below(50) as i64;
                let value = (random.below(5) > 0).then(|| random.below(100) as i64);
                assert_eq!(
                    plain.put(&key, start, value.as_ref()).unwrap(),
                    cached.put(&key, start, value.as_ref()).unwrap()
                );
                if random.below(20) == 0 {
                    cached.flush_cache().unwrap();
                }
                let (from, to) = (10 * random.below(50) as i64, 10 * random.below(50) as i64);
                let other = format!("k{}", random.below(4));
                let at = format!("seed {seed} step {step}");
                assert_eq!(
                    plain.fetch(&key, start).unwrap(),
                    cached.fetch(&key, start).unwrap(),
                    "{at}"
                );
                assert_eq!(
                    plain.fetch_once(&other, from).unwrap(),
                    cached.fetch_once(&other, from).unwrap(),
                    "{at}"
                );
                assert_eq!(
                    plain.fetch_range(&key, from, to).unwrap(),
                    cached.fetch_range(&key, from, to).unwrap(),
                    "{at}"
                );
                assert_eq!(
                    plain.backward_fetch_range(&key, from, to).unwrap(),
                    cached.backward_fetch_range(&key, from, to).unwrap(),
                    "{at}"
                );
                assert_eq!(
                    plain.fetch_key_range(&key, &other, from, to).unwrap(),
                    cached.fetch_key_range(&key, &other, from, to).unwrap(),
                    "{at}"
                );
                assert_eq!(
                    plain
                        .backward_fetch_key_range(&key, &other, from, to)
                        .unwrap(),
                    cached
                        .backward_fetch_key_range(&key, &other, from, to)
                        .unwrap(),
                    "{at}"
                );
                assert_eq!(
                    plain.fetch_all(from, to).unwrap(),
                    cached.fetch_all(from, to).unwrap(),
                    "{at}"
                );
                assert!(budget.used() <= budget.limit(), "{at}: within the budget");
            }
            assert_eq!(plain.all().unwrap(), cached.all().unwrap());
            cached.flush_cache().unwrap();
            assert_eq!(
                plain.engine.borrow().all().unwrap(),
                cached.engine.borrow().all().unwrap(),
                "seed {seed}: once flushed, the engines agree"
            );
        }
    }

    #[test]
    fn flushes_report_each_changed_window_once_with_its_old_value() {
        let budget = CacheBudget::new(1 << 20);
        let s = store(Some(&budget));
        s.put(&"a".into(), 0, Some(&1)).unwrap();
        s.flush_cache().unwrap();
        for n in 2..=5 {
            s.put(&"a".into(), 0, Some(&n)).unwrap();
        }
        s.put(&"b".into(), 10, Some(&7)).unwrap();
        s.put(&"b".into(), 10, None).unwrap();
        s.put(&"c".into(), 20, Some(&3)).unwrap();
        s.flush_cache().unwrap();
        let mut changes = Vec::new();
        s.drain_flushed(|c| {
            changes.push((c.key, c.new, c.old));
            Ok::<_, StateError>(())
        })
        .unwrap();
        assert_eq!(
            changes,
            vec![
                (("a".into(), 0), Some(1), None),
                (("a".into(), 0), Some(5), Some(1)),
                (("c".into(), 20), Some(3), None),
            ],
            "a window created and deleted between flushes never shows"
        );
    }

    #[test]
    fn a_put_into_an_expired_window_is_refused_before_any_flush() {
        let budget = CacheBudget::new(1 << 20);
        let s = store(Some(&budget));
        assert!(s.put(&"a".into(), 50_000, Some(&1)).unwrap());
        assert!(!s.put(&"a".into(), 39_999, Some(&1)).unwrap());
        assert!(s.put(&"a".into(), 40_000, Some(&1)).unwrap());
        assert_eq!(s.fetch(&"a".into(), 39_999).unwrap(), None);
    }
}
