//! The changelog layer of versioned stores: each stored version is logged under its plain
//! key, with its timestamp in the value (see [`versioned_changelog_value`]).

use crate::versioned::versioned_changelog_value;
use crate::{
    ChangelogRecord, Restorable, SharedSink, StateStore, StoreError, VersionedBytesStore,
    VersionedPut, VersionedRecord,
};

/// A versioned store whose stored (not expired) writes are logged.
pub struct LoggedVersionedStore {
    inner: Box<dyn VersionedBytesStore>,
    sink: SharedSink,
}

impl LoggedVersionedStore {
    /// Logs the writes to `inner` into `sink`.
    pub fn new(inner: Box<dyn VersionedBytesStore>, sink: SharedSink) -> Self {
        Self { inner, sink }
    }
}

impl StateStore for LoggedVersionedStore {
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

    fn engine_metrics(&self) -> crate::EngineMetrics {
        self.inner.engine_metrics()
    }
}

impl Restorable for LoggedVersionedStore {
    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        self.inner.restore_batch(records)
    }
}

impl VersionedBytesStore for LoggedVersionedStore {
    fn put(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<VersionedPut, StoreError> {
        let outcome = self.inner.put(key, value, timestamp)?;
        if outcome != VersionedPut::Expired {
            let logged = versioned_changelog_value(value, timestamp);
            self.sink
                .borrow_mut()
                .send(self.inner.name(), key, Some(&logged));
        }
        Ok(outcome)
    }

    fn get(&self, key: &[u8]) -> Result<Option<VersionedRecord>, StoreError> {
        self.inner.get(key)
    }

    fn get_as_of(&self, key: &[u8], as_of: i64) -> Result<Option<VersionedRecord>, StoreError> {
        self.inner.get_as_of(key, as_of)
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
