//! Session stores: values by key and session window `[start, end]`, kept for a retention
//! period after the session's end and dropped a whole segment at a time.

use crate::{Restorable, StateStore, StoreError};

/// One session of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionEntry {
    /// The key bytes.
    pub key: Vec<u8>,
    /// The session's first record time (ms, inclusive).
    pub start: i64,
    /// The session's last record time (ms, inclusive).
    pub end: i64,
    /// The value bytes.
    pub value: Vec<u8>,
}

/// A session store over bytes.
///
/// The store tracks its observed stream time (the largest session end put so far). A session
/// whose end is older than `observed stream time - retention` has expired: a put for it is
/// ignored (reported as `false`), and expired data disappears a segment at a time. Results are
/// ordered by key bytes, then session end, then start (reversed for the `backward_` variants).
pub trait SessionBytesStore: StateStore + Restorable {
    /// Stores `value` for the session `[start, end]` of `key` (`None` removes the session).
    /// Returns whether the session is still retained.
    fn put(
        &mut self,
        key: &[u8],
        start: i64,
        end: i64,
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError>;

    /// The value of exactly the session `[start, end]` of `key`.
    fn fetch_session(
        &self,
        key: &[u8],
        start: i64,
        end: i64,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// The sessions of `key` that end at or after `earliest_end` and start at or before
    /// `latest_start`: the sessions a record could merge with.
    fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError>;

    /// The same sessions as [`find_sessions`](Self::find_sessions), in reverse order.
    fn backward_find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError>;

    /// The sessions of the keys in `[key_from, key_to]` (an open end is unbounded) that end at
    /// or after `earliest_end` and start at or before `latest_start`.
    fn find_sessions_in_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>, StoreError>;

    /// Every retained session of `key`.
    fn fetch(&self, key: &[u8]) -> Result<Vec<SessionEntry>, StoreError> {
        self.find_sessions(key, i64::MIN, i64::MAX)
    }

    /// Every retained session.
    fn all(&self) -> Result<Vec<SessionEntry>, StoreError> {
        self.find_sessions_in_key_range(None, None, i64::MIN, i64::MAX)
    }

    /// How long sessions are kept after stream time passes their end (ms).
    fn retention(&self) -> i64;

    /// The largest session end put so far (`i64::MIN` before any).
    fn observed_stream_time(&self) -> i64;

    /// An estimate of the number of retained sessions.
    fn approximate_num_entries(&self) -> Result<u64, StoreError>;
}

/// The changelog key of a session: the key bytes, then the end and the start, each as 8 bytes
/// big-endian (Kafka Streams' session key layout).
pub fn session_changelog_key(key: &[u8], start: i64, end: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 16);
    out.extend_from_slice(key);
    out.extend_from_slice(&end.to_be_bytes());
    out.extend_from_slice(&start.to_be_bytes());
    out
}

/// Splits a session changelog key into key bytes, start and end; `None` if it is too short.
pub fn split_session_changelog_key(changelog_key: &[u8]) -> Option<(&[u8], i64, i64)> {
    let split = changelog_key.len().checked_sub(16)?;
    let (key, times) = changelog_key.split_at(split);
    let end = i64::from_be_bytes(times[..8].try_into().ok()?);
    let start = i64::from_be_bytes(times[8..].try_into().ok()?);
    Some((key, start, end))
}
