//! Restoration: replays a task's changelog partitions into its stores, from where the
//! checkpoint says the local state ends, before the task processes anything.

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
    end: i64,
    batch: Vec<ChangelogRecord>,
    last_offset: i64,
    restored: u64,
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

    /// Brings `task`'s stores up to the end of their changelogs. Returns the number of
    /// records applied.
    pub(crate) fn restore(&self, task: &mut Task) -> Result<u64, RuntimeError> {
        let mut pending: HashMap<String, Pending> = HashMap::new();
        let mut assignment = TopicPartitionList::new();
        for changelog in task.changelog_partitions() {
            let (low, high) = self
                .consumer
                .fetch_watermarks(&changelog.topic, changelog.partition, self.timeout)
                .map_err(RuntimeError::kafka("fetch changelog offsets"))?;
            let start = changelog
                .restored_up_to
                .map_or(low, |covered| (covered + 1).max(low));
            if start >= high {
                continue;
            }
            assignment
                .add_partition_offset(&changelog.topic, changelog.partition, Offset::Offset(start))
                .map_err(RuntimeError::kafka("assign changelog partitions"))?;
            pending.insert(
                changelog.topic,
                Pending {
                    store: changelog.store,
                    partition: changelog.partition,
                    end: high,
                    batch: Vec::new(),
                    last_offset: start - 1,
                    restored: 0,
                },
            );
        }
        if pending.is_empty() {
            return Ok(0);
        }
        self.consumer
            .assign(&assignment)
            .map_err(RuntimeError::kafka("assign changelog partitions"))?;
        let started = Instant::now();
        let mut last_progress = Instant::now();
        let mut total = 0;
        while !pending.is_empty() {
            match self.consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    last_progress = Instant::now();
                    if let Some(p) = pending.get_mut(message.topic()) {
                        p.batch.push(ChangelogRecord {
                            key: message.key().unwrap_or_default().to_vec(),
                            value: message.payload().map(<[u8]>::to_vec),
                        });
                        p.last_offset = message.offset();
                        if p.batch.len() >= BATCH {
                            total += apply(task, p)?;
                        }
                    }
                }
                Some(Err(error)) => {
                    return Err(RuntimeError::Kafka {
                        operation: "read a changelog",
                        source: error,
                    })
                }
                None if last_progress.elapsed() > STALL_TIMEOUT => {
                    return Err(RuntimeError::Kafka {
                        operation: "restore (no progress for 60 s)",
                        source: rdkafka::error::KafkaError::MessageConsumption(
                            rdkafka::types::RDKafkaErrorCode::OperationTimedOut,
                        ),
                    });
                }
                None => {}
            }
            // Done with a partition once its position passes the end seen at the start
            // (under exactly-once the last offsets may be transaction markers, never records).
            let positions = self
                .consumer
                .position()
                .map_err(RuntimeError::kafka("read restore positions"))?;
            let mut finished = Vec::new();
            for (topic, p) in &pending {
                let position = positions
                    .find_partition(topic, p.partition)
                    .and_then(|e| e.offset().to_raw())
                    .unwrap_or(-1);
                if position >= p.end || p.last_offset >= p.end - 1 {
                    finished.push(topic.clone());
                }
            }
            for topic in finished {
                if let Some(mut p) = pending.remove(&topic) {
                    total += apply(task, &mut p)?;
                    tracing::info!(
                        task = %task.id(), store = %p.store, changelog = %topic,
                        records = p.restored, ms = started.elapsed().as_millis() as u64,
                        "restored a store"
                    );
                }
            }
        }
        self.consumer
            .unassign()
            .map_err(RuntimeError::kafka("unassign changelog partitions"))?;
        Ok(total)
    }
}

fn apply(task: &mut Task, p: &mut Pending) -> Result<u64, RuntimeError> {
    if p.batch.is_empty() {
        return Ok(0);
    }
    task.restore(&p.store, &p.batch, p.last_offset)?;
    let n = p.batch.len() as u64;
    p.restored += n;
    p.batch.clear();
    Ok(n)
}
