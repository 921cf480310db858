//! The RocksDB session store.

use std::path::Path;

use rocksdb::WriteBatch;

use crate::restore::session_writes;
use crate::segment_key::{self, key_in_range};
use crate::segmented_db::{Scanned, SegmentedDb};
use crate::{
    ChangelogRecord, Restorable, RocksDbConfig, SessionBytesStore, SessionEntry, StateStore,
    StoreError,
};

/// A session store in its own RocksDB database, segmented by session end.
///
/// Engine keys are `[segment][key][end][start][key length]` (see the crate's segment key
/// layout: segment, end and start 8 bytes big-endian with the sign bit flipped, key length 4
/// bytes big-endian); an expired segment is dropped with a single range delete. The observed
/// stream time is stored with the data, so expiry carries on after a reopen. Writes skip the
/// write-ahead log; [`flush`](StateStore::flush) persists them.
#[derive(Debug)]
pub struct RocksDbSessionStore {
    db: SegmentedDb,
}

impl RocksDbSessionStore {
    /// Opens (or creates) the store `name` in the directory `path`, keeping sessions for
    /// `retention_ms` after stream time passes their end. A store must be reopened with the
    /// retention it was written with: another one is reported as [`StoreError::Corrupt`],
    /// and its directory must be rebuilt from the changelog.
    pub fn open(
        name: impl Into<String>,
        path: &Path,
        retention_ms: i64,
        config: &RocksDbConfig,
    ) -> Result<Self, StoreError> {
        Ok(Self {
            db: SegmentedDb::open(name.into(), path, retention_ms, config)?,
        })
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        self.db.path()
    }

    /// The scanned sessions that end at or after `earliest_end`, start at or before
    /// `latest_start` and whose key passes `keep`, by key, end, then start.
    fn entries(
        scanned: Vec<Scanned<2>>,
        earliest_end: i64,
        latest_start: i64,
        keep: impl Fn(&[u8]) -> bool,
    ) -> Vec<SessionEntry> {
        let mut found: Vec<SessionEntry> = scanned
            .into_iter()
            .filter(|(key, [end, start], _)| {
                *end >= earliest_end && *start <= latest_start && keep(key)
            })
            .map(|(key, [end, start], value)| SessionEntry {
                key,
                start,
                end,
                value,
            })
            .collect();
        found.sort_by(|a, b| (&a.key, a.end, a.start).cmp(&(&b.key, b.end, b.start)));
        found
    }

    /// The segments that can hold sessions ending at or after `earliest_end`.
    fn segments(&self, earliest_end: i64) -> (i64, i64) {
        (self.db.clock().segment_id(earliest_end), i64::MAX)
    }
}

impl StateStore for RocksDbSessionStore {
    fn name(&self) -> &str {
        self.db.name()
    }

    fn persistent(&self) -> bool {
        true
    }

    fn is_open(&self) -> bool {
        self.db.is_open()
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.db.flush()
    }

    fn close(&mut self) {
        self.db.close();
    }

    fn engine_metrics(&self) -> crate::EngineMetrics {
        self.db.engine_metrics()
    }
}

impl SessionBytesStore for RocksDbSessionStore {
    fn put(
        &mut self,
        key: &[u8],
        start: i64,
        end: i64,
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let mut batch = WriteBatch::default();
        let retained = self.db.stage(&mut batch, key, &[end, start], value)?;
        if retained {
            self.db.write(batch)?;
        }
        Ok(retained)
    }

    fn fetch_session(
        &self,
        key: &[u8],
        start: i64,
        end: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get(key, &[end, start])
    }

    fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        // Within a segment the sessions of `key` ending at or after `earliest_end` lie between
        // these bounds, mixed with those of longer keys that start with `key`.
        let lower = segment_key::lower_bound(key, &[earliest_end]);
        let Some(mut upper) = segment_key::suffix(key, &[i64::MAX, i64::MAX]) else {
            return Ok(Vec::new());
        };
        upper.push(0);
        let scanned = self
            .db
            .scan::<2>(self.segments(earliest_end), &lower, Some(&upper))?;
        Ok(Self::entries(scanned, earliest_end, latest_start, |k| {
            k == key
        }))
    }

    fn backward_find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        let mut found = self.find_sessions(key, earliest_end, latest_start)?;
        found.reverse();
        Ok(found)
    }

    fn find_sessions_in_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        // Every record of a key at or after `key_from` sorts at or after `key_from`; keys
        // that are prefixes of `key_to` can sort anywhere above it, so there is no upper bound.
        let lower = key_from.unwrap_or_default();
        let scanned = self
            .db
            .scan::<2>(self.segments(earliest_end), lower, None)?;
        Ok(Self::entries(scanned, earliest_end, latest_start, |k| {
            key_in_range(k, key_from, key_to)
        }))
    }

    fn retention(&self) -> i64 {
        self.db.clock().retention()
    }

    fn observed_stream_time(&self) -> i64 {
        self.db.clock().observed()
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.db.approximate_num_entries()
    }
}

impl Restorable for RocksDbSessionStore {
    /// Applies the records as puts, with the same expiry, in one write batch; a record whose
    /// key is too short to hold a session fails the batch before any of it is applied.
    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        let writes = session_writes(self.db.name(), records)?;
        let mut batch = WriteBatch::default();
        for write in writes {
            self.db.stage(
                &mut batch,
                write.key,
                &[write.end, write.start],
                write.value,
            )?;
        }
        self.db.write(batch)
    }
}
