use crate::{ChangelogRecord, StateStore, StoreError};

/// One `(key, value)` pair of a scan, or the error that stopped it.
pub type KeyValueItem = Result<(Vec<u8>, Vec<u8>), StoreError>;

/// An iterator over `(key, value)` byte pairs, in key byte order unless stated otherwise.
pub type KeyValueIter<'a> = Box<dyn Iterator<Item = KeyValueItem> + 'a>;

/// A key-value store over bytes, ordered by the keys' byte order.
pub trait KeyValueBytesStore: StateStore {
    /// The value stored for `key`, if any.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Stores `value` for `key`, replacing any previous value.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    /// Stores `value` for `key` only if the key has no value yet; returns the value already there.
    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let existing = self.get(key)?;
        if existing.is_none() {
            self.put(key, value)?;
        }
        Ok(existing)
    }

    /// Removes `key`; returns the value it had.
    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// The entries with `from <= key <= to` (both inclusive, as in Kafka Streams); an open end
    /// is unbounded.
    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>)
        -> Result<KeyValueIter<'_>, StoreError>;

    /// The same entries as [`range`](Self::range), in descending key order.
    fn reverse_range(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<KeyValueIter<'_>, StoreError>;

    /// The entries whose key starts with `prefix`.
    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>, StoreError>;

    /// Every entry, in key order.
    fn all(&self) -> Result<KeyValueIter<'_>, StoreError> {
        self.range(None, None)
    }

    /// An estimate of the number of entries (exact for the in-memory engine).
    fn approximate_num_entries(&self) -> Result<u64, StoreError>;

    /// Applies a batch of changelog records (a `None` value deletes its key), as restoration
    /// does. Engines that can write a batch at once do.
    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        for record in records {
            match &record.value {
                Some(value) => self.put(&record.key, value)?,
                None => {
                    self.delete(&record.key)?;
                }
            }
        }
        Ok(())
    }
}
