//! The RocksDB versioned store.

use std::path::{Path, PathBuf};

use rocksdb::{ReadOptions, WriteBatch, WriteOptions, DB};

use crate::rocks::engine_error;
use crate::segment_key::ordered;
use crate::versioned::{restore_versions, retained_from, superseded};
use crate::{
    ChangelogRecord, Restorable, RocksDbConfig, StateStore, StoreError, VersionedBytesStore,
    VersionedPut, VersionedRecord,
};

/// The reserved key of the observed stream time; every version key is at least 12 bytes.
const META_KEY: &[u8] = b"";

/// A stored version: its timestamp and its value, or `None` for a tombstone.
type Version = (i64, Option<Vec<u8>>);

/// A versioned store in its own RocksDB database.
///
/// A version's engine key is `[key length: 4 bytes][key][timestamp: 8 bytes]` (big-endian,
/// the timestamp's sign bit flipped so that it sorts as a signed number): the versions of a
/// key are contiguous and ordered by time, so a read as of a time is one backward seek. The
/// value is a tag byte (1: a value, 0: a tombstone) and the value bytes. The observed stream
/// time is stored with the data. Writes skip the write-ahead log, as every store's do.
pub struct RocksDbVersionedStore {
    name: String,
    path: PathBuf,
    db: Option<DB>,
    write_options: WriteOptions,
    retention: i64,
    observed: i64,
    /// A reused buffer for engine keys.
    key_buf: Vec<u8>,
}

impl std::fmt::Debug for RocksDbVersionedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbVersionedStore")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("observed", &self.observed)
            .finish()
    }
}

/// The bytes every version key of `key` starts with; `None` if the key is too long.
fn key_prefix(key: &[u8], out: &mut Vec<u8>) -> Option<()> {
    out.clear();
    out.extend_from_slice(&u32::try_from(key.len()).ok()?.to_be_bytes());
    out.extend_from_slice(key);
    Some(())
}

