//! The changelog layer of window and session stores: the window (or session) is encoded in
//! the changelog key, so that restoration puts each record back in its window.

use crate::session::session_changelog_key;
use crate::window::{window_changelog_key, window_changelog_key_into};
use crate::{
    ChangelogRecord, Restorable, SessionBytesStore, SessionEntry, SharedSink, StateStore,
    StoreError, WindowBytesStore, WindowEntry, WindowWrite,
};

/// A window store whose retained writes are logged as `key ++ window start` records.
pub struct LoggedWindowStore {
    inner: Box<dyn WindowBytesStore>,
    sink: SharedSink,
}

impl LoggedWindowStore {
    /// Logs the writes to `inner` into `sink`.
    pub fn new(inner: Box<dyn WindowBytesStore>, sink: SharedSink) -> Self {
        Self { inner, sink }
    }
}

/// A session store whose retained writes are logged as `key ++ end ++ start` records.
pub struct LoggedSessionStore {
    inner: Box<dyn SessionBytesStore>,
    sink: SharedSink,
}

impl LoggedSessionStore {
    /// Logs the writes to `inner` into `sink`.
    pub fn new(inner: Box<dyn SessionBytesStore>, sink: SharedSink) -> Self {
        Self { inner, sink }
    }
}

macro_rules! state_store_via_inner {
    ($t:ty) => {
        impl StateStore for $t {
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

        impl Restorable for $t {
            fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
                self.inner.restore_batch(records)
            }
        }
    };
}

state_store_via_inner!(LoggedWindowStore);
state_store_via_inner!(LoggedSessionStore);

impl WindowBytesStore for LoggedWindowStore {
    fn put(
        &mut self,
        key: &[u8],
        window_start: i64,
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let retained = self.inner.put(key, window_start, value)?;
        if retained {
            let changelog_key = window_changelog_key(key, window_start);
            self.sink
                .borrow_mut()
                .send(self.inner.name(), &changelog_key, value);
        }
        Ok(retained)
    }

    /// The batch goes to the engine first, then each retained write to the changelog, in
    /// the batch's order.
    fn put_batch(&mut self, writes: &[WindowWrite<'_>]) -> Result<Vec<bool>, StoreError> {
        let retained = self.inner.put_batch(writes)?;
        let mut sink = self.sink.borrow_mut();
        // One key buffer for the whole batch.
        let mut changelog_key = Vec::new();
        for (write, _) in writes.iter().zip(&retained).filter(|(_, kept)| **kept) {
            window_changelog_key_into(write.key, write.start, &mut changelog_key);
            sink.send(self.inner.name(), &changelog_key, write.value);
        }
        Ok(retained)
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.fetch(key, window_start)
    }

    fn fetch_range(&self, key: &[u8], from: i64, to: i64) -> Result<Vec<WindowEntry>, StoreError> {
        self.inner.fetch_range(key, from, to)
    }

    fn backward_fetch_range(
        &self,
        key: &[u8],
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowEntry>, StoreError> {
        self.inner.backward_fetch_range(key, from, to)
    }

    fn fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowEntry>, StoreError> {
        self.inner.fetch_key_range(key_from, key_to, from, to)
    }

    fn backward_fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowEntry>, StoreError> {
        self.inner
            .backward_fetch_key_range(key_from, key_to, from, to)
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

impl SessionBytesStore for LoggedSessionStore {
    fn put(
        &mut self,
        key: &[u8],
        start: i64,
        end: i64,
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let retained = self.inner.put(key, start, end, value)?;
        if retained {
            let changelog_key = session_changelog_key(key, start, end);
            self.sink
                .borrow_mut()
                .send(self.inner.name(), &changelog_key, value);
        }
        Ok(retained)
    }

    fn fetch_session(
        &self,
        key: &[u8],
        start: i64,
        end: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.fetch_session(key, start, end)
    }

    fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        self.inner.find_sessions(key, earliest_end, latest_start)
    }

    fn backward_find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        self.inner
            .backward_find_sessions(key, earliest_end, latest_start)
    }

    fn find_sessions_in_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        self.inner
            .find_sessions_in_key_range(key_from, key_to, earliest_end, latest_start)
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
