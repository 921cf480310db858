//! The RocksDB window store.

use std::path::Path;

use rocksdb::WriteBatch;

use crate::restore::window_writes;
use crate::segment_key::{self, key_in_range};
use crate::segmented_db::{Scanned, SegmentedDb};
use crate::{
    ChangelogRecord, Restorable, RocksDbConfig, StateStore, StoreError, WindowBytesStore,
    WindowEntry, WindowWrite,
};

/// A window store in its own RocksDB database, segmented by window start.
///
/// Engine keys are `[segment][key][start][key length]` (see the crate's segment key layout:
/// segment and start 8 bytes big-endian with the sign bit flipped, key length 4 bytes
/// big-endian); an expired segment is dropped with a single range delete. The observed
/// stream time is stored with the data, so expiry carries on after a reopen. Writes skip the
/// write-ahead log; [`flush`](StateStore::flush) persists them.
#[derive(Debug)]
pub struct RocksDbWindowStore {
    db: SegmentedDb,
}

impl RocksDbWindowStore {
    /// Opens (or creates) the store `name` in the directory `path`, keeping windows for
    /// `retention_ms` after stream time passes their start. A store must be reopened with
    /// the retention it was written with: another one is reported as
    /// [`StoreError::Corrupt`], and its directory must be rebuilt from the changelog.
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

    /// The scanned windows that belong to the result, by key then start.
    fn entries(scanned: Vec<Scanned<1>>, keep: impl Fn(&[u8], i64) -> bool) -> Vec<WindowEntry> {
        let mut found: Vec<WindowEntry> = scanned
            .into_iter()
            .filter(|(key, [start], _)| keep(key, *start))
            .map(|(key, [window_start], value)| WindowEntry {
                key,
                window_start,
                value,
            })
            .collect();
        found.sort_by(|a, b| (&a.key, a.window_start).cmp(&(&b.key, b.window_start)));
        found
    }

    fn segments(&self, from: i64, to: i64) -> (i64, i64) {
        let clock = self.db.clock();
        (clock.segment_id(from), clock.segment_id(to))
    }
}

impl StateStore for RocksDbWindowStore {
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

impl WindowBytesStore for RocksDbWindowStore {
    fn put(
        &mut self,
        key: &[u8],
        window_start: i64,
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let mut batch = WriteBatch::default();
        let retained = self.db.stage(&mut batch, key, &[window_start], value)?;
        if retained {
            self.db.write(batch)?;
        }
        Ok(retained)
    }

    /// One RocksDB write batch for all of `writes`: a commit's write-behind costs one write,
    /// not one per window.
    fn put_batch(&mut self, writes: &[WindowWrite<'_>]) -> Result<Vec<bool>, StoreError> {
        let mut batch = WriteBatch::default();
        let retained = writes
            .iter()
            .map(|w| self.db.stage(&mut batch, w.key, &[w.start], w.value))
            .collect::<Result<Vec<bool>, StoreError>>()?;
        self.db.write(batch)?;
        Ok(retained)
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.db.get(key, &[window_start])
    }

    fn fetch_range(&self, key: &[u8], from: i64, to: i64) -> Result<Vec<WindowEntry>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        // Within a segment the windows of `key` from `from` to `to` lie between these bounds,
        // mixed with those of longer keys that start with `key`, which the filter removes.
        let lower = segment_key::lower_bound(key, &[from]);
        let Some(mut upper) = segment_key::suffix(key, &[to]) else {
            return Ok(Vec::new());
        };
        upper.push(0);
        let scanned = self
            .db
            .scan::<1>(self.segments(from, to), &lower, Some(&upper))?;
        Ok(Self::entries(scanned, |k, start| {
            k == key && (from..=to).contains(&start)
        }))
    }

    fn backward_fetch_range(
        &self,
        key: &[u8],
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowEntry>, StoreError> {
        let mut found = self.fetch_range(key, from, to)?;
        found.reverse();
        Ok(found)
    }

    fn fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowEntry>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        // Every record of a key at or after `key_from` sorts at or after `key_from`; keys
        // that are prefixes of `key_to` can sort anywhere above it, so there is no upper bound.
        let lower = key_from.unwrap_or_default();
        let scanned = self.db.scan::<1>(self.segments(from, to), lower, None)?;
        Ok(Self::entries(scanned, |k, start| {
            key_in_range(k, key_from, key_to) && (from..=to).contains(&start)
        }))
    }

    fn backward_fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowEntry>, StoreError> {
        let mut found = self.fetch_key_range(key_from, key_to, from, to)?;
        found.reverse();
        Ok(found)
    }

    fn retention(&self) -> i64 {
        self.db.clock().retention()
    }

    fn observed_stream_time(&self) -> i64 {
        self.db.clock().observed()
    }

    fn latest_stored_start(&self) -> i64 {
        self.db.latest_stored_time()
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.db.approximate_num_entries()
    }
}

impl Restorable for RocksDbWindowStore {
    /// Applies the records as puts, with the same expiry, in one write batch; a record whose
    /// key is too short to hold a window fails the batch before any of it is applied.
    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        let writes = window_writes(self.db.name(), records)?;
        let mut batch = WriteBatch::default();
        for write in writes {
            self.db
                .stage(&mut batch, write.key, &[write.start], write.value)?;
        }
        self.db.write(batch)
    }
}
