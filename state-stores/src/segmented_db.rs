//! The RocksDB core of window and session stores: one database per store, records grouped by
//! time segment under the key layout of [`segment_key`](crate::segment_key), and expired
//! segments dropped with one range delete each.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rocksdb::{IteratorMode, ReadOptions, WriteBatch, WriteOptions, DB};

use crate::retention_clock::RetentionClock;
use crate::rocks::engine_error;
use crate::segment_key::{self, META_KEY};
use crate::{RocksDbConfig, StoreError};

/// A decoded record of a scan: key bytes, times, value.
pub(crate) type Scanned<const N: usize> = (Vec<u8>, [i64; N], Vec<u8>);

/// A segmented RocksDB database.
///
/// Its metadata (the observed stream time and the segment interval, 8 bytes big-endian
/// each) lives under the reserved empty key and is written in the same batch as the record
/// that advances stream time, so that after a reopen expiry resumes where it was. Writes skip
/// the write-ahead log, as every store's do: the changelog makes them durable.
pub(crate) struct SegmentedDb {
    name: String,
    path: PathBuf,
    db: Option<DB>,
    write_options: WriteOptions,
    clock: RetentionClock,
    /// The segments that may hold records.
    live: BTreeSet<i64>,
    /// At open, the last time of the latest segment on disk: the recorded stream time is
    /// written with a flush, and the engine may have persisted later records before a crash.
    stored_until: i64,
}

impl std::fmt::Debug for SegmentedDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SegmentedDb")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("clock", &self.clock)
            .field("segments", &self.live)
            .finish()
    }
}

impl SegmentedDb {
    /// Opens (or creates) the database of store `name` in `path`, keeping records for
    /// `retention` ms. Fails with [`StoreError::Corrupt`] if its files were written with
    /// another segment interval (another retention): their local state must be rebuilt.
    pub(crate) fn open(
        name: String,
        path: &Path,
        retention: i64,
        config: &RocksDbConfig,
    ) -> Result<Self, StoreError> {
        let db = config.open(&name, path)?;
        let mut clock = RetentionClock::new(retention);
        if let Some(meta) = db
            .get_pinned(META_KEY)
            .map_err(|e| engine_error(&name, e))?
        {
            let (observed, interval) =
                parse_meta(&meta).ok_or_else(|| corrupt(&name, path, "unreadable metadata"))?;
            if interval != clock.segments().interval {
                let reason = format!(
                    "written with segments of {interval} ms, opened with segments of {} ms",
                    clock.segments().interval
                );
                return Err(corrupt(&name, path, &reason));
            }
            clock.restore_observed(observed);
        }
        let live = present_segments(&db).map_err(|e| engine_error(&name, e))?;
        let mut write_options = WriteOptions::default();
        write_options.disable_wal(true);
        let stored_until = live.last().map_or(i64::MIN, |id| {
            id.saturating_add(1)
                .saturating_mul(clock.segments().interval)
                .saturating_sub(1)
        });
        Ok(Self {
            name,
            path: path.to_owned(),
            db: Some(db),
            write_options,
            clock,
            live,
            stored_until,
        })
    }

    /// The store's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The store's directory.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The store's clock.
    pub(crate) fn clock(&self) -> &RetentionClock {
        &self.clock
    }

    /// A time that no stored record's first time exceeds (see `stored_until`).
    pub(crate) fn latest_stored_time(&self) -> i64 {
        self.clock.observed().max(self.stored_until)
    }

    /// Whether the database is open.
    pub(crate) fn is_open(&self) -> bool {
        self.db.is_some()
    }

    fn db(&self) -> Result<&DB, StoreError> {
        self.db.as_ref().ok_or_else(|| StoreError::Closed {
            store: self.name.clone(),
        })
    }

    fn err(&self, e: rocksdb::Error) -> StoreError {
        engine_error(&self.name, e)
    }

