//! Changelogs: every write of a logged store becomes a record that the runtime sends to the
//! store's compacted changelog topic, and restoration replays those records into the engine.

use crate::StoreError;

/// One record of a store's changelog: the engine key (for window and session stores, with
/// the window encoded in it) and the value, or `None` for a tombstone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangelogRecord {
    /// The key as the engine stores it.
    pub key: Vec<u8>,
    /// The value, or `None` for a delete.
    pub value: Option<Vec<u8>>,
    /// The record's timestamp: for a timestamped key-value store, the value's time.
    pub timestamp: i64,
}

/// Where a logged store sends its changelog records: implemented by the task, which writes
/// them to `<application.id>-<store>-changelog` (the task's partition) with the time of the
/// record being processed.
pub trait ChangelogSink {
    /// Records that `key` of `store` changed to `value` (`None`: deleted).
    fn send(&mut self, store: &str, key: &[u8], value: Option<&[u8]>);

    /// As [`send`](Self::send), for a value updated at `timestamp`, which the record carries
    /// as its own timestamp (timestamped key-value stores, as in Kafka Streams). A sink that
    /// keeps no timestamps ignores it.
    fn send_at(&mut self, store: &str, key: &[u8], value: Option<&[u8]>, timestamp: i64) {
        let _ = timestamp;
        self.send(store, key, value);
    }
}

/// A store that can be rebuilt from its changelog.
pub trait Restorable {
    /// Applies a batch of changelog records in order.
    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError>;
}
