//! Pacing: how far in event time a stream thread lets the tasks of one sub-topology go
//! while one of them waits for records that are on their way.
//!
//! The tasks of a sub-topology write to the same repartition topics, so the task that reads
//! one receives their records interleaved only as far as they advance together. When an
//! input partition of one of them is empty but has more records on the broker (its fetch is
//! in flight, or it was paused with a full buffer), its siblings process no record later than
//! that partition's time until the records arrive, or until `patience` has passed: a slow
//! partition delays the others, never stops them. On a backlog this is what keeps the
//! downstream task's stream time from racing ahead of the records of the task behind.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use crate::{Task, TaskId, Timestamp};

/// When each input partition that holds its sub-topology back began to: patience runs per
/// partition, so one that keeps being drained and refilled never uses up another's.
#[derive(Debug, Default)]
pub(crate) struct Pacing {
    held_since: HashMap<(TaskId, usize), Instant>,
}

impl Pacing {
    /// The event time up to which each held sub-topology's tasks may process now.
    /// `lagging(topic, partition)` says whether an empty input partition has more records
    /// on the broker.
    pub(crate) fn limits(
        &mut self,
        tasks: &BTreeMap<TaskId, Task>,
        lagging: &dyn Fn(&str, i32) -> bool,
        patience: Duration,
    ) -> HashMap<u32, Timestamp> {
        let now = Instant::now();
        let mut holding = Vec::new();
        let mut limits: HashMap<u32, Timestamp> = HashMap::new();
        for (id, task) in tasks {
            for (input, topic, time) in task.empty_inputs() {
                if !lagging(topic, id.partition) {
                    continue;
                }
                let since = *self.held_since.entry((*id, input)).or_insert(now);
                holding.push((*id, input));
                // A partition that stays behind past its patience holds nobody back.
                if now.duration_since(since) < patience {
                    let limit = limits.entry(id.subtopology).or_insert(time);
                    *limit = (*limit).min(time);
                }
            }
        }
        self.held_since.retain(|key, _| holding.contains(key));
        limits
    }

    /// Forgets the holds of the tasks that `closed` selects (they are gone).
    pub(crate) fn forget_where(&mut self, closed: &impl Fn(TaskId) -> bool) {
        self.held_since.retain(|(id, _), _| !closed(*id));
    }
}
