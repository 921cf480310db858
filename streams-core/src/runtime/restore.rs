//! Restoration: replays a task's changelog partitions into its stores, from where the
//! checkpoint says the local state ends, before the task processes anything.
//!
//! It runs in slices between the thread's polls, so that a long restoration never keeps the
//! group consumer from polling (which would cost the thread its group membership).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::RuntimeError;
use crate::{ChangelogRecord, Task};

/// How many changelog records are applied to a store at once (one engine write batch).
const BATCH: usize = 10_000;
/// How long restoration may go without receiving anything before it gives up.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A changelog partition being restored.
struct Pending {
    store: String,
    partition: i32,
    /// The end offset seen when restoration started.
    end: i64,
    /// The next offset to read.
    next: i64,
    batch: Vec<ChangelogRecord>,
    restored: u64,
}

/// How far the restoration of one task has come.
pub(crate) struct Progress {
    pending: HashMap<String, Pending>,
    started: Instant,
    last_progress: Instant,
    /// Records applied so far.
    pub(crate) restored: u64,
}

impl Progress {
    /// Whether every changelog partition is restored.
    pub(crate) fn is_done(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Reads changelogs with a consumer of its own (assigned partitions, no group).
pub(crate) struct Restorer {
    consumer: BaseConsumer,
    timeout: Duration,
}

impl Restorer {
    pub(crate) fn new(consumer: BaseConsumer) -> Self {
        Self {
            consumer,
            timeout: Duration::from_secs(10),
        }
    }

    /// What `task` has to restore: each changelog partition from after its checkpoint to
    /// its current end.
    pub(crate) fn plan(&self, task: &Task) -> Result<Progress, RuntimeError> {
        let mut pending = HashMap::new();
        for changelog in task.changelog_partitions() {
            let (low, high) = self
                .consumer
                .fetch_watermarks(&changelog.topic, changelog.partition, self.timeout)
                .map_err(RuntimeError::kafka("fetch changelog offsets"))?;
            let start = changelog
                .restored_up_to
                .map_or(low, |covered| (covered + 1).max(low));
            if start < high {
                pending.insert(
                    changelog.topic,
                    Pending {
                        store: changelog.store,
                        partition: changelog.partition,
                        end: high,
                        next: start,
                        batch: Vec::new(),
                        restored: 0,
                    },
                );
            }
        }
        Ok(Progress {
            pending,
            started: Instant::now(),
            last_progress: Instant::now(),
            restored: 0,
        })
    }

    /// Restores for about `slice`, applying what it read; returns whether `task` is done.
    pub(crate) fn resume(
        &self,
        task: &mut Task,
        progress: &mut Progress,
        slice: Duration,
    ) -> Result<bool, RuntimeError> {
        if progress.is_done() {
            return Ok(true);
        }
        let mut assignment = TopicPartitionList::new();
        for (topic, p) in &progress.pending {
            assignment
                .add_partition_offset(topic, p.partition, Offset::Offset(p.next))
                .map_err(RuntimeError::kafka("assign changelog partitions"))?;
        }
        self.consumer
            .assign(&assignment)
            .map_err(RuntimeError::kafka("assign changelog partitions"))?;
        let deadline = Instant::now() + slice;
        while !progress.is_done() && Instant::now() < deadline {
            match self.consumer.poll(Duration::from_millis(50)) {
                Some(Ok(message)) => {
                    progress.last_progress = Instant::now();
                    if let Some(p) = progress.pending.get_mut(message.topic()) {
                        p.batch.push(ChangelogRecord {
                            key: message.key().unwrap_or_default().to_vec(),
                            value: message.payload().map(<[u8]>::to_vec),
                        });
                        p.next = message.offset() + 1;
                        if p.batch.len() >= BATCH {
                            progress.restored += apply(task, p)?;
                        }
                    }
                }
                Some(Err(error)) => {
                    return Err(RuntimeError::Kafka {
                        operation: "read a changelog",
                        source: error,
                    })
                }
                None if progress.last_progress.elapsed() > STALL_TIMEOUT => {
                    return Err(RuntimeError::Kafka {
                        operation: "restore (no progress for 60 s)",
                        source: rdkafka::error::KafkaError::MessageConsumption(
                            rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
                        ),
                    });
                }
                None => {}
            }
            self.finish_caught_up(task, progress)?;
        }
        // Apply what was read, so that the next slice starts after it.
        for p in progress.pending.values_mut() {
            progress.restored += apply(task, p)?;
        }
        self.consumer
            .unassign()
            .map_err(RuntimeError::kafka("unassign changelog partitions"))?;
        Ok(progress.is_done())
    }

    /// Retires the partitions whose position passed the end seen at the start (under
    /// exactly-once the last offsets may be transaction markers, never records).
    fn finish_caught_up(
        &self,
        task: &mut Task,
        progress: &mut Progress,
    ) -> Result<(), RuntimeError> {
        let positions = self
            .consumer
            .position()
            .map_err(RuntimeError::kafka("read restore positions"))?;
        let finished: Vec<String> = progress
            .pending
            .iter()
            .filter(|(topic, p)| {
                let position = positions
                    .find_partition(topic, p.partition)
                    .and_then(|e| e.offset().to_raw())
                    .unwrap_or(-1);
                position >= p.end || p.next >= p.end
            })
            .map(|(topic, _)| topic.clone())
            .collect();
        for topic in finished {
            if let Some(mut p) = progress.pending.remove(&topic) {
                progress.restored += apply(task, &mut p)?;
                tracing::info!(
                    task = %task.id(), store = %p.store, changelog = %topic,
                    records = p.restored, ms = progress.started.elapsed().as_millis() as u64,
                    "restored a store"
                );
            }
        }
        Ok(())
    }
}

fn apply(task: &mut Task, p: &mut Pending) -> Result<u64, RuntimeError> {
    if p.batch.is_empty() {
        return Ok(0);
    }
    task.restore(&p.store, &p.batch, p.next - 1)?;
    let n = p.batch.len() as u64;
    p.restored += n;
    p.batch.clear();
    Ok(n)
}
