//! The metered layer: times each operation on the store below it (Kafka Streams' store
//! metrics at the `DEBUG` recording level: put, get, delete and range latency), for
//! key-value, window, session and versioned stores. It reports
//! what it timed through [`StateStore::engine_metrics`]. Two clock reads per operation, so
//! the runtime puts it on top of a store only when asked to.

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::{
    ChangelogRecord, EngineMetrics, KeyValueBytesStore, KeyValueIter, Restorable,
    SessionBytesStore, SessionEntry, StateStore, StoreError, VersionedBytesStore, VersionedPut,
    VersionedRecord, WindowBytesStore, WindowEntry, WindowWrite,
};

/// How often one kind of operation ran and how long it took.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OperationLatency {
    /// Operations timed.
    pub count: u64,
    /// Their time together.
    pub total: Duration,
    /// The longest of them.
    pub max: Duration,
}

impl OperationLatency {
    /// The mean time of an operation, or `None` before any.
    pub fn mean(&self) -> Option<Duration> {
        (self.count > 0).then(|| self.total / self.count.min(u32::MAX as u64) as u32)
    }
}

/// What a metered store timed, by kind of operation. Reads of one window or session count as
/// `get`, scans (ranges, fetches over time, session searches) as `range`; a window or
/// session removed by writing no value counts as `put`, as in Kafka Streams.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreOperations {
    /// Writes (`put`, `put_if_absent`, batches count once per record).
    pub put: OperationLatency,
    /// Point reads.
    pub get: OperationLatency,
    /// Deletes of a key.
    pub delete: OperationLatency,
    /// Scans; the time to open the scan, not to read through it.
    pub range: OperationLatency,
}

/// The running figures of one kind of operation.
#[derive(Debug, Default)]
struct Timer {
    count: Cell<u64>,
    total_nanos: Cell<u64>,
    max_nanos: Cell<u64>,
}

impl Timer {
    fn time<R>(&self, operations: u64, f: impl FnOnce() -> R) -> R {
        let started = Instant::now();
        let result = f();
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.count.set(self.count.get() + operations);
        self.total_nanos
            .set(self.total_nanos.get().saturating_add(nanos));
        self.max_nanos.set(self.max_nanos.get().max(nanos));
        result
    }

    fn latency(&self) -> OperationLatency {
        OperationLatency {
            count: self.count.get(),
            total: Duration::from_nanos(self.total_nanos.get()),
            max: Duration::from_nanos(self.max_nanos.get()),
        }
    }
}

#[derive(Debug, Default)]
struct Timers {
    put: Timer,
    get: Timer,
    delete: Timer,
    range: Timer,
}

impl Timers {
    fn operations(&self) -> StoreOperations {
        StoreOperations {
            put: self.put.latency(),
            get: self.get.latency(),
            delete: self.delete.latency(),
            range: self.range.latency(),
        }
    }
}

/// A store of kind `S` (a boxed key-value, window or session store) with its operations
/// timed.
pub struct Metered<S: ?Sized> {
    inner: Box<S>,
    timers: Timers,
}

impl<S: ?Sized> Metered<S> {
    /// Times the operations on `inner`.
    pub fn new(inner: Box<S>) -> Self {
        Self {
            inner,
            timers: Timers::default(),
        }
    }
}

impl<S: StateStore + ?Sized> StateStore for Metered<S> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn persistent(&self) -> bool {
        self.inner.persistent()
    }

    fn is_open(&self) -> bool {
        self.inner.is_open()
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.inner.flush()
    }

    fn close(&mut self) {
        self.inner.close();
    }

    fn engine_metrics(&self) -> EngineMetrics {
        EngineMetrics {
            operations: Some(self.timers.operations()),
            ..self.inner.engine_metrics()
        }
    }
}

impl<S: Restorable + ?Sized> Restorable for Metered<S> {
    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        self.inner.restore_batch(records)
    }
}

impl KeyValueBytesStore for Metered<dyn KeyValueBytesStore> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.timers.get.time(1, || self.inner.get(key))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let inner = &mut self.inner;
        self.timers.put.time(1, || inner.put(key, value))
    }

    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = &mut self.inner;
        self.timers.put.time(1, || inner.put_if_absent(key, value))
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let inner = &mut self.inner;
        self.timers.delete.time(1, || inner.delete(key))
    }

    fn range(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<KeyValueIter<'_>, StoreError> {
        self.timers.range.time(1, || self.inner.range(from, to))
    }

    fn reverse_range(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<KeyValueIter<'_>, StoreError> {
        self.timers
            .range
            .time(1, || self.inner.reverse_range(from, to))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>, StoreError> {
        self.timers.range.time(1, || self.inner.prefix_scan(prefix))
    }

    fn all(&self) -> Result<KeyValueIter<'_>, StoreError> {
        self.timers.range.time(1, || self.inner.all())
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.inner.approximate_num_entries()
    }

    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        self.inner.restore_batch(records)
    }
}

impl WindowBytesStore for Metered<dyn WindowBytesStore> {
    fn put(
        &mut self,
        key: &[u8],
        window_start: i64,
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let inner = &mut self.inner;
        self.timers
            .put
            .time(1, || inner.put(key, window_start, value))
    }

