//! Event time on quiet inputs (our extension, off by default): ways for a task's watermark to
//! move while its input partitions bring no records, so that windows, sessions and
//! suppression emit their final results when a partition or a key space goes quiet.
//!
//! In Kafka Streams a task's stream time moves only with the records it processes: a task
//! whose partitions go quiet keeps its last windows open forever. Two opt-in rules change
//! that, both set on [`StreamsConfig`](crate::StreamsConfig) and both visible where they
//! decided a result (see [`WatermarkSource`]):
//!
//! - the **idle-partition timeout** (as Flink's source idleness): once a task's input
//!   partitions have been quiet for the timeout (wall-clock time, nothing buffered and nothing
//!   arriving), the task stops holding event time back: its watermark follows the smallest
//!   watermark of the driver's tasks that are not quiet. Only event time that real records
//!   brought is used; when every task is quiet, nothing moves.
//! - the **wall-clock watermark**: once a task has been quiet for its idle period, its
//!   watermark also follows the wall clock, trailing it by at most the maximum lag.
//!
//! Neither changes stream time (the largest record time processed): both raise a floor
//! under the watermark, never lower it, and processors that emit on the watermark are told
//! with [`Processor::on_watermark`](crate::Processor::on_watermark).

use std::time::Duration;

use crate::{StreamsError, Task, Timestamp};

/// What set a task's watermark where it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum WatermarkSource {
    /// The records the task processed (stream time minus the maximum out-of-orderness), as
    /// in Kafka Streams.
    #[default]
    Records,
    /// The idle-partition timeout: the task's inputs were quiet and its watermark followed
    /// the other tasks' (see [`StreamsConfig::idle_partition_timeout`](crate::StreamsConfig::idle_partition_timeout)).
    IdlePartition,
    /// The wall-clock watermark (see [`StreamsConfig::wall_clock_watermark`](crate::StreamsConfig::wall_clock_watermark)).
    WallClock,
}

impl WatermarkSource {
    /// The source as written in headers and late-record reasons: `RECORDS`,
    /// `IDLE_PARTITION` or `WALL_CLOCK`.
    pub fn as_str(self) -> &'static str {
        match self {
            WatermarkSource::Records => "RECORDS",
            WatermarkSource::IdlePartition => "IDLE_PARTITION",
            WatermarkSource::WallClock => "WALL_CLOCK",
        }
    }

    /// The source that [`as_str`](Self::as_str) wrote, if `text` is one.
    pub fn parse(text: &[u8]) -> Option<Self> {
        match text {
            b"RECORDS" => Some(WatermarkSource::Records),
            b"IDLE_PARTITION" => Some(WatermarkSource::IdlePartition),
            b"WALL_CLOCK" => Some(WatermarkSource::WallClock),
            _ => None,
        }
    }
}

impl std::fmt::Display for WatermarkSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The wall-clock watermark's settings: after `idle` without input, a task's watermark is at
/// least the wall clock minus `max_lag`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WallClockWatermark {
    /// How long a task's inputs must be quiet before the wall clock moves its watermark.
    pub idle: Duration,
    /// How far the watermark may trail the wall clock once it does.
    pub max_lag: Duration,
}

/// The rules for quiet inputs that a configuration enables (none by default).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct QuietInputs {
    pub(crate) idle_partition_timeout: Option<Duration>,
    pub(crate) wall_clock_watermark: Option<WallClockWatermark>,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl QuietInputs {
    /// Whether any rule is on.
    pub(crate) fn enabled(&self) -> bool {
        self.idle_partition_timeout.is_some() || self.wall_clock_watermark.is_some()
    }
}

/// How long a task's inputs have been quiet, from what a driver observes at each call:
/// records buffered or newly received make it active at that moment.
#[derive(Debug, Default)]
pub(crate) struct QuietClock {
    /// The records received so far (counted by the task as they are buffered).
    pub(crate) received: u64,
    /// `received` as of the last observation.
    seen: u64,
    /// The wall-clock time the task was last seen active (`None` before the first look).
    active_at: Option<Timestamp>,
}

impl QuietClock {
    /// How long (ms) the task has been quiet at wall-clock time `now`, given whether it holds
    /// buffered records; 0 while it is active.
    pub(crate) fn quiet_for(&mut self, now: Timestamp, buffered: bool) -> i64 {
        if buffered || self.received != self.seen || self.active_at.is_none() {
            self.seen = self.received;
            self.active_at = Some(now);
        }
        let since = self.active_at.unwrap_or(now);
        // A clock that went back (wall clocks do) counts as no time passed.
        now.saturating_sub(since).max(0)
    }
}

