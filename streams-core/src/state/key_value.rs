use std::cell::RefCell;
use std::rc::Rc;

use state_stores::{ChangelogRecord, KeyValueBytesStore, StoreError};

use super::cache::{Entry, RecordCache};
use super::registry::ManagedStore;
use super::{CacheBudget, ValueAndTimestamp};
use crate::{Encoded, Headers, SerdeError, SerdeRef, Serializer, StateError};

struct Engine {
    name: String,
    /// The topic name handed to serdes: the store's changelog topic, as in Kafka Streams.
    serde_topic: String,
    bytes: RefCell<Box<dyn KeyValueBytesStore>>,
    key_buf: RefCell<Vec<u8>>,
    value_buf: RefCell<Vec<u8>>,
}

/// What [`KeyValueStore::put_if_changed`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutOutcome<V> {
    /// The stored encoding already equalled the new one; nothing was written.
    Unchanged,
    /// The value was written (or deleted); `old` is what it replaced.
    Changed {
        /// The previous value.
        old: Option<V>,
    },
}

/// A change that a cache flush wrote through to the engine: what downstream should see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlushedChange<K, V> {
    /// The key.
    pub key: K,
    /// The new value (`None`: deleted).
    pub new: Option<V>,
    /// The value the engine held before.
    pub old: Option<V>,
    /// The time of the last update of the key.
    pub timestamp: i64,
}

struct Cached<V> {
    cache: RecordCache<V>,
    /// Changes written through by evictions and flushes (keys still serialized), waiting to
    /// be forwarded.
    flushed: Vec<FlushedChange<Vec<u8>, V>>,
    /// Whether flushes report their changes; without, a flush only writes.
    reporting: bool,
}

/// A typed key-value store: keys and values pass through their serdes to a byte engine, so
/// iteration follows the byte order of the serialized keys.
///
/// With a record cache, writes stay in memory as typed values until the cache is flushed (on
/// commit) or evicts them; each flushed key is then serialized, written and logged once, and
/// reported by [`drain_flushed`](Self::drain_flushed). Reads and range scans merge the cache
/// with the engine without flushing it; only [`for_each`](Self::for_each) and
/// [`scan_while`](Self::scan_while) flush it first.
///
/// A handle is cheap to clone; all clones use the same store. Writing a value whose serde
/// encodes it as null (for example `None` with an optional serde) deletes the key.
///
/// A store [`with_timestamps`](Self::with_timestamps) keeps each value's time beside it, as
/// Kafka Streams' timestamped stores do; reads of values alone are the same either way.
pub struct KeyValueStore<K, V> {
    engine: Rc<Engine>,
    cached: Option<Rc<RefCell<Cached<V>>>>,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    timestamped: bool,
}

/// The time [`KeyValueStore::get_with_timestamp`] reports for a value stored without one
/// (Kafka Streams' "unknown" time).
pub const NO_TIMESTAMP: i64 = -1;

impl<K, V> Clone for KeyValueStore<K, V> {
    fn clone(&self) -> Self {
        Self {
            engine: Rc::clone(&self.engine),
            cached: self.cached.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            timestamped: self.timestamped,
        }
    }
}

impl<K, V> std::fmt::Debug for KeyValueStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueStore")
            .field("name", &self.engine.name)
            .field("cached", &self.cached.is_some())
            .finish()
    }
}

type Pairs<K, V> = Result<Vec<(K, V)>, StateError>;

impl<K, V> KeyValueStore<K, V> {
    /// A typed store over `bytes`; `serde_topic` is the topic name handed to the serdes.
    pub fn new(
        bytes: Box<dyn KeyValueBytesStore>,
        serde_topic: impl Into<String>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        Self {
            engine: Rc::new(Engine {
                name: bytes.name().to_owned(),
                serde_topic: serde_topic.into(),
                bytes: RefCell::new(bytes),
                key_buf: RefCell::new(Vec::new()),
                value_buf: RefCell::new(Vec::new()),
            }),
            cached: None,
            key_serde,
            value_serde,
            timestamped: false,
        }
    }

