//! `JoinWindows`: which records of two streams join, by how far apart their times are.

use std::time::Duration;

/// The window of a stream-stream join: a record of the left stream at time `t` joins the
/// records of the right stream with times in `[t - before, t + after]` (both ends inclusive),
/// and a right record at `t` the left records in `[t - after, t + before]`.
///
/// Records arriving out of order are joined while their window is open: until stream time
/// passes `t + after + grace` (left) or `t + before + grace` (right). Only then do left and
/// outer joins emit a record that found no partner, so no later match can contradict it.
///
/// ```
/// use std::time::Duration;
/// use streams_dsl::JoinWindows;
///
/// // Records at most 5 s apart join; a record may arrive up to 1 s late.
/// let windows = JoinWindows::of_time_difference_and_grace(Duration::from_secs(5), Duration::from_secs(1));
/// assert_eq!((windows.before_ms(), windows.after_ms(), windows.grace_ms()), (5_000, 5_000, 1_000));
///
/// // Only right records up to 2 s after the left one.
/// let after_only = JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(2)).before(Duration::ZERO);
/// assert_eq!((after_only.before_ms(), after_only.after_ms()), (0, 2_000));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinWindows {
    before: i64,
    after: i64,
    grace: i64,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl JoinWindows {
    /// Records at most `difference` apart join; records arriving after their window closed
    /// are not joined (no grace), as Kafka Streams' `ofTimeDifferenceWithNoGrace`.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// Records at most `difference` apart join; a record out of order by up to `grace`
    /// after its window ends is still joined.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        let d = millis(difference);
        Self {
            before: d,
            after: d,
            grace: millis(grace),
        }
    }

    /// Left records join right records up to `before` earlier than themselves (the window's
    /// lower end), keeping the upper end.
    pub fn before(self, before: Duration) -> Self {
        Self {
            before: millis(before),
            ..self
        }
    }

    /// Left records join right records up to `after` later than themselves (the window's
    /// upper end), keeping the lower end.
    pub fn after(self, after: Duration) -> Self {
        Self {
            after: millis(after),
            ..self
        }
    }

    /// How much earlier than a left record a right record may be, in ms.
    pub fn before_ms(&self) -> i64 {
        self.before
    }

    /// How much later than a left record a right record may be, in ms.
    pub fn after_ms(&self) -> i64 {
        self.after
    }

    /// How long after its window ends a record is still joined, in ms.
    pub fn grace_ms(&self) -> i64 {
        self.grace
    }

    /// The window's size, `before + after`, in ms.
    pub fn size_ms(&self) -> i64 {
        self.before.saturating_add(self.after)
    }

    /// How long each side keeps its records for the other side to join: the window's size
    /// plus the grace period (Kafka Streams' join store retention).
    pub(crate) fn retention_ms(&self) -> i64 {
        self.size_ms().saturating_add(self.grace)
    }
}