/// The watermark a quiet task may rise to, and what set it.
fn target(
    quiet_for: i64,
    now: Timestamp,
    active_watermark: Option<Timestamp>,
    rules: &QuietInputs,
) -> Option<(Timestamp, WatermarkSource)> {
    let idle = rules
        .idle_partition_timeout
        .filter(|t| quiet_for >= millis(*t))
        .and(active_watermark)
        .map(|w| (w, WatermarkSource::IdlePartition));
    let wall = rules
        .wall_clock_watermark
        .filter(|w| quiet_for >= millis(w.idle))
        .map(|w| {
            (
                now.saturating_sub(millis(w.max_lag)),
                WatermarkSource::WallClock,
            )
        });
    match (idle, wall) {
        (Some(i), Some(w)) => Some(if w.0 > i.0 { w } else { i }),
        (i, w) => i.or(w),
    }
}

/// Applies `rules` to `tasks` at wall-clock time `now`: each task quiet for long enough has
/// its watermark raised (see the module documentation), and its processors told. Returns
/// the indexes of the tasks whose watermark rose (they may have output to send).
///
/// The tasks are every task the driver runs (the test driver's, or a stream thread's): the
/// idle-partition timeout lets a quiet task follow the others among them.
pub(crate) fn advance_quiet_tasks(
    tasks: &mut [&mut Task],
    now: Timestamp,
    rules: &QuietInputs,
) -> Result<Vec<usize>, StreamsError> {
    if !rules.enabled() {
        return Ok(Vec::new());
    }
    let timeout = rules.idle_partition_timeout.map_or(i64::MAX, millis);
    let quiet: Vec<i64> = tasks.iter_mut().map(|t| t.quiet_for(now)).collect();
    // The event time that the active tasks' records have reached: the smallest of their
    // watermarks (Flink's minimum over the inputs that are not idle).
    let active_watermark = tasks
        .iter()
        .zip(&quiet)
        .filter(|(_, &q)| q < timeout)
        .map(|(t, _)| t.record_watermark())
        .min();
    let mut raised = Vec::new();
    for (i, (task, &quiet_for)) in tasks.iter_mut().zip(&quiet).enumerate() {
        if let Some((to, source)) = target(quiet_for, now, active_watermark, rules) {
            if task.raise_watermark(to, source)? {
                raised.push(i);
            }
        }
    }
    Ok(raised)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(idle: Option<u64>, wall: Option<(u64, u64)>) -> QuietInputs {
        QuietInputs {
            idle_partition_timeout: idle.map(Duration::from_millis),
            wall_clock_watermark: wall.map(|(idle, lag)| WallClockWatermark {
                idle: Duration::from_millis(idle),
                max_lag: Duration::from_millis(lag),
            }),
        }
    }

    #[test]
    fn a_task_is_quiet_from_the_last_time_it_was_seen_active() {
        let mut clock = QuietClock::default();
        assert_eq!(clock.quiet_for(100, false), 0);
        assert_eq!(clock.quiet_for(150, false), 50);
        clock.received += 1;
        assert_eq!(clock.quiet_for(170, false), 0);
        assert_eq!(clock.quiet_for(200, true), 0);
        assert_eq!(clock.quiet_for(260, false), 60);
        assert_eq!(
            clock.quiet_for(10, false),
            0,
            "a clock going back is no time"
        );
    }

    #[test]
    fn the_rules_apply_only_after_their_idle_periods() {
        let both = rules(Some(100), Some((300, 1_000)));
        assert_eq!(target(99, 5_000, Some(70), &both), None);
        assert_eq!(
            target(100, 5_000, Some(70), &both),
            Some((70, WatermarkSource::IdlePartition))
        );
        // Without an active task there is no event time to follow.
        assert_eq!(target(200, 5_000, None, &both), None);
        assert_eq!(
            target(300, 5_000, Some(70), &both),
            Some((4_000, WatermarkSource::WallClock))
        );
        // The larger of the two wins.
        assert_eq!(
            target(300, 5_000, Some(4_500), &both),
            Some((4_500, WatermarkSource::IdlePartition))
        );
        assert_eq!(target(1_000_000, 5_000, Some(70), &rules(None, None)), None);
    }
}
