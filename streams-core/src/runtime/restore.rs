//! Restoration: replays a task's changelog partitions into its stores, from where the
//! checkpoint says the local state ends to the partition's end, before the task processes
//! anything.
//!
//! It runs in slices between the thread's polls, so that a long restoration never keeps the
//! group consumer from polling (which would cost the thread its group membership).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use std::sync::Arc;

use super::restore_listener::StateRestoreListener;
use super::{messages, RuntimeError};
use crate::{ChangelogRecord, Task, TopicPartition};

/// How many changelog records are applied to a store at once (one engine write batch).
const BATCH: usize = 10_000;
/// How long restoration may go without receiving anything before it gives up.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// A changelog partition being restored.
struct Pending {
    store: String,
    partition: i32,
    /// The end offset listed when restoration started: restoration reads at least this far,
    /// then what the fetch that reached it brought.
    end: i64,
    /// The next offset to read.
    next: i64,
    batch: Vec<ChangelogRecord>,
    restored: u64,
    /// The changelog partition, for the listener.
    changelog: TopicPartition,
    /// Whether the listener has heard of the start.
    announced: bool,
}

/// How far the restoration of one task has come.
pub(crate) struct Progress {
    /// By changelog topic, restored one at a time in this order.
    pending: BTreeMap<String, Pending>,
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

/// What restoring a task takes.
pub(crate) enum Plan {
    /// Replay the changelogs from after the checkpoints.
    Restore(Progress),
    /// The local state does not fit its changelog (the reason): wipe it and restore all.
    Corrupted(String),
}

/// Reads changelogs with a consumer of its own (assigned partitions, no group).
pub(crate) struct Restorer {
    consumer: BaseConsumer,
    timeout: Duration,
    listener: Arc<dyn StateRestoreListener>,
}

impl Restorer {
    pub(crate) fn new(consumer: BaseConsumer, listener: Arc<dyn StateRestoreListener>) -> Self {
        Self {
            consumer,
            timeout: Duration::from_secs(10),
            listener,
        }
    }

    /// What `task` has to restore: each changelog partition from after its checkpoint to
    /// its end; or, when a checkpoint does not fit its changelog, why the task's local
    /// state cannot be trusted.
    pub(crate) fn plan(&self, task: &Task) -> Result<Plan, RuntimeError> {
        let mut pending = BTreeMap::new();
        for changelog in task.changelog_partitions() {
            let (low, high) = self
                .consumer
                .fetch_watermarks(&changelog.topic, changelog.partition, self.timeout)
                .map_err(RuntimeError::kafka("fetch changelog offsets"))?;
            if let Some(covered) = changelog.restored_up_to {
                // Beyond the end: the changelog was deleted and recreated, or this is another
                // cluster. Below the start: what lies between was deleted. Either way the
                // local state holds what the changelog cannot vouch for (Kafka Streams'
                // corrupted task).
                if covered + 1 > high || covered + 1 < low {
                    return Ok(Plan::Corrupted(format!(
                        "the checkpoint of store {} covers offset {covered} of {}-{}, \
                         which holds offsets {low}..{high}",
                        changelog.store, changelog.topic, changelog.partition
                    )));
                }
            }
            let start = changelog.restored_up_to.map_or(low, |covered| covered + 1);
            if start >= high {
                continue;
            }
            pending.insert(
                changelog.topic.clone(),
                Pending {
                    changelog: TopicPartition {
                        topic: changelog.topic,
                        partition: changelog.partition,
                    },
                    announced: false,
                    store: changelog.store,
                    partition: changelog.partition,
                    end: high,
                    next: start,
                    batch: Vec::new(),
                    restored: 0,
                },
            );
        }
        Ok(Plan::Restore(Progress {
            pending,
            started: Instant::now(),
            last_progress: Instant::now(),
            restored: 0,
        }))
    }

