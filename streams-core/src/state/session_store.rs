//! The typed session store: values by key and session over a byte engine, optionally behind
//! a record cache.

use std::cell::RefCell;
use std::ops::{Bound, RangeBounds};
use std::rc::Rc;

use state_stores::{SessionBytesStore, SessionEntry};

use super::cache::Entry;
use super::ordered_cache::{merge, CacheLayer, Leaving, Place as _};
use super::windowed::Codec;
use super::{CacheBudget, FlushedChange};
use crate::StateError;

/// Where a session lives in the store: key bytes, then end, then start (the engine's order).
type Place = (Vec<u8>, i64, i64);

/// A typed session store: values by key and session `[start, end]`.
///
/// With a record cache, writes (merged sessions and the removals of the sessions they
/// replace) stay in memory until the cache is flushed or evicts them, and reads merge the
/// cache with the engine, so that a session updated many times within a commit interval is
/// written, logged and reported once.
pub struct SessionStore<K, V> {
    engine: Rc<RefCell<Box<dyn SessionBytesStore>>>,
    codec: Rc<Codec<K, V>>,
    name: Rc<str>,
    cached: Option<Rc<RefCell<CacheLayer<Place, V>>>>,
}

impl<K, V> Clone for SessionStore<K, V> {
    fn clone(&self) -> Self {
        Self {
            engine: Rc::clone(&self.engine),
            codec: Rc::clone(&self.codec),
            name: Rc::clone(&self.name),
            cached: self.cached.clone(),
        }
    }
}

/// A session of a key, as scans return it: `(key, start, end, value)`.
pub type SessionValue<K, V> = (K, i64, i64, V);

