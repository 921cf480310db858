//! The in-memory core of window and session stores: entries grouped by time segment, so that
//! expired data is dropped a whole segment at a time.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::retention_clock::RetentionClock;

/// A key of a segmented map: ordered as results must be, and carrying the time that places
/// it in a segment and decides its expiry.
pub(crate) trait TimedKey: Ord + Clone {
    /// The time that segments the entry.
    fn time(&self) -> i64;
}

/// A window key: `(key bytes, window start)`, segmented by the start.
impl TimedKey for (Vec<u8>, i64) {
    fn time(&self) -> i64 {
        self.1
    }
}

/// A session key: `(key bytes, session end, session start)`, segmented by the end.
impl TimedKey for (Vec<u8>, i64, i64) {
    fn time(&self) -> i64 {
        self.1
    }
}

/// Entries by segment id, then by key, with the retention rule of a [`RetentionClock`].
#[derive(Debug)]
pub(crate) struct SegmentedMap<K> {
    clock: RetentionClock,
    segments: BTreeMap<i64, BTreeMap<K, Vec<u8>>>,
}

impl<K: TimedKey> SegmentedMap<K> {
    /// An empty map keeping entries for `retention` ms.
    pub(crate) fn new(retention: i64) -> Self {
        Self {
            clock: RetentionClock::new(retention),
            segments: BTreeMap::new(),
        }
    }

    /// The map's clock.
    pub(crate) fn clock(&self) -> &RetentionClock {
        &self.clock
    }

    /// Stores (or with `None` removes) the entry of `key`, after advancing stream time to
    /// its time and dropping the segments that this expires. Returns `false`, changing
    /// nothing, if the entry has expired.
    pub(crate) fn put(&mut self, key: K, value: Option<&[u8]>) -> bool {
        let time = key.time();
        if !self.clock.observe(time) {
            return false;
        }
        let live = self.segments.split_off(&self.clock.first_live_segment());
        self.segments = live;
        let id = self.clock.segment_id(time);
        match value {
            Some(value) => {
                self.segments
                    .entry(id)
                    .or_default()
                    .insert(key, value.to_vec());
            }
            None => {
                if let Some(segment) = self.segments.get_mut(&id) {
                    segment.remove(&key);
                    if segment.is_empty() {
                        self.segments.remove(&id);
                    }
                }
            }
        }
        true
    }

    /// The value of `key`, unless it has expired.
    pub(crate) fn get(&self, key: &K) -> Option<&[u8]> {
        let time = key.time();
        if !self.clock.is_live(time) {
            return None;
        }
        self.segments
            .get(&self.clock.segment_id(time))?
            .get(key)
            .map(Vec::as_slice)
    }

    /// The retained entries in the segments `first..=last` whose key lies within
    /// `(lower, upper)`: in key order within a segment, segment after segment.
    pub(crate) fn scan<'a>(
        &'a self,
        (first, last): (i64, i64),
        lower: Bound<K>,
        upper: Bound<K>,
    ) -> impl Iterator<Item = (&'a K, &'a [u8])> + 'a {
        let first = first.max(self.clock.first_live_segment());
        // BTreeMap::range panics on inverted bounds; an inverted range is simply empty.
        let inverted = match (&lower, &upper) {
            (Bound::Included(l), Bound::Included(u)) => l > u,
            _ => false,
        };
        let segments = if first > last || inverted {
            None
        } else {
            Some(self.segments.range(first..=last))
        };
        let clock = self.clock;
        segments
            .into_iter()
            .flatten()
            .flat_map(move |(_, segment)| segment.range((lower.clone(), upper.clone())))
            .filter(move |(key, _)| clock.is_live(key.time()))
            .map(|(key, value)| (key, value.as_slice()))
    }

    /// The exact number of retained entries.
    pub(crate) fn len(&self) -> usize {
        let first_live = self.clock.first_live_segment();
        self.segments
            .iter()
            .map(|(&id, segment)| {
                if id <= first_live {
                    // Only the oldest live segment can also hold expired entries.
                    segment
                        .keys()
                        .filter(|key| self.clock.is_live(key.time()))
                        .count()
                } else {
                    segment.len()
                }
            })
            .sum()
    }

    /// The number of segments held (for tests of segment dropping).
    #[cfg(test)]
    pub(crate) fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// Drops every entry.
    pub(crate) fn clear(&mut self) {
        self.segments.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &[u8], t: i64) -> (Vec<u8>, i64) {
        (k.to_vec(), t)
    }

    #[test]
    fn expired_segments_are_dropped_whole() {
        let mut map = SegmentedMap::new(60_000);
        assert!(map.put(key(b"a", 0), Some(b"1")));
        assert!(map.put(key(b"a", 60_000), Some(b"2")));
        assert!(map.put(key(b"b", 119_999), Some(b"3")));
        assert_eq!(map.segment_count(), 2);
        assert!(map.put(key(b"a", 180_000), Some(b"4")));
        // Stream time 180 000 expires everything before 120 000: segments 0 and 1 go.
        assert_eq!(map.segment_count(), 1);
        assert_eq!(map.len(), 1);
        assert!(!map.put(key(b"a", 119_999), Some(b"5")));
        assert_eq!(map.get(&key(b"a", 180_000)), Some(&b"4"[..]));
    }

    #[test]
    fn scans_skip_expired_entries_of_the_oldest_live_segment() {
        let mut map = SegmentedMap::new(60_000);
        map.put(key(b"a", 60_000), Some(b"1"));
        map.put(key(b"a", 119_600), Some(b"2"));
        map.put(key(b"a", 179_500), Some(b"3"));
        let found: Vec<i64> = map
            .scan((i64::MIN, i64::MAX), Bound::Unbounded, Bound::Unbounded)
            .map(|(k, _)| k.1)
            .collect();
        assert_eq!(found, vec![119_600, 179_500]);
        assert_eq!(map.len(), 2);
        assert_eq!(map.get(&key(b"a", 60_000)), None);
        let inverted = map.scan(
            (0, 10),
            Bound::Included(key(b"b", 0)),
            Bound::Included(key(b"a", 0)),
        );
        assert_eq!(inverted.count(), 0);
    }
}