    /// The same store, keeping each value's time (the `timestamp` of
    /// [`put_at`](Self::put_at)) beside it: the engine holds the time as 8 bytes big-endian
    /// before the value's encoding, as Kafka Streams' timestamped stores do (a logged store's
    /// changelog carries the value alone, with the time as the record's timestamp).
    pub fn with_timestamps(mut self) -> Self {
        self.timestamped = true;
        self
    }

    /// The same store with a record cache drawing on `budget`.
    pub fn with_cache(mut self, budget: CacheBudget) -> Self {
        self.cached = Some(Rc::new(RefCell::new(Cached {
            cache: RecordCache::new(budget),
            flushed: Vec::new(),
            reporting: true,
        })));
        self
    }

    /// Whether cache flushes and evictions report their changes through
    /// [`drain_flushed`](Self::drain_flushed) (the default). A processor that forwards every
    /// update itself turns this off: flushes then only write, without reading the old values.
    pub fn report_flushes(&self, reporting: bool) {
        if let Some(cached) = &self.cached {
            cached.borrow_mut().reporting = reporting;
        }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.engine.name
    }

    /// Whether the store has a record cache.
    pub fn is_cached(&self) -> bool {
        self.cached.is_some()
    }

    /// Whether `key` encodes as a null (an `Option` key's `None`), which no store can hold:
    /// aggregations drop such records, as Kafka Streams drops null keys.
    pub fn is_null_key(&self, key: &K) -> bool {
        self.key_serde.is_null(key)
    }

    /// The number of keys in the record cache.
    pub fn cached_entries(&self) -> usize {
        self.cached.as_ref().map_or(0, |c| c.borrow().cache.len())
    }

    fn encode_into<T>(
        &self,
        serde: &dyn Serializer<T>,
        value: &T,
        buf: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        buf.clear();
        serde.serialize(&self.engine.serde_topic, &mut Headers::new(), value, buf)
    }

    fn with_key<R>(
        &self,
        key: &K,
        f: impl FnOnce(&[u8]) -> Result<R, StateError>,
    ) -> Result<R, StateError> {
        let mut buf = self.engine.key_buf.borrow_mut();
        match self.encode_into(&*self.key_serde, key, &mut buf)? {
            Encoded::Bytes => f(&buf),
            Encoded::Null => Err(SerdeError::Custom("a store key cannot be null".into()).into()),
        }
    }

    /// Encodes `value` (`None` encodes as null) as the engine stores it, updated at
    /// `timestamp`, into `buf`.
    fn encode_stored(
        &self,
        value: Option<&V>,
        timestamp: i64,
        buf: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        buf.clear();
        let Some(value) = value else {
            return Ok(Encoded::Null);
        };
        if self.timestamped {
            buf.extend_from_slice(&timestamp.to_be_bytes());
        }
        let topic = &self.engine.serde_topic;
        self.value_serde
            .serialize(topic, &mut Headers::new(), value, buf)
    }

    /// Decodes what the engine stores: the value and its time.
    fn decode_stored(&self, bytes: &[u8]) -> Result<ValueAndTimestamp<V>, SerdeError> {
        let (timestamp, value) = if self.timestamped {
            let time: [u8; 8] = bytes.get(..8).and_then(|t| t.try_into().ok()).ok_or(
                SerdeError::InvalidLength {
                    expected: 8,
                    actual: bytes.len(),
                },
            )?;
            (i64::from_be_bytes(time), &bytes[8..])
        } else {
            (NO_TIMESTAMP, bytes)
        };
        let value =
            self.value_serde
                .deserialize(&self.engine.serde_topic, &Headers::new(), Some(value))?;
        Ok(ValueAndTimestamp { value, timestamp })
    }

    fn decode_value(&self, bytes: Option<Vec<u8>>) -> Result<Option<V>, StateError> {
        Ok(self.decode_with_timestamp(bytes)?.map(|v| v.value))
    }

    fn decode_with_timestamp(
        &self,
        bytes: Option<Vec<u8>>,
    ) -> Result<Option<ValueAndTimestamp<V>>, StateError> {
        bytes
            .map(|b| self.decode_stored(&b))
            .transpose()
            .map_err(Into::into)
    }

