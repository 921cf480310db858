//! The in-memory window store.

use std::ops::Bound;

use crate::restore::window_writes;
use crate::segmented_map::SegmentedMap;
use crate::{ChangelogRecord, Restorable, StateStore, StoreError, WindowBytesStore, WindowEntry};

/// A window store held in memory: B-trees of `(key, window start)`, one per time segment,
/// so that expired windows are dropped a whole segment at a time.
///
/// It is not persistent: after a restart its content comes back from its changelog.
#[derive(Debug)]
pub struct InMemoryWindowStore {
    name: String,
    windows: SegmentedMap<(Vec<u8>, i64)>,
    open: bool,
}

impl InMemoryWindowStore {
    /// An empty, open store called `name` that keeps windows for `retention_ms` after stream
    /// time passes their start (a negative retention counts as 0).
    pub fn new(name: impl Into<String>, retention_ms: i64) -> Self {
        Self {
            name: name.into(),
            windows: SegmentedMap::new(retention_ms),
            open: true,
        }
    }

    fn check_open(&self) -> Result<(), StoreError> {
        if self.open {
            Ok(())
        } else {
            Err(StoreError::Closed {
                store: self.name.clone(),
            })
        }
    }

    /// The retained windows of the keys within `(lower, upper)` starting in `[from, to]`, by
    /// key then start.
    fn collect(
        &self,
        lower: Bound<(Vec<u8>, i64)>,
        upper: Bound<(Vec<u8>, i64)>,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowEntry>, StoreError> {
        self.check_open()?;
        if from > to {
            return Ok(Vec::new());
        }
        let clock = self.windows.clock();
        let segments = (clock.segment_id(from), clock.segment_id(to));
        let mut found: Vec<WindowEntry> = self
            .windows
            .scan(segments, lower, upper)
            .filter(|((_, start), _)| (from..=to).contains(start))
            .map(|((key, start), value)| WindowEntry {
                key: key.clone(),
                window_start: *start,
                value: value.to_vec(),
            })
            .collect();
        found.sort_by(|a, b| (&a.key, a.window_start).cmp(&(&b.key, b.window_start)));
        Ok(found)
    }
}

impl StateStore for InMemoryWindowStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        false
    }

    fn is_open(&self) -> bool {
        self.open
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.check_open()
    }

    fn close(&mut self) {
        self.open = false;
        self.windows.clear();
    }
}

impl WindowBytesStore for InMemoryWindowStore {
    fn put(
        &mut self,
        key: &[u8],
        window_start: i64,
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        self.check_open()?;
        Ok(self.windows.put((key.to_vec(), window_start), value))
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_open()?;
        Ok(self
            .windows
            .get(&(key.to_vec(), window_start))
            .map(<[u8]>::to_vec))
    }

    fn fetch_range(&self, key: &[u8], from: i64, to: i64) -> Result<Vec<WindowEntry>, StoreError> {
        let lower = Bound::Included((key.to_vec(), from));
        let upper = Bound::Included((key.to_vec(), to));
        self.collect(lower, upper, from, to)
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
        let lower = key_from.map_or(Bound::Unbounded, |k| {
            Bound::Included((k.to_vec(), i64::MIN))
        });
        let upper = key_to.map_or(Bound::Unbounded, |k| {
            Bound::Included((k.to_vec(), i64::MAX))
        });
        self.collect(lower, upper, from, to)
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
        self.windows.clock().retention()
    }

    fn observed_stream_time(&self) -> i64 {
        self.windows.clock().observed()
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.check_open()?;
        Ok(self.windows.len() as u64)
    }
}

impl Restorable for InMemoryWindowStore {
    /// Applies the records as puts, with the same expiry; a record whose key is too short to
    /// hold a window fails the batch before any of it is applied.
    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        self.check_open()?;
        for write in window_writes(&self.name, records)? {
            self.windows
                .put((write.key.to_vec(), write.start), write.value);
        }
        Ok(())
    }
}