    /// Restores for about `slice`, applying what it read; returns whether `task` is done.
    pub(crate) fn resume(
        &self,
        task: &mut Task,
        progress: &mut Progress,
        slice: Duration,
    ) -> Result<bool, RuntimeError> {
        let deadline = Instant::now() + slice;
        while Instant::now() < deadline {
            let Some(mut entry) = progress.pending.first_entry() else {
                break;
            };
            let topic = entry.key().clone();
            let p = entry.get_mut();
            let _span = tracing::debug_span!(
                "restore", task = %task.id(), store = %p.store, changelog = %topic,
                partition = p.partition
            )
            .entered();
            if !p.announced {
                p.announced = true;
                self.listener
                    .on_restore_start(&p.changelog, &p.store, p.next, p.end);
            }
            let before = p.restored;
            let finished = self.read(task, &topic, p, deadline, &mut progress.last_progress)?;
            self.apply(task, p)?;
            progress.restored += p.restored - before;
            if finished {
                let p = entry.remove();
                tracing::debug!(
                    task = %task.id(), store = %p.store, changelog = %topic,
                    records = p.restored, ms = progress.started.elapsed().as_millis() as u64,
                    "restored a store"
                );
                self.listener
                    .on_restore_end(&p.changelog, &p.store, p.restored);
            }
        }
        Ok(progress.is_done())
    }

    /// Reads the changelog partition `p` of `topic` until its end or `deadline`; returns
    /// whether it reached the end.
    fn read(
        &self,
        task: &mut Task,
        topic: &str,
        p: &mut Pending,
        deadline: Instant,
        last_progress: &mut Instant,
    ) -> Result<bool, RuntimeError> {
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, p.partition, Offset::Offset(p.next))
            .map_err(RuntimeError::kafka("assign a changelog partition"))?;
        self.consumer
            .assign(&assignment)
            .map_err(RuntimeError::kafka("assign a changelog partition"))?;
        let (mut caught_up, mut finished) = (p.next >= p.end, false);
        while Instant::now() < deadline {
            // Once past the listed end, only what the last fetch already brought is read:
            // a listed end can lag the log by part of a batch (tansu's does), and a batch
            // arrives whole.
            let wait = if caught_up {
                Duration::ZERO
            } else {
                Duration::from_millis(50)
            };
            match self.consumer.poll(wait) {
                Some(Ok(message)) => {
                    *last_progress = Instant::now();
                    p.batch.push(ChangelogRecord {
                        key: message.key().unwrap_or_default().to_vec(),
                        value: message.payload().map(<[u8]>::to_vec),
                        timestamp: messages::timestamp(&message),
                    });
                    p.next = message.offset() + 1;
                    caught_up |= p.next >= p.end;
                    if p.batch.len() >= BATCH {
                        self.apply(task, p)?;
                    }
                }
                Some(Err(error)) => {
                    return Err(RuntimeError::Kafka {
                        operation: "read a changelog",
                        source: error,
                    })
                }
                None if caught_up => {
                    finished = true;
                    break;
                }
                // Under exactly-once the last offsets may be transaction markers, which only
                // the position passes.
                None if self.position(topic, p.partition)? >= p.end => caught_up = true,
                None if last_progress.elapsed() > STALL_TIMEOUT => {
                    return Err(RuntimeError::Kafka {
                        operation: "restore (no progress for 60 s)",
                        source: KafkaError::MessageConsumption(
                            rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
                        ),
                    });
                }
                None => {}
            }
        }
        self.consumer
            .unassign()
            .map_err(RuntimeError::kafka("unassign changelog partitions"))?;
        Ok(finished)
    }

    fn position(&self, topic: &str, partition: i32) -> Result<i64, RuntimeError> {
        let positions = self
            .consumer
            .position()
            .map_err(RuntimeError::kafka("read restore positions"))?;
        Ok(positions
            .find_partition(topic, partition)
            .and_then(|e| e.offset().to_raw())
            .unwrap_or(-1))
    }
}

impl Restorer {
    /// Writes the records read so far to the store, and tells the listener.
    fn apply(&self, task: &mut Task, p: &mut Pending) -> Result<u64, RuntimeError> {
        if p.batch.is_empty() {
            return Ok(0);
        }
        task.restore(&p.store, &p.batch, p.next - 1)?;
        let n = p.batch.len() as u64;
        p.restored += n;
        p.batch.clear();
        self.listener
            .on_batch_restored(&p.changelog, &p.store, p.next - 1, n);
        Ok(n)
    }
}