    /// Writes `value` (`None`, or a value that encodes as null, deletes), updated at
    /// `timestamp`, for the serialized `key` to the engine.
    fn write(&self, key: &[u8], value: Option<&V>, timestamp: i64) -> Result<(), StateError> {
        let mut vbuf = self.engine.value_buf.borrow_mut();
        let encoded = self.encode_stored(value, timestamp, &mut vbuf)?;
        let mut bytes = self.engine.bytes.borrow_mut();
        match encoded {
            Encoded::Bytes => bytes.put(key, &vbuf)?,
            Encoded::Null => {
                bytes.delete(key)?;
            }
        }
        Ok(())
    }

    /// Writes `value` (`None` deletes), updated at `timestamp`, for the serialized `key` to
    /// the engine; returns the engine's previous bytes. Returns `None` (nothing written) where
    /// there is nothing to delete or, if `only_if_changed`, where the stored bytes are
    /// already the same.
    fn write_through(
        &self,
        key: &[u8],
        value: Option<&V>,
        timestamp: i64,
        only_if_changed: bool,
    ) -> Result<Option<Option<Vec<u8>>>, StateError> {
        let mut vbuf = self.engine.value_buf.borrow_mut();
        let mut bytes = self.engine.bytes.borrow_mut();
        let encoded = self.encode_stored(value, timestamp, &mut vbuf)?;
        let old = bytes.get(key)?;
        let unchanged = match (&old, encoded) {
            (Some(old), Encoded::Bytes) => only_if_changed && old[..] == vbuf[..],
            (None, Encoded::Null) => true,
            _ => false,
        };
        if unchanged {
            return Ok(None);
        }
        match encoded {
            Encoded::Bytes => bytes.put(key, &vbuf)?,
            Encoded::Null => {
                bytes.delete(key)?;
            }
        }
        Ok(Some(old))
    }
}

impl<K, V: Clone> KeyValueStore<K, V> {
    /// Writes evicted dirty entries through, while the cache budget is exceeded.
    fn evict(&self, cached: &mut Cached<V>) -> Result<(), StateError> {
        while let Some((key, entry)) = cached.cache.evict_one_if_over() {
            if entry.dirty {
                self.flush_entry(cached, key, entry.value, entry.timestamp)?;
            }
        }
        Ok(())
    }

    fn flush_entry(
        &self,
        cached: &mut Cached<V>,
        key: Vec<u8>,
        value: Option<V>,
        timestamp: i64,
    ) -> Result<(), StateError> {
        if !cached.reporting {
            return self.write(&key, value.as_ref(), timestamp);
        }
        // As Kafka Streams' caching stores: every flushed update is reported, even one that
        // leaves the stored value as it was; only a delete of a missing key is not.
        if let Some(old) = self.write_through(&key, value.as_ref(), timestamp, false)? {
            let old = self.decode_value(old)?;
            cached.flushed.push(FlushedChange {
                key,
                new: value,
                old,
                timestamp,
            });
        }
        Ok(())
    }

    /// Caches `value` for `key` as dirty, at `timestamp`.
    fn cache_put(
        &self,
        cached: &Rc<RefCell<Cached<V>>>,
        key: &K,
        value: Option<V>,
        timestamp: i64,
    ) -> Result<(), StateError> {
        let mut cached = cached.borrow_mut();
        self.with_key(key, |k| {
            cached.cache.put(
                k,
                Entry {
                    value,
                    dirty: true,
                    timestamp,
                },
            );
            Ok(())
        })?;
        self.evict(&mut cached)
    }