impl<K, V> SessionStore<K, V> {
    pub(crate) fn new(
        engine: Box<dyn SessionBytesStore>,
        codec: Rc<Codec<K, V>>,
        name: Rc<str>,
    ) -> Self {
        Self {
            engine: Rc::new(RefCell::new(engine)),
            codec,
            name,
            cached: None,
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

    /// Whether cache flushes and evictions report their changes through
    /// [`drain_flushed`](Self::drain_flushed) (the default), or only write them.
    pub fn report_flushes(&self, reporting: bool) {
        if let Some(cached) = &self.cached {
            cached.borrow_mut().reporting = reporting;
        }
    }
}

impl<K, V: Clone> SessionStore<K, V> {
    /// Whether `key` encodes as a null (an `Option` key's `None`), which no store can hold:
    /// aggregations drop such records, as Kafka Streams drops null keys.
    pub fn is_null_key(&self, key: &K) -> bool {
        self.codec.key.is_null(key)
    }

    /// Serializes `key` into `out` (cleared first) as the store encodes it, reusing `out`'s
    /// buffer: for a processor that keeps sessions by key bytes without allocating per record.
    pub fn key_bytes_into(&self, key: &K, out: &mut Vec<u8>) -> Result<(), StateError> {
        self.codec.key_into(key, out)
    }

    /// The budget of the store's record cache, if it has one.
    pub fn cache_budget(&self) -> Option<CacheBudget> {
        let cached = self.cached.as_ref()?;
        let budget = cached.borrow().cache.budget().clone();
        Some(budget)
    }

    /// Stores `value` (`None` removes) for the session `[start, end]` of `key`; returns
    /// whether the session is retained.
    pub fn put(
        &self,
        key: &K,
        start: i64,
        end: i64,
        value: Option<&V>,
    ) -> Result<bool, StateError> {
        self.put_at(key, start, end, value, end)
    }

    /// [`put`](Self::put), with the time that a cache flush reports for the change (a
    /// removal is reported at the time of the merge that caused it).
    pub fn put_at(
        &self,
        key: &K,
        start: i64,
        end: i64,
        value: Option<&V>,
        timestamp: i64,
    ) -> Result<bool, StateError> {
        let k = self.codec.key(key)?;
        let Some(cached) = &self.cached else {
            let v = self.codec.value(value)?;
            return Ok(self.engine.borrow_mut().put(&k, start, end, v.as_deref())?);
        };
        let mut cached = cached.borrow_mut();
        let (observed, retention) = {
            let engine = self.engine.borrow();
            (engine.observed_stream_time(), engine.retention())
        };
        if !cached.accepts(end, observed, retention) {
            return Ok(false);
        }
        let value = value.filter(|v| !self.codec.value.is_null(v)).cloned();
        let entry = Entry {
            value,
            dirty: true,
            timestamp,
        };
        cached.cache.put((k, end, start), entry);
        self.evict(&mut cached)?;
        Ok(true)
    }

    /// The value of exactly the session `[start, end]` of `key`.
    pub fn fetch_session(&self, key: &K, start: i64, end: i64) -> Result<Option<V>, StateError> {
        let place = (self.codec.key(key)?, end, start);
        if let Some(cached) = &self.cached {
            let mut cached = cached.borrow_mut();
            if end < self.live_from(&cached) {
                return Ok(None);
            }
            if let Some(entry) = cached.cache.get(&place) {
                return Ok(entry.value.clone());
            }
        }
        let bytes = self.engine.borrow().fetch_session(&place.0, start, end)?;
        bytes.map(|b| self.codec.decode_value(&b)).transpose()
    }

    /// The sessions of `key` ending at or after `earliest_end` and starting at or before
    /// `latest_start`, by end then start.
    pub fn find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionValue<K, V>>, StateError> {
        let k = self.codec.key(key)?;
        let entries = self
            .engine
            .borrow()
            .find_sessions(&k, earliest_end, latest_start)?;
        let range = (
            Bound::Included((k.clone(), earliest_end, i64::MIN)),
            Bound::Included((k, i64::MAX, i64::MAX)),
        );
        let found = self.merged(entries, range, |p| p.2 <= latest_start)?;
        self.decode_keys(found)
    }

    /// The same sessions as [`find_sessions`](Self::find_sessions), in reverse order.
    pub fn backward_find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionValue<K, V>>, StateError> {
        let mut found = self.find_sessions(key, earliest_end, latest_start)?;
        found.reverse();
        Ok(found)
    }

    /// Every retained session of `key`.
    pub fn fetch(&self, key: &K) -> Result<Vec<SessionValue<K, V>>, StateError> {
        let k = self.codec.key(key)?;
        let entries = self.engine.borrow().fetch(&k)?;
        let range = (
            Bound::Included((k.clone(), i64::MIN, i64::MIN)),
            Bound::Included((k, i64::MAX, i64::MAX)),
        );
        self.decode_keys(self.merged(entries, range, |_| true)?)
    }

    /// Every retained session.
    pub fn all(&self) -> Result<Vec<SessionValue<K, V>>, StateError> {
        let entries = self.engine.borrow().all()?;
        self.decode_keys(self.merged(entries, .., |_| true)?)
    }

    /// Writes every dirty cached session through to the engine (and its changelog).
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
    /// `f`, in the order they were written, keyed by `(key, start, end)`. A removed session
    /// comes as a change to `None`.
    pub fn drain_flushed<E>(
        &self,
        mut f: impl FnMut(FlushedChange<(K, i64, i64), V>) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<StateError>,
    {
        let Some(cached) = &self.cached else {
            return Ok(());
        };
        let flushed = std::mem::take(&mut cached.borrow_mut().flushed);
        for change in flushed {
            let (key, end, start) = change.key;
            f(FlushedChange {
                key: (self.codec.decode_key(&key)?, start, end),
                new: change.new,
                old: change.old,
                timestamp: change.timestamp,
            })?;
        }
        Ok(())
    }

    /// The engine's `entries` with the cached writes in `range` that `keep` accepts laid
    /// over them.
    fn merged(
        &self,
        entries: Vec<SessionEntry>,
        range: impl RangeBounds<Place>,
        keep: impl Fn(&Place) -> bool,
    ) -> Result<Vec<(Place, V)>, StateError> {
        let stored = entries
            .into_iter()
            .map(|e| Ok(((e.key, e.end, e.start), self.codec.decode_value(&e.value)?)))
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
            .filter(|(place, _)| keep(place))
            .map(|(place, entry)| (place.clone(), entry.value.clone()))
            .collect();
        Ok(merge(stored, overlay))
    }

    fn decode_keys(&self, found: Vec<(Place, V)>) -> Result<Vec<SessionValue<K, V>>, StateError> {
        found
            .into_iter()
            .map(|((key, end, start), value)| Ok((self.codec.decode_key(&key)?, start, end, value)))
            .collect()
    }

    /// The oldest time the store still retains, for reads of `cached`.
    fn live_from(&self, cached: &CacheLayer<Place, V>) -> i64 {
        let engine = self.engine.borrow();
        cached.live_from(engine.observed_stream_time(), engine.retention())
    }

    /// Writes evicted dirty sessions through, while the cache budget is exceeded.
    fn evict(&self, cached: &mut CacheLayer<Place, V>) -> Result<(), StateError> {
        while let Some(leaving) = cached.cache.evict_one_if_over() {
            if leaving.entry.dirty {
                self.write_back(cached, leaving)?;
            }
        }
        Ok(())
    }

    /// Writes one cached session to the engine, reporting the change if the cache reports
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
        let (key, end, start) = (&place.0, place.1, place.2);
        let mut engine = self.engine.borrow_mut();
        if !cached.reporting {
            engine.put(key, start, end, bytes.as_deref())?;
            return Ok(());
        }
        let (old, old_bytes) = match stored {
            Some(old) => {
                let old_bytes = self.codec.value(old.as_ref())?;
                (old, old_bytes)
            }
            None => {
                let old_bytes = engine.fetch_session(key, start, end)?;
                let old = old_bytes.as_ref().map(|b| self.codec.decode_value(b));
                (old.transpose()?, old_bytes)
            }
        };
        if old_bytes == bytes || !engine.put(key, start, end, bytes.as_deref())? {
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

super::windowed::managed_windowed_store!(SessionStore);

#[cfg(test)]
mod tests {
    use state_stores::InMemorySessionStore;

    use super::*;
    use crate::state::ordered_cache::tests::Random;
    use crate::Serdes;

    fn store(budget: Option<&CacheBudget>) -> SessionStore<String, i64> {
        let codec = Rc::new(Codec {
            topic: "app-s-changelog".into(),
            key: Serdes::string(),
            value: Serdes::i64(),
        });
        let engine = Box::new(InMemorySessionStore::new("s", 10_000));
        let store = SessionStore::new(engine, codec, Rc::from("s"));
        match budget {
            Some(budget) => store.with_cache(budget.clone()),
            None => store,
        }
    }

    #[test]
    fn a_cached_store_reads_like_an_uncached_one_through_evictions_and_flushes() {
        for seed in 1..=40 {
            let mut random = Random(seed);
            let budget = CacheBudget::new(5 * 300);
            let (plain, cached) = (store(None), store(Some(&budget)));
            for step in 0..300 {
                let key = format!("k{}", random.below(4));
                let start = 10 * random.below(50) as i64;
                let end = start + 10 * random.below(5) as i64;
                let value = (random.below(5) > 0).then(|| random.below(100) as i64);
                assert_eq!(
                    plain.put(&key, start, end, value.as_ref()).unwrap(),
                    cached.put(&key, start, end, value.as_ref()).unwrap()
                );
                if random.below(20) == 0 {
                    cached.flush_cache().unwrap();
                }
                let (earliest_end, latest_start) =
                    (10 * random.below(50) as i64, 10 * random.below(50) as i64);
                let at = format!("seed {seed} step {step}");
                assert_eq!(
                    plain.fetch_session(&key, start, end).unwrap(),
                    cached.fetch_session(&key, start, end).unwrap(),
                    "{at}"
                );
                assert_eq!(
                    plain
                        .find_sessions(&key, earliest_end, latest_start)
                        .unwrap(),
                    cached
                        .find_sessions(&key, earliest_end, latest_start)
                        .unwrap(),
                    "{at}"
                );
                assert_eq!(
                    plain
                        .backward_find_sessions(&key, earliest_end, latest_start)
                        .unwrap(),
                    cached
                        .backward_find_sessions(&key, earliest_end, latest_start)
                        .unwrap(),
                    "{at}"
                );
                assert_eq!(
                    plain.fetch(&key).unwrap(),
                    cached.fetch(&key).unwrap(),
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
    fn a_merge_flushes_the_removal_of_a_seen_session_before_the_merged_one() {
        let budget = CacheBudget::new(1 << 20);
        let s = store(Some(&budget));
        s.put(&"a".into(), 0, 0, Some(&1)).unwrap();
        s.flush_cache().unwrap();
        // A session that never left the cache, then the merge that replaces both.
        s.put(&"a".into(), 20, 20, Some(&1)).unwrap();
        s.put(&"a".into(), 0, 0, None).unwrap();
        s.put(&"a".into(), 20, 20, None).unwrap();
        s.put(&"a".into(), 0, 20, Some(&3)).unwrap();
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
                (("a".into(), 0, 0), Some(1), None),
                (("a".into(), 0, 0), None, Some(1)),
                (("a".into(), 0, 20), Some(3), None),
            ]
        );
    }
}