    /// Adds to `batch` the write of `value` (`None`: a delete) for `key` with `times`,
    /// segmented by `times[0]`: first advancing stream time, and dropping the segments that
    /// this expires. Returns `false`, adding nothing, if the record has expired.
    ///
    /// The clock moves before the batch is written: if writing it fails, the store must be
    /// closed and restored, as after any engine failure.
    pub(crate) fn stage(
        &mut self,
        batch: &mut WriteBatch,
        key: &[u8],
        times: &[i64],
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        self.db()?;
        let Some(&time) = times.first() else {
            return Ok(false);
        };
        let id = self.clock.segment_id(time);
        let engine_key = segment_key::encode(id, key, times).ok_or_else(|| StoreError::Engine {
            store: self.name.clone(),
            reason: format!("a key of {} bytes is too long", key.len()),
        })?;
        let before = self.clock.observed();
        if !self.clock.observe(time) {
            return Ok(false);
        }
        if self.clock.observed() != before {
            let live = self.live.split_off(&self.clock.first_live_segment());
            for expired in std::mem::replace(&mut self.live, live) {
                // `expired` is below the first live segment, so `expired + 1` cannot overflow.
                batch.delete_range(
                    segment_key::segment_prefix(expired),
                    segment_key::segment_prefix(expired + 1),
                );
            }
        }
        match value {
            Some(value) => {
                batch.put(engine_key, value);
                self.live.insert(id);
            }
            None => batch.delete(engine_key),
        }
        Ok(true)
    }

    /// Writes `batch`.
    pub(crate) fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        self.db()?
            .write_opt(batch, &self.write_options)
            .map_err(|e| self.err(e))
    }

    /// The value of the record of `key` with `times` (segmented by `times[0]`), unless it
    /// has expired.
    pub(crate) fn get(&self, key: &[u8], times: &[i64]) -> Result<Option<Vec<u8>>, StoreError> {
        let db = self.db()?;
        let Some(&time) = times.first() else {
            return Ok(None);
        };
        if !self.clock.is_live(time) {
            return Ok(None);
        }
        let Some(engine_key) = segment_key::encode(self.clock.segment_id(time), key, times) else {
            return Ok(None);
        };
        Ok(db
            .get_pinned(engine_key)
            .map_err(|e| self.err(e))?
            .map(|v| v.to_vec()))
    }

    /// The retained records of the segments `first..=last` whose key, without its segment
    /// prefix, is at least `lower` and below `upper` (or the segment's end), decoded with `N`
    /// times; in engine key order, which callers sort as they need.
    pub(crate) fn scan<const N: usize>(
        &self,
        (first, last): (i64, i64),
        lower: &[u8],
        upper: Option<&[u8]>,
    ) -> Result<Vec<Scanned<N>>, StoreError> {
        let db = self.db()?;
        let first = first.max(self.clock.first_live_segment());
        let mut out = Vec::new();
        if first > last {
            return Ok(out);
        }
        for &id in self.live.range(first..=last) {
            let mut options = ReadOptions::default();
            options.set_iterate_lower_bound(segment_key::with_segment(id, lower));
            match (upper, id.checked_add(1)) {
                (Some(upper), _) => {
                    options.set_iterate_upper_bound(segment_key::with_segment(id, upper))
                }
                (None, Some(next)) => {
                    options.set_iterate_upper_bound(segment_key::segment_prefix(next))
                }
                (None, None) => {}
            }
            for item in db.iterator_opt(IteratorMode::Start, options) {
                let (engine_key, value) = item.map_err(|e| self.err(e))?;
                let (key, times) =
                    segment_key::decode::<N>(&engine_key).ok_or_else(|| StoreError::Engine {
                        store: self.name.clone(),
                        reason: format!(
                            "a key of {} bytes does not follow the segment layout",
                            engine_key.len()
                        ),
                    })?;
                if times.first().is_some_and(|&t| self.clock.is_live(t)) {
                    out.push((key.to_vec(), times, value.into_vec()));
                }
            }
        }
        Ok(out)
    }

    /// RocksDB's estimate of the number of records.
    pub(crate) fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        let keys = self
            .db()?
            .property_int_value("rocksdb.estimate-num-keys")
            .map_err(|e| self.err(e))?
            .unwrap_or(0);
        let has_meta = self.clock.observed() != i64::MIN;
        Ok(keys.saturating_sub(u64::from(has_meta)))
    }

    /// Records the observed stream time, then persists the memtables. The write-ahead log is
    /// off, so nothing written since the last flush survives a crash anyway: writing the
    /// stream time here, not on every advance, saves a write per record and loses nothing.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        let db = self.db()?;
        if self.clock.observed() != i64::MIN {
            let value = meta(self.clock.observed(), self.clock.segments().interval);
            db.put_opt(META_KEY, value, &self.write_options)
                .map_err(|e| self.err(e))?;
        }
        db.flush().map_err(|e| self.err(e))
    }

    /// Closes the database, persisting its memtables (and stream time) first.
    /// The database's memory and compaction figures (none once closed).
    pub(crate) fn engine_metrics(&self) -> crate::EngineMetrics {
        self.db
            .as_ref()
            .map(crate::rocks::engine_metrics)
            .unwrap_or_default()
    }

    pub(crate) fn close(&mut self) {
        // A failure here only means more to restore.
        let _ = self.flush();
        self.db = None;
    }
}