    /// The value for `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>, StateError> {
        Ok(self.get_with_timestamp(key)?.map(|v| v.value))
    }

    /// The value for `key` and the time of its last update: [`NO_TIMESTAMP`] where the store
    /// keeps no times and the value is not in the cache.
    pub fn get_with_timestamp(&self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, StateError> {
        let Some(cached) = &self.cached else {
            let bytes = self.with_key(key, |k| Ok(self.engine.bytes.borrow().get(k)?))?;
            return self.decode_with_timestamp(bytes);
        };
        let mut cached = cached.borrow_mut();
        let hit = self.with_key(key, |k| {
            Ok(cached.cache.get(k).map(|e| {
                e.value
                    .clone()
                    .map(|value| ValueAndTimestamp::new(value, e.timestamp))
            }))
        })?;
        if let Some(value) = hit {
            return Ok(value);
        }
        // A miss reads the engine without caching what it read: the write that usually
        // follows caches the key, and one entry per key keeps evictions cheap.
        drop(cached);
        let bytes = self.with_key(key, |k| Ok(self.engine.bytes.borrow().get(k)?))?;
        self.decode_with_timestamp(bytes)
    }

    /// Stores `value` for `key`; a value that encodes as null deletes the key.
    pub fn put(&self, key: &K, value: &V) -> Result<(), StateError> {
        self.put_at(key, Some(value), 0)
    }

    /// Stores `value` (`None` deletes) for `key`, updated at `timestamp` (the time a cache
    /// flush reports for it).
    pub fn put_at(&self, key: &K, value: Option<&V>, timestamp: i64) -> Result<(), StateError> {
        match &self.cached {
            Some(cached) => {
                let value = value.filter(|v| !self.value_serde.is_null(v)).cloned();
                self.cache_put(cached, key, value, timestamp)
            }
            None => self.with_key(key, |k| self.write(k, value, timestamp)),
        }
    }

    /// Stores `value` (`None`, or a value that encodes as null, deletes), updated at
    /// `timestamp`, unless the stored encoding (with the time, in a store
    /// [`with_timestamps`](Self::with_timestamps)) is already the same; returns what it did.
    /// (With a cache, every update is reported when the cache flushes.)
    pub fn put_if_changed(
        &self,
        key: &K,
        value: Option<&V>,
        timestamp: i64,
    ) -> Result<PutOutcome<V>, StateError> {
        if let Some(cached) = &self.cached {
            let old = self.get(key)?;
            let value = value.filter(|v| !self.value_serde.is_null(v)).cloned();
            self.cache_put(cached, key, value, timestamp)?;
            return Ok(PutOutcome::Changed { old });
        }
        match self.with_key(key, |k| self.write_through(k, value, timestamp, true))? {
            None => Ok(PutOutcome::Unchanged),
            Some(old) => Ok(PutOutcome::Changed {
                old: self.decode_value(old)?,
            }),
        }
    }

    /// Stores `value` only if `key` has no value; returns the value already there.
    pub fn put_if_absent(&self, key: &K, value: &V) -> Result<Option<V>, StateError> {
        let existing = self.get(key)?;
        if existing.is_none() {
            self.put(key, value)?;
        }
        Ok(existing)
    }

    /// Removes `key`; returns the value it had.
    pub fn delete(&self, key: &K) -> Result<Option<V>, StateError> {
        let old = self.get(key)?;
        self.put_at(key, None, 0)?;
        Ok(old)
    }

    /// Writes every dirty cached entry through to the engine (and its changelog); the
    /// changes wait in [`drain_flushed`](Self::drain_flushed). Without a cache, nothing to do.
    pub fn flush_cache(&self) -> Result<(), StateError> {
        let Some(cached) = &self.cached else {
            return Ok(());
        };
        let mut cached = cached.borrow_mut();
        for (key, value, timestamp) in cached.cache.take_dirty() {
            self.flush_entry(&mut cached, key, value, timestamp)?;
        }
        Ok(())
    }

    /// Hands every change that evictions and flushes wrote through since the last call to
    /// `f`, oldest first.
    pub fn drain_flushed<E>(
        &self,
        mut f: impl FnMut(FlushedChange<K, V>) -> Result<(), E>,
    ) -> Result<(), E>
    where
        E: From<StateError>,
    {
        let Some(cached) = &self.cached else {
            return Ok(());
        };
        let flushed = std::mem::take(&mut cached.borrow_mut().flushed);
        for change in flushed {
            let key = self
                .key_serde
                .deserialize(&self.engine.serde_topic, &Headers::new(), Some(&change.key))
                .map_err(|e| E::from(StateError::from(e)))?;
            f(FlushedChange {
                key,
                new: change.new,
                old: change.old,
                timestamp: change.timestamp,
            })?;
        }
        Ok(())
    }

    /// The engine's entries that `read` returns (in ascending key order), merged with the
    /// cached entries whose serialized keys `within` accepts: a cached value replaces the
    /// engine's, a cached delete hides it. The cache is read, not flushed, as Kafka Streams'
    /// caching stores merge their cache into range reads.
    fn scan(
        &self,
        within: impl Fn(&[u8]) -> bool,
        descending: bool,
        read: impl FnOnce(&dyn KeyValueBytesStore) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError>,
    ) -> Pairs<K, V> {
        let stored = read(&**self.engine.bytes.borrow())?;
        let stored = stored
            .into_iter()
            .map(|(k, v)| Ok((k, self.decode_stored(&v)?.value)))
            .collect::<Result<Vec<_>, StateError>>()?;
        let mut merged = super::ordered_cache::merge(stored, self.cached_within(within));
        if descending {
            merged.reverse();
        }
        let topic = &self.engine.serde_topic;
        let headers = Headers::new();
        merged
            .into_iter()
            .map(|(k, v)| Ok((self.key_serde.deserialize(topic, &headers, Some(&k))?, v)))
            .collect()
    }

    /// The cached entries (`None`: a cached delete) whose serialized keys `within` accepts,
    /// in ascending key order.
    fn cached_within(&self, within: impl Fn(&[u8]) -> bool) -> Vec<(Vec<u8>, Option<V>)> {
        let Some(cached) = &self.cached else {
            return Vec::new();
        };
        let mut entries = Vec::new();
        cached.borrow_mut().cache.for_each(|key, entry| {
            if within(key) {
                entries.push((key.to_vec(), entry.value.clone()));
            }
        });
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        entries
    }

    fn bounds(&self, from: &K, to: &K) -> Result<(Vec<u8>, Vec<u8>), StateError> {
        let (mut f, mut t) = (Vec::new(), Vec::new());
        self.encode_into(&*self.key_serde, from, &mut f)?;
        self.encode_into(&*self.key_serde, to, &mut t)?;
        Ok((f, t))
    }

    /// The entries with `from <= key <= to` in serialized-key order.
    pub fn range(&self, from: &K, to: &K) -> Pairs<K, V> {
        let (f, t) = self.bounds(from, to)?;
        let within = |k: &[u8]| f.as_slice() <= k && k <= t.as_slice();
        self.scan(within, false, |s| s.range(Some(&f), Some(&t))?.collect())
    }

    /// The same entries as [`range`](Self::range), in descending order.
    pub fn reverse_range(&self, from: &K, to: &K) -> Pairs<K, V> {
        let (f, t) = self.bounds(from, to)?;
        let within = |k: &[u8]| f.as_slice() <= k && k <= t.as_slice();
        self.scan(within, true, |s| s.range(Some(&f), Some(&t))?.collect())
    }

    /// Every entry, in serialized-key order.
    pub fn all(&self) -> Pairs<K, V> {
        self.scan(|_| true, false, |s| s.all()?.collect())
    }

    /// Calls `f` with every entry in serialized-key order, without collecting them (after
    /// flushing the cache); stops at the first error.
    pub fn for_each<E: From<StateError>>(
        &self,
        mut f: impl FnMut(K, V) -> Result<(), E>,
    ) -> Result<(), E> {
        self.scan_while(|k, v| f(k, v).map(|()| true))
    }

    /// Calls `f` with the entries in serialized-key order, without collecting them (after
    /// flushing the cache), until `f` returns `false`; stops at the first error. The store
    /// cannot be written from `f`.
    pub fn scan_while<E: From<StateError>>(
        &self,
        mut f: impl FnMut(K, V) -> Result<bool, E>,
    ) -> Result<(), E> {
        self.flush_cache()?;
        let bytes = self.engine.bytes.borrow();
        let topic = &self.engine.serde_topic;
        let headers = Headers::new();
        for item in bytes.all().map_err(StateError::from)? {
            let (k, v) = item.map_err(StateError::from)?;
            let key = self
                .key_serde
                .deserialize(topic, &headers, Some(&k))
                .map_err(StateError::from)?;
            let value = self.decode_stored(&v).map_err(StateError::from)?.value;
            if !f(key, value)? {
                break;
            }
        }
        Ok(())
    }

    /// Every entry, in descending serialized-key order.
    pub fn reverse_all(&self) -> Pairs<K, V> {
        self.scan(|_| true, true, |s| s.all()?.collect())
    }

    /// The entries whose serialized key starts with the encoding of `prefix` by `prefix_serde`.
    pub fn prefix_scan<P>(&self, prefix: &P, prefix_serde: &dyn Serializer<P>) -> Pairs<K, V> {
        let mut buf = Vec::new();
        self.encode_into(prefix_serde, prefix, &mut buf)?;
        self.scan(
            |k| k.starts_with(&buf),
            false,
            |s| s.prefix_scan(&buf)?.collect(),
        )
    }

    /// An estimate of the number of entries: the engine's, corrected by the cached writes
    /// that add or remove a key (the cache is read, not flushed).
    pub fn approximate_num_entries(&self) -> Result<u64, StateError> {
        let bytes = self.engine.bytes.borrow();
        let mut count = bytes.approximate_num_entries()?;
        for (key, value) in self.cached_within(|_| true) {
            match (value.is_some(), bytes.get(&key)?.is_some()) {
                (true, false) => count += 1,
                (false, true) => count = count.saturating_sub(1),
                _ => {}
            }
        }
        Ok(count)
    }
}

