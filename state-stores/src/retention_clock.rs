//! The observed stream time of a segmented store, and what follows from it: which records
//! have expired and which segments can be dropped whole.

use crate::Segments;

/// Observed stream time (the largest time put so far) under a retention period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RetentionClock {
    segments: Segments,
    observed: i64,
}

impl RetentionClock {
    /// A clock for `retention` ms (a negative retention counts as 0) that has observed nothing.
    pub(crate) fn new(retention: i64) -> Self {
        Self {
            segments: Segments::for_retention(retention.max(0)),
            observed: i64::MIN,
        }
    }

    /// The segments that this retention implies.
    #[cfg(feature = "rocksdb")]
    pub(crate) fn segments(&self) -> Segments {
        self.segments
    }

    /// The retention period (ms).
    pub(crate) fn retention(&self) -> i64 {
        self.segments.retention
    }

    /// The largest time observed so far (`i64::MIN` before any).
    pub(crate) fn observed(&self) -> i64 {
        self.observed
    }

    /// Sets the observed time, as a store does when it reopens.
    #[cfg(feature = "rocksdb")]
    pub(crate) fn restore_observed(&mut self, observed: i64) {
        self.observed = observed;
    }

    /// The segment that holds time `t`.
    pub(crate) fn segment_id(&self, t: i64) -> i64 {
        self.segments.segment_id(t)
    }

    /// Advances the observed time to `t` if it is later; returns whether a record at `t` is
    /// retained (a record is never expired by its own put).
    pub(crate) fn observe(&mut self, t: i64) -> bool {
        self.observed = self.observed.max(t);
        self.is_live(t)
    }

    /// Whether a record at time `t` is still retained.
    pub(crate) fn is_live(&self, t: i64) -> bool {
        !self.segments.is_expired(t, self.observed)
    }

    /// Every segment below this one holds only expired records.
    pub(crate) fn first_live_segment(&self) -> i64 {
        self.segments.first_live_segment(self.observed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_advances_time_and_late_ones_expire() {
        let mut clock = RetentionClock::new(1_000);
        assert!(clock.observe(-5));
        assert_eq!(clock.observed(), -5);
        assert!(clock.observe(200_000));
        assert!(
            clock.observe(199_000),
            "exactly at observed - retention is retained"
        );
        assert!(!clock.observe(198_999));
        assert_eq!(clock.observed(), 200_000);
        assert_eq!(clock.first_live_segment(), 3);
        assert_eq!(RetentionClock::new(-1).retention(), 0);
    }
}
