//! The in-memory session store.

use std::ops::Bound;

use crate::restore::session_writes;
use crate::segmented_map::SegmentedMap;
use crate::{ChangelogRecord, Restorable, SessionBytesStore, SessionEntry, StateStore, StoreError};

/// `(key bytes, session end, session start)`: the order of results.
type SessionKey = (Vec<u8>, i64, i64);

/// A session store held in memory: B-trees of `(key, end, start)`, one per time segment of
/// the session end, so that expired sessions are dropped a whole segment at a time.
///
/// It is not persistent: after a restart its content comes back from its changelog.
#[derive(Debug)]
pub struct InMemorySessionStore {
    name: String,
    sessions: SegmentedMap<SessionKey>,
    open: bool,
}

impl InMemorySessionStore {
    /// An empty, open store called `name` that keeps sessions for `retention_ms` after
    /// stream time passes their end (a negative retention counts as 0).
    pub fn new(name: impl Into<String>, retention_ms: i64) -> Self {
        Self {
            name: name.into(),
            sessions: SegmentedMap::new(retention_ms),
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

    /// The retained sessions within `(lower, upper)` that end at or after `earliest_end` and
    /// start at or before `latest_start`, by key, end, then start.
    fn collect(
        &self,
        lower: Bound<SessionKey>,
        upper: Bound<SessionKey>,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        self.check_open()?;
        let segments = (self.sessions.clock().segment_id(earliest_end), i64::MAX);
        let mut found: Vec<SessionEntry> = self
            .sessions
            .scan(segments, lower, upper)
            .filter(|((_, end, start), _)| *end >= earliest_end && *start <= latest_start)
            .map(|((key, end, start), value)| SessionEntry {
                key: key.clone(),
                start: *start,
                end: *end,
                value: value.to_vec(),
            })
            .collect();
        found.sort_by(|a, b| (&a.key, a.end, a.start).cmp(&(&b.key, b.end, b.start)));
        Ok(found)
    }
}

impl StateStore for InMemorySessionStore {
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
        self.sessions.clear();
    }
}

impl SessionBytesStore for InMemorySessionStore {
    fn put(
        &mut self,
        key: &[u8],
        start: i64,
        end: i64,
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        self.check_open()?;
        Ok(self.sessions.put((key.to_vec(), end, start), value))
    }

    fn fetch_session(
        &self,
        key: &[u8],
        start: i64,
        end: i64,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.check_open()?;
        Ok(self
            .sessions
            .get(&(key.to_vec(), end, start))
            .map(<[u8]>::to_vec))
    }

    fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError> {
        let lower = Bound::Included((key.to_vec(), earliest_end, i64::MIN));
        let upper = Bound::Included((key.to_vec(), i64::MAX, i64::MAX));
        self.collect(lower, upper, earliest_end, latest_start)
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
        let lower = key_from.map_or(Bound::Unbounded, |k| {
            Bound::Included((k.to_vec(), i64::MIN, i64::MIN))
        });
        let upper = key_to.map_or(Bound::Unbounded, |k| {
            Bound::Included((k.to_vec(), i64::MAX, i64::MAX))
        });
        self.collect(lower, upper, earliest_end, latest_start)
    }

    fn retention(&self) -> i64 {
        self.sessions.clock().retention()
    }

    fn observed_stream_time(&self) -> i64 {
        self.sessions.clock().observed()
    }

    fn approximate_num_entries(&self) -> Result<u64, StoreError> {
        self.check_open()?;
        Ok(self.sessions.len() as u64)
    }
}

impl Restorable for InMemorySessionStore {
    /// Applies the records as puts, with the same expiry; a record whose key is too short to
    /// hold a session fails the batch before any of it is applied.
    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<(), StoreError> {
        self.check_open()?;
        for write in session_writes(&self.name, records)? {
            self.sessions
                .put((write.key.to_vec(), write.end, write.start), write.value);
        }
        Ok(())
    }
}