/// The metadata value: observed stream time and segment interval.
fn meta(observed: i64, interval: i64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&observed.to_be_bytes());
    out[8..].copy_from_slice(&interval.to_be_bytes());
    out
}

fn parse_meta(bytes: &[u8]) -> Option<(i64, i64)> {
    let bytes: [u8; 16] = bytes.try_into().ok()?;
    let observed = i64::from_be_bytes(bytes[..8].try_into().ok()?);
    let interval = i64::from_be_bytes(bytes[8..].try_into().ok()?);
    Some((observed, interval))
}

fn corrupt(store: &str, path: &Path, reason: &str) -> StoreError {
    StoreError::Corrupt {
        store: store.to_owned(),
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// The segments that hold records, found by seeking from one segment to the next.
fn present_segments(db: &DB) -> Result<BTreeSet<i64>, rocksdb::Error> {
    let mut segments = BTreeSet::new();
    let mut iter = db.raw_iterator();
    iter.seek(segment_key::segment_prefix(i64::MIN));
    while iter.valid() {
        match iter.key().and_then(segment_key::segment_of) {
            Some(id) => {
                segments.insert(id);
                match id.checked_add(1) {
                    Some(next) => iter.seek(segment_key::segment_prefix(next)),
                    None => break,
                }
            }
            // Not a record key; reads report it if it is in their way.
            None => iter.next(),
        }
    }
    iter.status()?;
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memtable(db: &SegmentedDb, property: &str) -> u64 {
        db.db()
            .unwrap()
            .property_int_value(property)
            .unwrap()
            .unwrap_or(0)
    }

    fn put(db: &mut SegmentedDb, key: &[u8], time: i64) -> bool {
        let mut batch = WriteBatch::default();
        let retained = db.stage(&mut batch, key, &[time], Some(b"v")).unwrap();
        db.write(batch).unwrap();
        retained
    }

    #[test]
    fn a_segment_is_dropped_with_one_range_delete() {
        let dir = tempfile::tempdir().unwrap();
        let mut db =
            SegmentedDb::open("w".into(), dir.path(), 60_000, &RocksDbConfig::default()).unwrap();
        for i in 0..50u8 {
            assert!(put(&mut db, &[i], i64::from(i) * 1_000));
            assert!(put(&mut db, &[i], 60_000 + i64::from(i) * 1_000));
        }
        assert_eq!(db.live, BTreeSet::from([0, 1]));
        let entries = memtable(&db, "rocksdb.num-entries-active-mem-table");
        // Stream time 240 000 expires segments 0 and 1 (everything before 180 000).
        assert!(put(&mut db, b"k", 240_000));
        let added = memtable(&db, "rocksdb.num-entries-active-mem-table") - entries;
        assert_eq!(
            added,
            1 + 2,
            "the record and one range delete per segment (stream time is written on flush)"
        );
        assert_eq!(
            memtable(&db, "rocksdb.num-deletes-active-mem-table"),
            0,
            "no point deletes"
        );
        assert_eq!(db.live, BTreeSet::from([4]));
        assert!(!put(&mut db, b"k", 179_999));
        assert_eq!(
            db.scan::<1>((i64::MIN, i64::MAX), b"", None).unwrap().len(),
            1
        );
        db.close();
        let db =
            SegmentedDb::open("w".into(), dir.path(), 60_000, &RocksDbConfig::default()).unwrap();
        assert_eq!(
            (db.live.clone(), db.clock().observed()),
            (BTreeSet::from([4]), 240_000)
        );
    }
}
