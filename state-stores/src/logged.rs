//! The changelog layer: passes every write to the engine below and records it in the store's
//! changelog through a [`ChangelogSink`]. Restoration writes to the engine directly.

use std::cell::RefCell;
use std::rc::Rc;

use crate::{
    ChangelogRecord, ChangelogSink, KeyValueBytesStore, KeyValueIter, Restorable, StateStore,
    StoreError,
};

/// A shared changelog sink, as the stores of one task hold it.
pub type SharedSink = Rc<RefCell<dyn ChangelogSink>>;

/// A key-value store whose writes are logged: a put sends `(key, value)`, a delete a
/// tombstone, to the sink.
///
/// A timestamped store's values start with their time (8 bytes big-endian); as in Kafka
/// Streams, its changelog records carry the value alone, with the time as the record's
/// timestamp, and restoration puts the time back in front.
pub struct LoggedKeyValueStore {
    inner: Box<dyn KeyValueBytesStore>,
    sink: SharedSink,
    timestamped: bool,
}

/// The length of the time in front of a timestamped store's values.
const TIME: usize = 8;

impl LoggedKeyValueStore {
    /// Logs the writes to `inner` into `sink`.
    pub fn new(inner: Box<dyn KeyValueBytesStore>, sink: SharedSink) -> Self {
        Self {
            inner,
            sink,
            timestamped: false,
        }
    }

    /// Logs the writes to `inner`, a store of timestamped values, into `sink`.
    pub fn timestamped(inner: Box<dyn KeyValueBytesStore>, sink: SharedSink) -> Self {
        Self {
            timestamped: true,
            ..Self::new(inner, sink)
        }
    }

    fn log(&self, key: &[u8], value: Option<&[u8]>) {
        let mut sink = self.sink.borrow_mut();
        let name = self.inner.name();
        match value {
            Some(v) if self.timestamped && v.len() >= TIME => {
                let (time, value) = v.split_at(TIME);
                let mut bytes = [0; TIME];
                bytes.copy_from_slice(time);
                sink.send_at(name, key, Some(value), i64::from_be_bytes(bytes));
            }
            _ => sink.send(name, key, value),
        }
    }

    fn restore(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        if !self.timestamped {
            return self.inner.restore_batch(records);
        }
        let with_times: Vec<ChangelogRecord> = records
            .iter()
            .map(|r| ChangelogRecord {
                key: r.key.clone(),
                value: r
                    .value
                    .as_ref()
                    .map(|v| [&r.timestamp.to_be_bytes()[..], v].concat()),
                timestamp: r.timestamp,
            })
            .collect();
        self.inner.restore_batch(&with_times)
    }
}

impl StateStore for LoggedKeyValueStore {
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

impl KeyValueBytesStore for LoggedKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(key)
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.inner.put(key, value)?;
        self.log(key, Some(value));
        Ok(())
    }

    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let existing = self.inner.put_if_absent(key, value)?;
        if existing.is_none() {
            self.log(key, Some(value));
        }
        Ok(existing)
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.inner.delete(key)?;
        // A tombstone even for a missing key: compaction drops it, and the changelog never
        // disagrees with the store.
        self.log(key, None);
        Ok(old)
    }

    fn range(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<KeyValueIter<'_>, StoreError> {
        self.inner.range(from, to)
    }

    fn reverse_range(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<KeyValueIter<'_>, StoreError> {
        self.inner.reverse_range(from, to)
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>, StoreError> {
        self.inner.prefix_scan(prefix)
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.inner.approximate_num_entries()
    }

    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        self.restore(records)
    }
}

impl Restorable for LoggedKeyValueStore {
    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        self.restore(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryKeyValueStore;

    #[derive(Default)]
    struct Recorder(Vec<(String, Vec<u8>, Option<Vec<u8>>)>, Vec<i64>);

    impl ChangelogSink for Recorder {
        fn send(&mut self, store: &str, key: &[u8], value: Option<&[u8]>) {
            self.0
                .push((store.to_owned(), key.to_vec(), value.map(<[u8]>::to_vec)));
        }

        fn send_at(&mut self, store: &str, key: &[u8], value: Option<&[u8]>, timestamp: i64) {
            self.send(store, key, value);
            self.1.push(timestamp);
        }
    }

    #[test]
    fn a_timestamped_store_logs_the_time_as_the_record_s_and_restores_it_in_front() {
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let sink: SharedSink = recorder.clone();
        let inner = Box::new(InMemoryKeyValueStore::new("s"));
        let mut store = LoggedKeyValueStore::timestamped(inner, sink);
        let stored = [&7i64.to_be_bytes()[..], b"v"].concat();
        store.put(b"a", &stored).unwrap();
        assert_eq!(recorder.borrow().0[0].2, Some(b"v".to_vec()));
        assert_eq!(recorder.borrow().1, [7]);
        let record = ChangelogRecord {
            key: b"b".to_vec(),
            value: Some(b"w".to_vec()),
            timestamp: 9,
        };
        KeyValueBytesStore::restore_batch(&mut store, &[record]).unwrap();
        let restored = [&9i64.to_be_bytes()[..], b"w"].concat();
        assert_eq!(store.get(b"b").unwrap(), Some(restored));
    }

    #[test]
    fn every_write_is_logged_and_restoration_is_not() {
        let recorder = Rc::new(RefCell::new(Recorder::default()));
        let sink: SharedSink = recorder.clone();
        let mut store = LoggedKeyValueStore::new(Box::new(InMemoryKeyValueStore::new("s")), sink);
        store.put(b"a", b"1").unwrap();
        assert_eq!(
            store.put_if_absent(b"a", b"2").unwrap(),
            Some(b"1".to_vec())
        );
        store.put_if_absent(b"b", b"3").unwrap();
        store.delete(b"a").unwrap();
        KeyValueBytesStore::restore_batch(
            &mut store,
            &[ChangelogRecord {
                key: b"c".to_vec(),
                value: Some(b"4".to_vec()),
                timestamp: 0,
            }],
        )
        .unwrap();
        let log = &recorder.borrow().0;
        let expected = vec![
            ("s".to_owned(), b"a".to_vec(), Some(b"1".to_vec())),
            ("s".to_owned(), b"b".to_vec(), Some(b"3".to_vec())),
            ("s".to_owned(), b"a".to_vec(), None),
        ];
        assert_eq!(*log, expected);
        assert_eq!(store.get(b"c").unwrap(), Some(b"4".to_vec()));
    }
}