    fn put_batch(&mut self, writes: &[WindowWrite<'_>]) -> Result<Vec<bool>, StoreError> {
        let inner = &mut self.inner;
        self.timers
            .put
            .time(writes.len() as u64, || inner.put_batch(writes))
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.timers
            .get
            .time(1, || self.inner.fetch(key, window_start))
    }

    fn fetch_range(&self, key: &[u8], from: i64, to: i64) -> Result<Vec<WindowEntry>, StoreError> {
        self.timers
            .range
            .time(1, || self.inner.fetch_range(key, from, to))
    }

    fn backward_fetch_range(
        &self,
        key: &[u8],
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowEntry>, StoreError> {
        self.timers
            .range
            .time(1, || self.inner.backward_fetch_range(key, from, to))
    }

    fn fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowEntry>, StoreError> {
        self.timers
            .range
            .time(1, || self.inner.fetch_key_range(key_from, key_to, from, to))
    }

    fn backward_fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowEntry>, StoreError> {
        self.timers.range.time(1, || {
            self.inner
                .backward_fetch_key_range(key_from, key_to, from, to)
        })
    }

    fn all(&self) -> Result<Vec<WindowEntry>, StoreError> {
        self.timers.range.time(1, || self.inner.all())
    }

    fn retention(&self) -> i64 {
        self.inner.retention()
    }

    fn observed_stream_time(&self) -> i64 {
        self.inner.observed_stream_time()
    }

    fn latest_stored_start(&self) -> i64 {
        self.inner.latest_stored_start()
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.inner.approximate_num_entries()
    }
}

impl SessionBytesStore for Metered<dyn SessionBytesStore> {
    fn put(
        &mut self,
        key: &[u8],
        start: i64,
        end: i64,
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let inner = &mut self.inner;
        self.timers
            .put
            .time(1, || inner.put(key, start, end, value))
    }

    fn fetch_session(
        &self,
        key: &[u8],
        start: i64,
        end: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.timers
            .get
            .time(1, || self.inner.fetch_session(key, start, end))
    }

    fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        self.timers.range.time(1, || {
            self.inner.find_sessions(key, earliest_end, latest_start)
        })
    }

    fn backward_find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        self.timers.range.time(1, || {
            self.inner
                .backward_find_sessions(key, earliest_end, latest_start)
        })
    }

    fn find_sessions_in_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        self.timers.range.time(1, || {
            self.inner
                .find_sessions_in_key_range(key_from, key_to, earliest_end, latest_start)
        })
    }

    fn fetch(&self, key: &[u8]) -> Result<Vec<SessionEntry>, StoreError> {
        self.timers.range.time(1, || self.inner.fetch(key))
    }

    fn all(&self) -> Result<Vec<SessionEntry>, StoreError> {
        self.timers.range.time(1, || self.inner.all())
    }

    fn retention(&self) -> i64 {
        self.inner.retention()
    }

    fn observed_stream_time(&self) -> i64 {
        self.inner.observed_stream_time()
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.inner.approximate_num_entries()
    }
}

impl VersionedBytesStore for Metered<dyn VersionedBytesStore> {
    fn put(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<VersionedPut, StoreError> {
        let inner = &mut self.inner;
        self.timers.put.time(1, || inner.put(key, value, timestamp))
    }

    fn get(&self, key: &[u8]) -> Result<Option<VersionedRecord>, StoreError> {
        self.timers.get.time(1, || self.inner.get(key))
    }

    fn get_as_of(&self, key: &[u8], as_of: i64) -> Result<Option<VersionedRecord>, StoreError> {
        self.timers.get.time(1, || self.inner.get_as_of(key, as_of))
    }

    fn delete(
        &mut self,
        key: &[u8],
        timestamp: i64,
    ) -> Result<Option<VersionedRecord>, StoreError> {
        let inner = &mut self.inner;
        self.timers.delete.time(1, || inner.delete(key, timestamp))
    }

    fn history_retention(&self) -> i64 {
        self.inner.history_retention()
    }

    fn observed_stream_time(&self) -> i64 {
        self.inner.observed_stream_time()
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.inner.approximate_num_entries()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryKeyValueStore;

    #[test]
    fn each_kind_of_operation_is_counted_apart() {
        let inner: Box<dyn KeyValueBytesStore> = Box::new(InMemoryKeyValueStore::new("s"));
        let mut store = Metered::new(inner);
        store.put(b"a", b"1").unwrap();
        store.put(b"b", b"2").unwrap();
        assert_eq!(store.get(b"a").unwrap(), Some(b"1".to_vec()));
        store.delete(b"b").unwrap();
        assert_eq!(store.range(None, None).unwrap().count(), 1);
        let ops = store.engine_metrics().operations.unwrap();
        assert_eq!(
            (
                ops.put.count,
                ops.get.count,
                ops.delete.count,
                ops.range.count
            ),
            (2, 1, 1, 1)
        );
        assert!(ops.put.max <= ops.put.total);
        assert!(ops.put.mean().is_some());
        assert_eq!(OperationLatency::default().mean(), None);
    }
}
