//! Purging repartition topics: the application owns them and reads each record once, so
//! after a commit the records below the committed offsets are deleted (the admin API's
//! `DeleteRecords`), at most every `repartition.purge.interval.ms`, as Kafka Streams does.
//! A purge is sent and not waited for; its outcome is looked at before the next one.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures::FutureExt;
use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaResult;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::{StreamsConfig, Topology};

/// A `DeleteRecords` request on its way.
type Pending = Pin<Box<dyn Future<Output = KafkaResult<TopicPartitionList>>>>;

/// One stream thread's purging of the repartition topics it reads.
pub(crate) struct RepartitionPurge {
    /// The repartition topics, resolved.
    topics: HashSet<String>,
    interval: Duration,
    /// When the last purge was sent (at first, when the thread started).
    last: Instant,
    admin_config: ClientConfig,
    /// Created at the first purge.
    admin: Option<AdminClient<DefaultClientContext>>,
    pending: Option<Pending>,
}

impl RepartitionPurge {
    pub(crate) fn new(config: &StreamsConfig, topology: &Topology) -> Self {
        Self {
            topics: topology
                .internal_topics(config.application_id())
                .into_iter()
                .collect(),
            interval: config.repartition_purge_interval_value(),
            last: Instant::now(),
            admin_config: super::clients::admin(config),
            admin: None,
            pending: None,
        }
    }

    /// After a commit of `committed` (the next offset to read, by topic and partition):
    /// deletes what lies below it in the repartition topics, if the interval has passed
    /// since the last purge and that one is done.
    pub(crate) fn after_commit(&mut self, committed: &HashMap<(String, i32), i64>) {
        if self.topics.is_empty() || self.last.elapsed() < self.interval {
            return;
        }
        if let Some(pending) = &mut self.pending {
            match pending.now_or_never() {
                None => return,
                Some(outcome) => report(outcome),
            }
            self.pending = None;
        }
        let mut below = TopicPartitionList::new();
        for ((topic, partition), &offset) in committed {
            if self.topics.contains(topic) && offset > 0 {
                if let Err(error) =
                    below.add_partition_offset(topic, *partition, Offset::Offset(offset))
                {
                    tracing::warn!(%topic, partition, %error, "cannot purge the partition");
                }
            }
        }
        if below.count() == 0 {
            return;
        }
        let admin = match &self.admin {
            Some(admin) => admin,
            None => match self.admin_config.create() {
                Ok(admin) => self.admin.insert(admin),
                Err(error) => {
                    tracing::warn!(%error, "no admin client to purge repartition topics");
                    self.last = Instant::now();
                    return;
                }
            },
        };
        tracing::debug!(partitions = below.count(), "purging repartition topics");
        self.pending = Some(Box::pin(admin.delete_records(&below, &AdminOptions::new())));
        self.last = Instant::now();
    }
}

/// Logs what a purge did not do (it is retried at the next purge, from a later offset).
fn report(outcome: KafkaResult<TopicPartitionList>) {
    match outcome {
        Err(error) => tracing::warn!(%error, "purging repartition topics failed"),
        Ok(partitions) => {
            for e in partitions.elements() {
                if let Err(error) = e.error() {
                    tracing::warn!(
                        topic = e.topic(),
                        partition = e.partition(),
                        %error,
                        "purging a repartition partition failed"
                    );
                }
            }
        }
    }
}
