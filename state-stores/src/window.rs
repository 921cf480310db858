//! Window stores: values by key and window start, kept for a retention period and dropped a
//! whole segment at a time when they expire.

use crate::{Restorable, StateStore, StoreError};

/// One window of one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WindowEntry {
    /// The key bytes.
    pub key: Vec<u8>,
    /// The window's start time (ms).
    pub window_start: i64,
    /// The value bytes.
    pub value: Vec<u8>,
}

/// One write of a window store: a window's new value, or `None` to delete it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowWrite<'a> {
    /// The key bytes.
    pub key: &'a [u8],
    /// The window start.
    pub start: i64,
    /// The value, or `None` for a delete.
    pub value: Option<&'a [u8]>,
}

/// A window store over bytes.
///
/// The store tracks its observed stream time (the largest window start put so far). A window
/// whose start is older than `observed stream time - retention` has expired: a put for it is
/// ignored (and reported as `false`), and expired data disappears a segment at a time.
/// Results are ordered by key bytes, then window start (descending for the `backward_`
/// variants). Time bounds are inclusive.
pub trait WindowBytesStore: StateStore + Restorable {
    /// Stores `value` for `key` in the window starting at `window_start` (`None` deletes it).
    /// Returns whether the window is still retained (a put into an expired window is dropped).
    fn put(
        &mut self,
        key: &[u8],
        window_start: i64,
        value: Option<&[u8]>,
    ) -> Result<bool, StoreError>;

    /// Applies `writes` in order, as [`put`](Self::put) would one by one, in a single engine
    /// write where the engine has batches; returns, per write, whether its window is
    /// retained.
    fn put_batch(&mut self, writes: &[WindowWrite<'_>]) -> Result<Vec<bool>, StoreError> {
        writes
            .iter()
            .map(|w| self.put(w.key, w.start, w.value))
            .collect()
    }

    /// The value of `key` in the window starting at `window_start`.
    fn fetch(&self, key: &[u8], window_start: i64) -> Result<Option<Vec<u8>>, StoreError>;

    /// The windows of `key` starting in `[from, to]`, by ascending start.
    fn fetch_range(&self, key: &[u8], from: i64, to: i64) -> Result<Vec<WindowEntry>, StoreError>;

    /// The windows of `key` starting in `[from, to]`, by descending start.
    fn backward_fetch_range(
        &self,
        key: &[u8],
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowEntry>, StoreError>;

    /// The windows of the keys in `[key_from, key_to]` (an open end is unbounded) starting in
    /// `[from, to]`, by key then start.
    fn fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowEntry>, StoreError>;

    /// The same windows as [`fetch_key_range`](Self::fetch_key_range), by descending key then
    /// descending start.
    fn backward_fetch_key_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        from: i64,
        to: i64,
    ) -> Result<Vec<WindowEntry>, StoreError>;

    /// Every retained window, by key then start.
    fn all(&self) -> Result<Vec<WindowEntry>, StoreError> {
        self.fetch_key_range(None, None, i64::MIN, i64::MAX)
    }

    /// How long windows are kept after stream time passes their start (ms).
    fn retention(&self) -> i64;

    /// The largest window start put so far (`i64::MIN` before any).
    fn observed_stream_time(&self) -> i64;

    /// A time no stored window starts after: the observed stream time, or more for a store
    /// reopened from disk whose last recorded stream time may trail what it holds. A read of
    /// a window starting later can be answered without the engine.
    fn latest_stored_start(&self) -> i64 {
        self.observed_stream_time()
    }

    /// An estimate of the number of retained windows.
    fn approximate_num_entries(&self) -> Result<u64, StoreError>;
}

/// The changelog key of a window: the key bytes, then the window start as 8 bytes big-endian.
pub fn window_changelog_key(key: &[u8], window_start: i64) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 8);
    window_changelog_key_into(key, window_start, &mut out);
    out
}

/// Writes the changelog key of a window into `out` (cleared first), to reuse one buffer.
pub(crate) fn window_changelog_key_into(key: &[u8], window_start: i64, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(key);
    out.extend_from_slice(&window_start.to_be_bytes());
}

/// Splits a window changelog key into key bytes and window start; `None` if it is too short.
pub fn split_window_changelog_key(changelog_key: &[u8]) -> Option<(&[u8], i64)> {
    let split = changelog_key.len().checked_sub(8)?;
    let (key, start) = changelog_key.split_at(split);
    Some((key, i64::from_be_bytes(start.try_into().ok()?)))
}
