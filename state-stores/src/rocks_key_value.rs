use std::path::{Path, PathBuf};

use rocksdb::{Direction, IteratorMode, ReadOptions, WriteBatch, WriteOptions, DB};

use crate::rocks::engine_error;
use crate::{
    ChangelogRecord, KeyValueBytesStore, KeyValueIter, Restorable, RocksDbConfig, StateStore,
    StoreError,
};

/// A key-value store in its own RocksDB database, ordered by key bytes.
///
/// Writes skip the write-ahead log: the store's changelog makes it durable, and
/// [`flush`](StateStore::flush) (called on every commit) persists the memtables so that the
/// data on disk covers what a checkpoint says it does.
pub struct RocksDbKeyValueStore {
    name: String,
    path: PathBuf,
    db: Option<DB>,
    write_options: WriteOptions,
}

impl std::fmt::Debug for RocksDbKeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbKeyValueStore")
            .field("name", &self.name)
            .field("path", &self.path)
            .finish()
    }
}

impl RocksDbKeyValueStore {
    /// Opens (or creates) the store `name` in the directory `path`.
    pub fn open(
        name: impl Into<String>,
        path: &Path,
        config: &RocksDbConfig,
    ) -> Result<Self, StoreError> {
        let name = name.into();
        let db = config.open(&name, path)?;
        let mut write_options = WriteOptions::default();
        write_options.disable_wal(true);
        Ok(Self {
            name,
            path: path.to_owned(),
            db: Some(db),
            write_options,
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self) -> Result<&DB, StoreError> {
        self.db.as_ref().ok_or_else(|| StoreError::Closed {
            store: self.name.clone(),
        })
    }

    fn err(&self, e: rocksdb::Error) -> StoreError {
        engine_error(&self.name, e)
    }

    /// Iterates from `start` in `direction` while `keep` holds for the key.
    fn scan<'a>(
        &'a self,
        mode: IteratorMode<'_>,
        keep: impl Fn(&[u8]) -> bool + 'a,
    ) -> Result<KeyValueIter<'a>, StoreError> {
        let db = self.db()?;
        let iter = db.iterator_opt(mode, ReadOptions::default());
        let name = self.name.clone();
        Ok(Box::new(
            iter.map(move |item| item.map_err(|e| engine_error(&name, e)))
                .take_while(move |item| item.as_ref().map_or(true, |(k, _)| keep(k)))
                .map(|item| item.map(|(k, v)| (k.into_vec(), v.into_vec()))),
        ))
    }
}

impl StateStore for RocksDbKeyValueStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        true
    }

    fn is_open(&self) -> bool {
        self.db.is_some()
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.db()?.flush().map_err(|e| self.err(e))
    }

    fn close(&mut self) {
        if let Some(db) = self.db.take() {
            // Persist what the memtables hold; a failure here only means more to restore.
            let _ = db.flush();
        }
    }

    fn engine_metrics(&self) -> crate::EngineMetrics {
        self.db
            .as_ref()
            .map(crate::rocks::engine_metrics)
            .unwrap_or_default()
    }
}

impl KeyValueBytesStore for RocksDbKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db()?
            .get_pinned(key)
            .map_err(|e| self.err(e))?
            .map(|v| v.to_vec()))
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.db()?
            .put_opt(key, value, &self.write_options)
            .map_err(|e| self.err(e))
    }

    fn delete(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        let old = self.get(key)?;
        if old.is_some() {
            self.db()?
                .delete_opt(key, &self.write_options)
                .map_err(|e| self.err(e))?;
        }
        Ok(old)
    }

    fn range(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<KeyValueIter<'_>, StoreError> {
        let to = to.map(<[u8]>::to_vec);
        let mode = match from {
            Some(from) => IteratorMode::From(from, Direction::Forward),
            None => IteratorMode::Start,
        };
        self.scan(mode, move |k| to.as_deref().is_none_or(|to| k <= to))
    }

    fn reverse_range(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<KeyValueIter<'_>, StoreError> {
        let from = from.map(<[u8]>::to_vec);
        let mode = match to {
            Some(to) => IteratorMode::From(to, Direction::Reverse),
            None => IteratorMode::End,
        };
        self.scan(mode, move |k| from.as_deref().is_none_or(|from| k >= from))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>, StoreError> {
        let owned = prefix.to_vec();
        self.scan(IteratorMode::From(prefix, Direction::Forward), move |k| {
            k.starts_with(&owned)
        })
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        Ok(self
            .db()?
            .property_int_value("rocksdb.estimate-num-keys")
            .map_err(|e| self.err(e))?
            .unwrap_or(0))
    }

    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        Restorable::restore_batch(self, records)
    }
}

impl Restorable for RocksDbKeyValueStore {
    /// Writes the whole batch at once.
    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for record in records {
            match &record.value {
                Some(value) => batch.put(&record.key, value),
                None => batch.delete(&record.key),
            }
        }
        self.db()?
            .write_opt(batch, &self.write_options)
            .map_err(|e| self.err(e))
    }
}