/// The timestamp at the end of a version key.
fn timestamp_of(engine_key: &[u8]) -> Option<i64> {
    let at = engine_key.len().checked_sub(8)?;
    let bytes: [u8; 8] = engine_key[at..].try_into().ok()?;
    Some((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
}

impl RocksDbVersionedStore {
    /// Opens (or creates) the store `name` in the directory `path`, keeping older versions
    /// for `history_retention_ms` (a negative retention counts as 0).
    pub fn open(
        name: impl Into<String>,
        path: &Path,
        history_retention_ms: i64,
        config: &RocksDbConfig,
    ) -> Result<Self, StoreError> {
        let name = name.into();
        let db = config.open(&name, path)?;
        let observed = match db
            .get_pinned(META_KEY)
            .map_err(|e| engine_error(&name, e))?
        {
            Some(bytes) => {
                i64::from_be_bytes(bytes.as_ref().try_into().map_err(|_| StoreError::Corrupt {
                    store: name.clone(),
                    path: path.to_owned(),
                    reason: "unreadable observed stream time".into(),
                })?)
            }
            None => i64::MIN,
        };
        let mut write_options = WriteOptions::default();
        write_options.disable_wal(true);
        Ok(Self {
            name,
            path: path.to_owned(),
            db: Some(db),
            write_options,
            retention: history_retention_ms.max(0),
            observed,
            key_buf: Vec::new(),
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

    fn too_long(&self, key: &[u8]) -> StoreError {
        StoreError::Engine {
            store: self.name.clone(),
            reason: format!("a key of {} bytes is too long", key.len()),
        }
    }

    /// The version of `key` with the largest timestamp `<= at`, as (timestamp, value or
    /// `None` for a tombstone).
    fn version_at(&self, key: &[u8], at: i64) -> Result<Option<Version>, StoreError> {
        let db = self.db()?;
        let mut seek = Vec::with_capacity(key.len() + 12);
        key_prefix(key, &mut seek).ok_or_else(|| self.too_long(key))?;
        let prefix_len = seek.len();
        seek.extend_from_slice(&ordered(at));
        let mut iter = db.raw_iterator_opt(ReadOptions::default());
        iter.seek_for_prev(&seek);
        if !iter.valid() {
            iter.status().map_err(|e| self.err(e))?;
            return Ok(None);
        }
        let (Some(found), Some(value)) = (iter.key(), iter.value()) else {
            return Ok(None);
        };
        if found.len() != prefix_len + 8 || found[..prefix_len] != seek[..prefix_len] {
            return Ok(None);
        }
        let timestamp = timestamp_of(found).ok_or_else(|| self.corrupt_value())?;
        match value.split_first() {
            Some((1, bytes)) => Ok(Some((timestamp, Some(bytes.to_vec())))),
            Some((0, [])) => Ok(Some((timestamp, None))),
            _ => Err(self.corrupt_value()),
        }
    }

    fn corrupt_value(&self) -> StoreError {
        StoreError::Corrupt {
            store: self.name.clone(),
            path: self.path.clone(),
            reason: "a version that is neither a value nor a tombstone".into(),
        }
    }

    /// Adds to `batch` the deletes of the versions of `key` that no read can reach any more.
    fn stage_cleanup(&self, batch: &mut WriteBatch, key: &[u8]) -> Result<(), StoreError> {
        let cutoff = retained_from(self.observed, self.retention);
        if cutoff == i64::MIN {
            return Ok(());
        }
        let db = self.db()?;
        let mut lower = Vec::with_capacity(key.len() + 12);
        key_prefix(key, &mut lower).ok_or_else(|| self.too_long(key))?;
        let prefix_len = lower.len();
        let mut upper = lower.clone();
        lower.extend_from_slice(&ordered(i64::MIN));
        // Exclusive upper bound: versions at `cutoff` are included.
        match cutoff.checked_add(1) {
            Some(next) => upper.extend_from_slice(&ordered(next)),
            None => upper.push(0xff),
        }
        let mut options = ReadOptions::default();
        options.set_iterate_upper_bound(upper);
        let mut iter = db.raw_iterator_opt(options);
        iter.seek(&lower);
        let mut old = Vec::new();
        while iter.valid() {
            if let (Some(k), Some(v)) = (iter.key(), iter.value()) {
                if k.len() == prefix_len + 8 {
                    let t = timestamp_of(k).ok_or_else(|| self.corrupt_value())?;
                    old.push((t, v.first() == Some(&0)));
                }
            }
            iter.next();
        }
        iter.status().map_err(|e| self.err(e))?;
        let mut engine_key = lower;
        for (t, _) in superseded(&old) {
            engine_key.truncate(prefix_len);
            engine_key.extend_from_slice(&ordered(*t));
            batch.delete(&engine_key);
        }
        Ok(())
    }
}

impl StateStore for RocksDbVersionedStore {
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

impl VersionedBytesStore for RocksDbVersionedStore {
    fn put(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<VersionedPut, StoreError> {
        self.db()?;
        if timestamp < retained_from(self.observed, self.retention) {
            return Ok(VersionedPut::Expired);
        }
        let latest = self
            .version_at(key, i64::MAX)?
            .is_none_or(|(t, _)| timestamp >= t);
        let mut batch = WriteBatch::default();
        if timestamp > self.observed {
            self.observed = timestamp;
            batch.put(META_KEY, timestamp.to_be_bytes());
        }
        let mut engine_key = std::mem::take(&mut self.key_buf);
        key_prefix(key, &mut engine_key).ok_or_else(|| self.too_long(key))?;
        engine_key.extend_from_slice(&ordered(timestamp));
        let mut stored = Vec::with_capacity(1 + value.map_or(0, <[u8]>::len));
        match value {
            Some(value) => {
                stored.push(1);
                stored.extend_from_slice(value);
            }
            None => stored.push(0),
        }
        batch.put(&engine_key, stored);
        self.key_buf = engine_key;
        let db = self.db()?;
        db.write_opt(batch, &self.write_options)
            .map_err(|e| self.err(e))?;
        // The cleanup reads what the put wrote, so it is a second batch.
        let mut cleanup = WriteBatch::default();
        self.stage_cleanup(&mut cleanup, key)?;
        if !cleanup.is_empty() {
            db.write_opt(cleanup, &self.write_options)
                .map_err(|e| self.err(e))?;
        }
        Ok(if latest {
            VersionedPut::Latest
        } else {
            VersionedPut::Historical
        })
    }

    fn get(&self, key: &[u8]) -> Result<Option<VersionedRecord>, StoreError> {
        Ok(match self.version_at(key, i64::MAX)? {
            Some((timestamp, Some(value))) => Some(VersionedRecord { value, timestamp }),
            _ => None,
        })
    }

    fn get_as_of(&self, key: &[u8], as_of: i64) -> Result<Option<VersionedRecord>, StoreError> {
        self.db()?;
        let found = if as_of < retained_from(self.observed, self.retention) {
            // Beyond the history: only the latest version, which never expires, answers.
            self.version_at(key, i64::MAX)?.filter(|(t, _)| *t <= as_of)
        } else {
            self.version_at(key, as_of)?
        };
        Ok(match found {
            Some((timestamp, Some(value))) => Some(VersionedRecord { value, timestamp }),
            _ => None,
        })
    }

    fn history_retention(&self) -> i64 {
        self.retention
    }

    fn observed_stream_time(&self) -> i64 {
        self.observed
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        Ok(self
            .db()?
            .property_int_value("rocksdb.estimate-num-keys")
            .map_err(|e| self.err(e))?
            .unwrap_or(0))
    }
}

impl Restorable for RocksDbVersionedStore {
    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        restore_versions(self, records)
    }
}
