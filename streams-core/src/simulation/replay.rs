//! The steps of a simulated run, and a replay: a seed, an input prefix and explicit steps,
//! printed as one line of text that parses back into the same replay.

use std::fmt;
use std::str::FromStr;

use crate::TaskId;

/// One step of a simulated run. Its text is what [`Display`](fmt::Display) prints and
/// [`FromStr`] parses: `fetch 0_1 lines 3`, `process 1_0 5`, `commit 0_2`, `crash 1_1`,
/// `move 0_0 to 1`, `commit all`.
#[derive(Clone, PartialEq, Eq)]
pub enum Step {
    /// Hands a task up to `records` further records of one of its input partitions.
    Fetch {
        /// The task.
        task: TaskId,
        /// The input topic.
        topic: String,
        /// The most records fetched.
        records: usize,
    },
    /// A task processes up to `records` buffered records.
    Process {
        /// The task.
        task: TaskId,
        /// The most records processed.
        records: usize,
    },
    /// A task commits.
    Commit {
        /// The task.
        task: TaskId,
    },
    /// A task's instance crashes and restarts it.
    Crash {
        /// The task.
        task: TaskId,
    },
    /// A task moves to another instance (a rebalance).
    Move {
        /// The task.
        task: TaskId,
        /// The instance it moves to.
        to: usize,
    },
    /// Every task commits (what a run does when nothing is left to fetch or process).
    CommitAll,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Fetch {
                task,
                topic,
                records,
            } => write!(f, "fetch {task} {topic} {records}"),
            Step::Process { task, records } => write!(f, "process {task} {records}"),
            Step::Commit { task } => write!(f, "commit {task}"),
            Step::Crash { task } => write!(f, "crash {task}"),
            Step::Move { task, to } => write!(f, "move {task} to {to}"),
            Step::CommitAll => write!(f, "commit all"),
        }
    }
}

impl fmt::Debug for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a step's or a replay's text did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseReplayError(String);

impl fmt::Display for ParseReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a simulation replay: {}", self.0)
    }
}

impl std::error::Error for ParseReplayError {}

fn bad(text: &str) -> ParseReplayError {
    ParseReplayError(text.to_owned())
}

fn task_id(text: &str) -> Result<TaskId, ParseReplayError> {
    let (subtopology, partition) = text.split_once('_').ok_or_else(|| bad(text))?;
    Ok(TaskId {
        subtopology: subtopology.parse().map_err(|_| bad(text))?,
        partition: partition.parse().map_err(|_| bad(text))?,
    })
}

fn number(text: &str) -> Result<usize, ParseReplayError> {
    text.parse().map_err(|_| bad(text))
}

impl FromStr for Step {
    type Err = ParseReplayError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let words: Vec<&str> = text.split_whitespace().collect();
        match words.as_slice() {
            ["fetch", task, topic, records] => Ok(Step::Fetch {
                task: task_id(task)?,
                topic: (*topic).to_owned(),
                records: number(records)?,
            }),
            ["process", task, records] => Ok(Step::Process {
                task: task_id(task)?,
                records: number(records)?,
            }),
            ["commit", "all"] => Ok(Step::CommitAll),
            ["commit", task] => Ok(Step::Commit {
                task: task_id(task)?,
            }),
            ["crash", task] => Ok(Step::Crash {
                task: task_id(task)?,
            }),
            ["move", task, "to", to] => Ok(Step::Move {
                task: task_id(task)?,
                to: number(to)?,
            }),
            _ => Err(bad(text)),
        }
    }
}

/// A run to replay: the seed (which places the tasks on instances at the start and
/// partitions records without a key), how many of the records piped into the driver it
/// keeps (the first `inputs`, the rest are ignored), and the steps, after which the run
/// finishes without failures (every task fetches, processes and commits until nothing is
/// left). Its text, `seed 7 inputs 12: fetch 0_1 lines 3; process 0_1 3; crash 0_1`,
/// parses back with [`FromStr`]; [`SimulationDriver::replay`](super::SimulationDriver::replay)
/// runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    /// The seed of the run.
    pub seed: u64,
    /// How many piped records the run keeps (the first ones, in the order piped).
    pub inputs: usize,
    /// The steps, before the run finishes on its own.
    pub steps: Vec<Step>,
}

impl fmt::Display for Replay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seed {} inputs {}:", self.seed, self.inputs)?;
        for (i, step) in self.steps.iter().enumerate() {
            let separator = if i == 0 { " " } else { "; " };
            write!(f, "{separator}{step}")?;
        }
        Ok(())
    }
}

impl FromStr for Replay {
    type Err = ParseReplayError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (head, steps) = text.split_once(':').ok_or_else(|| bad(text))?;
        let (seed, inputs) = match head.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["seed", seed, "inputs", inputs] => {
                (seed.parse().map_err(|_| bad(seed))?, number(inputs)?)
            }
            _ => return Err(bad(head)),
        };
        let steps = steps
            .split(';')
            .filter(|s| !s.trim().is_empty())
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        Ok(Replay {
            seed,
            inputs,
            steps,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_parses_back_from_its_text() {
        let task = TaskId {
            subtopology: 1,
            partition: 2,
        };
        let replay = Replay {
            seed: 42,
            inputs: 7,
            steps: vec![
                Step::Fetch {
                    task,
                    topic: "app-words-repartition".into(),
                    records: 3,
                },
                Step::Process { task, records: 5 },
                Step::Commit { task },
                Step::Crash { task },
                Step::Move { task, to: 1 },
                Step::CommitAll,
            ],
        };
        let text = replay.to_string();
        assert_eq!(
            text,
            "seed 42 inputs 7: fetch 1_2 app-words-repartition 3; process 1_2 5; commit 1_2; \
             crash 1_2; move 1_2 to 1; commit all"
        );
        assert_eq!(text.parse::<Replay>(), Ok(replay));
        let empty = "seed 3 inputs 0:".parse::<Replay>().unwrap();
        assert!(empty.steps.is_empty());
        assert!("seed 3: crash x_1".parse::<Replay>().is_err());
        assert!("seed 3 inputs 1: crash x_1".parse::<Replay>().is_err());
    }
}
