//! Global stores: every stream thread keeps its own replica of the global stores, read from
//! all partitions of their topics.
//!
//! Kafka Streams keeps one copy per instance in a global thread. Tasks here are
//! single-threaded (their stores are shared by `Rc`), so each thread bootstraps and follows
//! its own copy; the cost is memory per thread, never consistency, since every copy reads the
//! same topics to their end before processing starts.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use super::messages::raw_record;
use super::RuntimeError;
use crate::{StreamsConfig, Task, Topology};

/// How many records one call to [`GlobalReplica::update`] applies at most.
const UPDATE_BATCH: usize = 1_000;

/// A thread's copy of the global stores, and the consumer that keeps it current.
pub(crate) struct GlobalReplica {
    task: Task,
    consumer: BaseConsumer,
}

impl GlobalReplica {
    /// Builds the global stores of `topology` (if it has any) in `config`'s state directory,
    /// and reads their topics to the end.
    pub(crate) fn bootstrap(
        topology: &Topology,
        config: &StreamsConfig,
        consumer: BaseConsumer,
    ) -> Result<Option<Self>, RuntimeError> {
        let topics = topology.global_topics(config.application_id());
        if topics.is_empty() {
            return Ok(None);
        }
        // The topics are the stores' changelog: start from nothing and read them whole.
        let dir = config.state_dir_path().join(config.application_id());
        let _ = std::fs::remove_dir_all(&dir);
        let Some(mut task) = topology.create_global_task(config)? else {
            return Ok(None);
        };
        task.init()?;
        let timeout = Duration::from_secs(10);
        let mut assignment = TopicPartitionList::new();
        let mut ends = Vec::new();
        for topic in &topics {
            let metadata = consumer
                .fetch_metadata(Some(topic), timeout)
                .map_err(RuntimeError::kafka("fetch global topic metadata"))?;
            for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
                let (_, high) = consumer
                    .fetch_watermarks(topic, partition.id(), timeout)
                    .map_err(RuntimeError::kafka("fetch global topic offsets"))?;
                assignment
                    .add_partition_offset(topic, partition.id(), Offset::Beginning)
                    .map_err(RuntimeError::kafka("assign global partitions"))?;
                ends.push((topic.clone(), partition.id(), high));
            }
        }
        consumer
            .assign(&assignment)
            .map_err(RuntimeError::kafka("assign global partitions"))?;
        let mut replica = Self { task, consumer };
        let started = Instant::now();
        let mut applied = 0;
        loop {
            let positions = replica
                .consumer
                .position()
                .map_err(RuntimeError::kafka("read global positions"))?;
            let caught_up = ends.iter().all(|(topic, partition, end)| {
                *end == 0
                    || positions
                        .find_partition(topic, *partition)
                        .and_then(|e| e.offset().to_raw())
                        .is_some_and(|p| p >= *end)
            });
            if caught_up {
                // A listed end can lag the log by part of a batch (tansu's does); what the
                // fetch that reached it brought is applied too.
                loop {
                    let more = replica.update(Duration::ZERO)?;
                    applied += more;
                    if more == 0 {
                        break;
                    }
                }
                break;
            }
            applied += replica.update(Duration::from_millis(100))?;
        }
        tracing::info!(
            records = applied,
            ms = started.elapsed().as_millis() as u64,
            "bootstrapped the global stores"
        );
        Ok(Some(replica))
    }

    /// Applies the records that have arrived (waiting at most `timeout` for the first).
    pub(crate) fn update(&mut self, timeout: Duration) -> Result<usize, RuntimeError> {
        let mut applied = 0;
        let mut wait = timeout;
        while applied < UPDATE_BATCH {
            match self.consumer.poll(wait) {
                Some(Ok(message)) => {
                    let topic = message.topic().to_owned();
                    self.task.add_records(&topic, [raw_record(&message)])?;
                    while self.task.process_next()? {}
                    applied += 1;
                    wait = Duration::ZERO;
                }
                Some(Err(error)) => {
                    return Err(RuntimeError::Kafka {
                        operation: "read a global topic",
                        source: error,
                    })
                }
                None => break,
            }
        }
        if applied > 0 {
            self.task.flush_caches()?;
        }
        Ok(applied)
    }

    /// The global task, whose stores tasks attach to.
    pub(crate) fn task(&self) -> &Task {
        &self.task
    }
}
