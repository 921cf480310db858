//! Time segments: how window and session stores drop expired data in bulk.

/// Splits time into segments of `interval` ms and tells which have expired under a retention
/// period. A segment holds the records whose time `t` has `t.div_euclid(interval) == id`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segments {
    /// The width of one segment (ms).
    pub interval: i64,
    /// How long records are kept after stream time passes them (ms).
    pub retention: i64,
}

impl Segments {
    /// Segments for `retention`, each `max(retention / 2, 60 s)` wide, as Kafka Streams picks.
    pub fn for_retention(retention: i64) -> Self {
        Self {
            interval: (retention / 2).max(60_000),
            retention,
        }
    }

    /// The segment that holds time `t`.
    pub fn segment_id(&self, t: i64) -> i64 {
        t.div_euclid(self.interval)
    }

    /// Whether a record at time `t` has expired once stream time is `observed`.
    pub fn is_expired(&self, t: i64, observed: i64) -> bool {
        t < observed.saturating_sub(self.retention)
    }

    /// Segments with an id below this one hold only expired records once stream time is
    /// `observed`, and can be dropped whole.
    pub fn first_live_segment(&self, observed: i64) -> i64 {
        self.segment_id(observed.saturating_sub(self.retention))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_expire_whole() {
        let s = Segments::for_retention(200_000);
        assert_eq!(s.interval, 100_000);
        assert_eq!(s.segment_id(99_999), 0);
        assert_eq!(s.segment_id(-1), -1);
        assert!(s.is_expired(99_999, 300_000));
        assert!(!s.is_expired(100_000, 300_000));
        assert_eq!(s.first_live_segment(300_000), 1);
        assert_eq!(Segments::for_retention(1_000).interval, 60_000);
    }
}