impl<K, V: Clone> ManagedStore for KeyValueStore<K, V> {
    fn name(&self) -> &str {
        &self.engine.name
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        // A processor flushes (and forwards) its cache itself; this catches one that did not,
        // so that the engine and the changelog never lag a commit.
        self.flush_cache()
            .map_err(|e| super::windowed::to_store_error(&self.engine.name, e))?;
        if let Some(cached) = &self.cached {
            // Processors drain their changes in their own flush, before this one: what is
            // left has no reader.
            cached.borrow_mut().flushed.clear();
        }
        self.engine.bytes.borrow_mut().flush()
    }

    fn close(&mut self) {
        self.engine.bytes.borrow_mut().close();
    }

    fn persistent(&self) -> bool {
        self.engine.bytes.borrow().persistent()
    }

    fn restore(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        self.engine.bytes.borrow_mut().restore_batch(records)
    }

    fn metrics(&self) -> super::StoreMetrics {
        let (cache_hits, cache_misses) = self.cached.as_ref().map_or((0, 0), |c| {
            let c = c.borrow();
            (c.cache.hits, c.cache.misses)
        });
        super::StoreMetrics {
            cache_hits,
            cache_misses,
            engine: self.engine.bytes.borrow().engine_metrics(),
            ..super::StoreMetrics::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use state_stores::InMemoryKeyValueStore;

    use super::*;
    use crate::Serdes;

    fn store() -> KeyValueStore<String, Option<i64>> {
        KeyValueStore::new(
            Box::new(InMemoryKeyValueStore::new("s")),
            "app-s-changelog",
            Serdes::string(),
            Serdes::optional(Serdes::i64()),
        )
    }

    #[test]
    fn typed_reads_and_writes() {
        for s in [store(), store().with_cache(CacheBudget::new(1 << 20))] {
            let k = |x: &str| x.to_string();
            s.put(&k("b"), &Some(2)).unwrap();
            s.put(&k("a"), &Some(1)).unwrap();
            s.put(&k("c"), &Some(3)).unwrap();
            assert_eq!(s.get(&k("a")).unwrap(), Some(Some(1)));
            assert_eq!(
                s.range(&k("a"), &k("b")).unwrap(),
                vec![(k("a"), Some(1)), (k("b"), Some(2))]
            );
            assert_eq!(s.reverse_all().unwrap()[0], (k("c"), Some(3)));
            assert_eq!(s.prefix_scan(&k("c"), &*Serdes::string()).unwrap().len(), 1);
            // A null value deletes.
            s.put(&k("a"), &None).unwrap();
            assert_eq!(s.get(&k("a")).unwrap(), None);
            assert_eq!(s.put_if_absent(&k("b"), &Some(9)).unwrap(), Some(Some(2)));
            assert_eq!(s.delete(&k("b")).unwrap(), Some(Some(2)));
            assert_eq!(s.approximate_num_entries().unwrap(), 1);
        }
    }

    #[test]
    fn put_if_changed_compares_encodings() {
        let s = store();
        let k = "a".to_string();
        assert_eq!(
            s.put_if_changed(&k, Some(&Some(1)), 0).unwrap(),
            PutOutcome::Changed { old: None }
        );
        assert_eq!(
            s.put_if_changed(&k, Some(&Some(1)), 0).unwrap(),
            PutOutcome::Unchanged
        );
        assert_eq!(
            s.put_if_changed(&k, Some(&None), 0).unwrap(),
            PutOutcome::Changed { old: Some(Some(1)) }
        );
        assert_eq!(
            s.put_if_changed(&k, None, 0).unwrap(),
            PutOutcome::Unchanged
        );
    }

    fn flushed(s: &KeyValueStore<String, Option<i64>>) -> Vec<FlushedChange<String, Option<i64>>> {
        let mut out = Vec::new();
        s.drain_flushed(|c| {
            out.push(c);
            Ok::<(), StateError>(())
        })
        .unwrap();
        out
    }

    #[test]
    fn a_cache_collapses_updates_until_it_is_flushed() {
        let s = store().with_cache(CacheBudget::new(1 << 20));
        let k = "a".to_string();
        s.put_at(&k, Some(&Some(1)), 10).unwrap();
        s.put_at(&k, Some(&Some(2)), 11).unwrap();
        s.put_at(&k, Some(&Some(3)), 12).unwrap();
        assert!(flushed(&s).is_empty());
        s.flush_cache().unwrap();
        let changes = flushed(&s);
        assert_eq!(
            changes,
            vec![FlushedChange {
                key: k.clone(),
                new: Some(Some(3)),
                old: None,
                timestamp: 12
            }]
        );
        // The same value again is still reported (as Kafka Streams' caching stores do), a
        // delete of a missing key is not.
        s.put_at(&k, Some(&Some(3)), 13).unwrap();
        s.flush_cache().unwrap();
        assert_eq!(flushed(&s)[0].old, Some(Some(3)));
        s.put_at(&"b".to_string(), None, 14).unwrap();
        s.flush_cache().unwrap();
        assert!(flushed(&s).is_empty());
    }

    #[test]
    fn a_timestamped_store_keeps_each_value_time_in_the_engine() {
        for s in [
            store().with_timestamps(),
            store()
                .with_timestamps()
                .with_cache(CacheBudget::new(1 << 20)),
        ] {
            let k = "a".to_string();
            s.put_at(&k, Some(&Some(7)), 42).unwrap();
            s.flush_cache().unwrap();
            assert_eq!(
                s.get_with_timestamp(&k).unwrap(),
                Some(ValueAndTimestamp::new(Some(7), 42))
            );
            let bytes = s.engine.bytes.borrow().get(b"a").unwrap().unwrap();
            assert_eq!(bytes[..8], 42i64.to_be_bytes());
            assert_eq!(s.all().unwrap(), vec![(k.clone(), Some(7))]);
            // The same value at a newer time is a change.
            assert_eq!(
                s.put_if_changed(&k, Some(&Some(7)), 43).unwrap(),
                PutOutcome::Changed { old: Some(Some(7)) }
            );
        }
        assert_eq!(store().get_with_timestamp(&"x".to_string()).unwrap(), None);
    }

    #[test]
    fn a_full_cache_evicts_the_least_recently_used_and_stays_within_budget() {
        let budget = CacheBudget::new(2_000);
        let s = store().with_cache(budget.clone());
        for i in 0..100i64 {
            s.put_at(&format!("key-{i:03}"), Some(&Some(i)), i).unwrap();
            assert!(
                budget.used() <= budget.limit(),
                "{} > {}",
                budget.used(),
                budget.limit()
            );
        }
        let evicted = flushed(&s);
        assert!(
            !evicted.is_empty() && evicted.len() < 100,
            "{}",
            evicted.len()
        );
        // The oldest keys went first, each written through to the engine once.
        assert_eq!(evicted[0].key, "key-000");
        assert_eq!(s.cached_entries() + evicted.len(), 100);
        s.flush_cache().unwrap();
        assert_eq!(flushed(&s).len() + evicted.len(), 100);
        drop(s);
        assert_eq!(budget.used(), 0);
    }
}
