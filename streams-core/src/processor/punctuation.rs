use std::time::Duration;

use crate::Timestamp;

/// What drives a punctuation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PunctuationType {
    /// Event time: fires when the task's stream time reaches the schedule.
    StreamTime,
    /// The system clock (the test driver's clock in tests).
    WallClockTime,
}

/// Identifies one scheduled punctuation of a task; used to tell several apart and to cancel one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ScheduleId(pub(crate) u64);

/// One firing of a scheduled punctuation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Punctuation {
    /// Which schedule fired.
    pub schedule: ScheduleId,
    /// What drives it.
    pub kind: PunctuationType,
    /// The current stream time (for stream-time punctuation) or wall-clock time.
    pub timestamp: Timestamp,
}

#[derive(Debug)]
struct Schedule {
    id: ScheduleId,
    node: usize,
    kind: PunctuationType,
    interval: i64,
    next: Timestamp,
}

/// The punctuation schedules of one task.
#[derive(Debug, Default)]
pub(crate) struct PunctuationSchedules {
    schedules: Vec<Schedule>,
    next_id: u64,
}

impl PunctuationSchedules {
    /// Schedules `node` every `interval`. Stream-time schedules start at time 0, so the first
    /// record fires them (as in Kafka Streams); wall-clock schedules first fire one interval
    /// after `now`.
    pub(crate) fn schedule(
        &mut self,
        node: usize,
        kind: PunctuationType,
        interval: Duration,
        now: Timestamp,
    ) -> ScheduleId {
        let interval = i64::try_from(interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let id = ScheduleId(self.next_id);
        self.next_id += 1;
        let next = match kind {
            PunctuationType::StreamTime => 0,
            PunctuationType::WallClockTime => now.saturating_add(interval),
        };
        self.schedules.push(Schedule {
            id,
            node,
            kind,
            interval,
            next,
        });
        id
    }

    pub(crate) fn cancel(&mut self, id: ScheduleId) {
        self.schedules.retain(|s| s.id != id);
    }

    /// Takes the earliest schedule of `kind` due at `now` and moves it to its next time,
    /// skipping intervals that `now` has already passed so that none fires twice for one
    /// interval. Returns the node to call and the punctuation to give it.
    pub(crate) fn next_due(
        &mut self,
        kind: PunctuationType,
        now: Timestamp,
    ) -> Option<(usize, Punctuation)> {
        let schedule = self
            .schedules
            .iter_mut()
            .filter(|s| s.kind == kind && s.next <= now)
            .min_by_key(|s| (s.next, s.id))?;
        let missed = (now - schedule.next) / schedule.interval;
        schedule.next = schedule
            .next
            .saturating_add((missed + 1).saturating_mul(schedule.interval));
        Some((
            schedule.node,
            Punctuation {
                schedule: schedule.id,
                kind,
                timestamp: now,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire_all(s: &mut PunctuationSchedules, kind: PunctuationType, now: i64) -> Vec<ScheduleId> {
        std::iter::from_fn(|| s.next_due(kind, now))
            .map(|(_, p)| p.schedule)
            .collect()
    }

    #[test]
    fn stream_time_fires_once_per_interval_even_after_a_jump() {
        let mut s = PunctuationSchedules::default();
        let id = s.schedule(0, PunctuationType::StreamTime, Duration::from_millis(10), 0);
        assert_eq!(fire_all(&mut s, PunctuationType::StreamTime, 3), vec![id]);
        assert!(fire_all(&mut s, PunctuationType::StreamTime, 9).is_empty());
        assert_eq!(fire_all(&mut s, PunctuationType::StreamTime, 10), vec![id]);
        // A jump over several intervals fires once, then waits for the next boundary.
        assert_eq!(fire_all(&mut s, PunctuationType::StreamTime, 57), vec![id]);
        assert!(fire_all(&mut s, PunctuationType::StreamTime, 59).is_empty());
        assert_eq!(fire_all(&mut s, PunctuationType::StreamTime, 60), vec![id]);
        assert!(fire_all(&mut s, PunctuationType::WallClockTime, 1000).is_empty());
    }

    #[test]
    fn wall_clock_starts_one_interval_after_now_and_can_be_cancelled() {
        let mut s = PunctuationSchedules::default();
        let a = s.schedule(
            0,
            PunctuationType::WallClockTime,
            Duration::from_millis(100),
            1000,
        );
        let b = s.schedule(
            1,
            PunctuationType::WallClockTime,
            Duration::from_millis(50),
            1000,
        );
        assert!(fire_all(&mut s, PunctuationType::WallClockTime, 1049).is_empty());
        assert_eq!(
            fire_all(&mut s, PunctuationType::WallClockTime, 1100),
            vec![b, a]
        );
        s.cancel(b);
        assert_eq!(
            fire_all(&mut s, PunctuationType::WallClockTime, 1200),
            vec![a]
        );
    }
}
