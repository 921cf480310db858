//! Shrinking a failing run to a small one that still fails: fewer steps (the shortest
//! failing prefix, then chunks of steps dropped, delta-debugging style), fewer input
//! records, smaller fetches and process turns.

use super::replay::{Replay, Step};

/// The most replays one shrink tries.
const MAX_ATTEMPTS: usize = 4_000;

/// Shrinks `failing` (a replay for which `fails` is true) to a smaller replay for which
/// `fails` is still true, trying at most a few thousand replays: the shortest prefix of
/// its steps that fails, the fewest input records, then dropping chunks of steps (halves,
/// quarters, ... single steps) and lowering the record counts of fetches and process
/// turns, over again until nothing shrinks further. `fails` should replay the candidate
/// (for example with [`SimulationDriver::replay`](super::SimulationDriver::replay)) and
/// check the property; the result is as deterministic as `fails`.
pub fn shrink(failing: Replay, mut fails: impl FnMut(&Replay) -> bool) -> Replay {
    let mut shrinker = Shrinker {
        best: failing,
        attempts: 0,
        fails: &mut fails,
    };
    loop {
        let before = shrinker.best.clone();
        shrinker.shortest_prefix();
        shrinker.fewest_inputs();
        shrinker.drop_chunks();
        shrinker.lower_counts();
        if shrinker.best == before || shrinker.attempts >= MAX_ATTEMPTS {
            return shrinker.best;
        }
    }
}

struct Shrinker<'a> {
    best: Replay,
    attempts: usize,
    fails: &'a mut dyn FnMut(&Replay) -> bool,
}

impl Shrinker<'_> {
    /// Whether `candidate` fails (and, if so, keeps it).
    fn accept(&mut self, candidate: Replay) -> bool {
        if self.attempts >= MAX_ATTEMPTS {
            return false;
        }
        self.attempts += 1;
        let failed = (self.fails)(&candidate);
        if failed {
            self.best = candidate;
        }
        failed
    }

    /// The smallest `n` in `0..=known` for which `candidate(n)` fails, by bisection
    /// (`known` fails).
    fn smallest(&mut self, known: usize, candidate: impl Fn(&Replay, usize) -> Replay) {
        let (mut low, mut high) = (0, known);
        while low < high {
            let middle = low + (high - low) / 2;
            let replay = candidate(&self.best, middle);
            if self.accept(replay) {
                high = middle;
            } else {
                low = middle + 1;
            }
        }
    }

    fn shortest_prefix(&mut self) {
        let known = self.best.steps.len();
        self.smallest(known, |best, n| Replay {
            steps: best.steps[..n.min(best.steps.len())].to_vec(),
            ..best.clone()
        });
    }

    fn fewest_inputs(&mut self) {
        let known = self.best.inputs;
        self.smallest(known, |best, n| Replay {
            inputs: n,
            ..best.clone()
        });
    }

    fn drop_chunks(&mut self) {
        let mut chunk = self.best.steps.len() / 2;
        while chunk > 0 {
            let mut start = 0;
            while start < self.best.steps.len() {
                let end = (start + chunk).min(self.best.steps.len());
                let mut steps = self.best.steps.clone();
                steps.drain(start..end);
                let candidate = Replay {
                    steps,
                    ..self.best.clone()
                };
                if !self.accept(candidate) {
                    start += chunk;
                }
            }
            chunk /= 2;
        }
    }

    fn lower_counts(&mut self) {
        for i in 0..self.best.steps.len() {
            while let Some(lower) = lowered(&self.best.steps[i]) {
                let mut candidate = self.best.clone();
                candidate.steps[i] = lower;
                if !self.accept(candidate) {
                    break;
                }
            }
        }
    }
}

/// The step with half the records (a fetch or process turn of more than one record).
fn lowered(step: &Step) -> Option<Step> {
    match step {
        Step::Fetch {
            task,
            topic,
            records,
        } if *records > 1 => Some(Step::Fetch {
            task: *task,
            topic: topic.clone(),
            records: records / 2,
        }),
        Step::Process { task, records } if *records > 1 => Some(Step::Process {
            task: *task,
            records: records / 2,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TaskId;

    #[test]
    fn a_failure_that_needs_two_steps_shrinks_to_them() {
        let task = TaskId {
            subtopology: 0,
            partition: 0,
        };
        let mut steps: Vec<Step> = (0..200)
            .map(|i| Step::Process {
                task,
                records: 1 + i % 7,
            })
            .collect();
        steps[57] = Step::Crash { task };
        steps[140] = Step::Fetch {
            task,
            topic: "t".into(),
            records: 6,
        };
        let failing = Replay {
            seed: 1,
            inputs: 90,
            steps,
        };
        // Fails when a crash comes before a fetch of at least 3 records, with 10+ inputs.
        let fails = |r: &Replay| {
            let crash = r.steps.iter().position(|s| matches!(s, Step::Crash { .. }));
            let fetch = r
                .steps
                .iter()
                .position(|s| matches!(s, Step::Fetch { records, .. } if *records >= 3));
            matches!((crash, fetch), (Some(c), Some(f)) if c < f) && r.inputs >= 10
        };
        let shrunk = shrink(failing, fails);
        assert_eq!(shrunk.inputs, 10);
        assert_eq!(
            shrunk.steps,
            vec![
                Step::Crash { task },
                Step::Fetch {
                    task,
                    topic: "t".into(),
                    records: 3
                }
            ]
        );
    }
}
