//! Start-up against the cluster: check the topics the topology reads, derive the partition
//! counts of sub-topologies and internal topics, and create the internal topics.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::ClientConfig;

use super::RuntimeError;
use crate::Topology;

/// An internal topic the application needs: a repartition topic or a store's changelog.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternalTopic {
    /// The topic's name.
    pub name: String,
    /// Its partition count.
    pub partitions: i32,
    /// Its topic configs (for example `cleanup.policy=compact` for changelogs).
    pub configs: Vec<(String, String)>,
}

/// Creates the internal topics an application needs. The default uses Kafka's admin API;
/// [`EmbeddedKafka`](super::EmbeddedKafka) creates them on the mock cluster, which does not
/// answer that API.
pub trait TopicCreator: Send + Sync {
    /// Creates every topic of `topics` (none of which exists yet).
    fn create_topics(&self, topics: &[InternalTopic]) -> Result<(), RuntimeError>;
}

/// Creates topics through Kafka's admin API (`CreateTopics`).
pub struct AdminTopicCreator {
    config: ClientConfig,
    replication_factor: i32,
}

impl AdminTopicCreator {
    /// A creator for the cluster that `config` (an admin client's configuration) reaches.
    pub fn new(config: ClientConfig, replication_factor: i32) -> Self {
        Self {
            config,
            replication_factor,
        }
    }
}

impl TopicCreator for AdminTopicCreator {
    fn create_topics(&self, topics: &[InternalTopic]) -> Result<(), RuntimeError> {
        let admin: AdminClient<DefaultClientContext> = self
            .config
            .create()
            .map_err(RuntimeError::kafka("create the admin client"))?;
        let new_topics: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|t| {
                t.configs.iter().fold(
                    NewTopic::new(
                        &t.name,
                        t.partitions,
                        TopicReplication::Fixed(self.replication_factor),
                    ),
                    |topic, (k, v)| topic.set(k, v),
                )
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = futures::executor::block_on(admin.create_topics(&new_topics, &options))
            .map_err(RuntimeError::kafka("create internal topics"))?;
        for result in results {
            match result {
                Ok(_) => {}
                // Another instance created it first: creation is idempotent.
                Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(RuntimeError::TopicCreation {
                        topic,
                        reason: code.to_string(),
                    })
                }
            }
        }
        Ok(())
    }
}

/// The partition counts the application runs with, and the internal topics it lacks.
#[derive(Debug)]
pub(crate) struct TopicPlan {
    /// The partition count (number of tasks) of each sub-topology.
    pub(crate) tasks_per_subtopology: BTreeMap<u32, i32>,
    /// Internal topics that do not exist yet.
    pub(crate) missing: Vec<InternalTopic>,
}

/// The partition counts of every topic of the cluster.
pub(crate) fn partition_counts<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    timeout: Duration,
) -> Result<HashMap<String, i32>, KafkaError> {
    let metadata = consumer.fetch_metadata(None, timeout)?;
    Ok(metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none() && !t.partitions().is_empty())
        .map(|t| (t.name().to_owned(), t.partitions().len() as i32))
        .collect())
}

/// One day, the extra retention Kafka Streams gives windowed changelogs.
const CHANGELOG_EXTRA_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// Checks the topology's inputs against `existing` (topic → partitions) and derives every
/// partition count: a sub-topology has as many tasks as its inputs have partitions (all
/// equal); a repartition topic has the partitions of the sub-topology that reads it when that
/// one has external inputs too, else the most of the sub-topologies that write it.
pub(crate) fn plan(
    topology: &Topology,
    application_id: &str,
    existing: &HashMap<String, i32>,
) -> Result<TopicPlan, RuntimeError> {
    let internal: Vec<String> = topology.internal_topics(application_id);
    let is_internal = |t: &str| internal.iter().any(|i| i == t);
    let ids = topology.subtopology_ids();
    // A source pattern stands for the existing topics it matches.
    let mut topic_names: Vec<&str> = existing.keys().map(String::as_str).collect();
    topic_names.sort_unstable();
    let expand = |topics: Vec<String>| -> Vec<String> {
        let patterns = crate::topology::pattern::compile(topics.iter().map(String::as_str));
        topics
            .into_iter()
            .filter(|t| !crate::TopicName::is_pattern(t))
            .chain(
                topic_names
                    .iter()
                    .filter(|t| crate::topology::pattern::matching(&patterns, t).is_some())
                    .map(|t| (*t).to_owned()),
            )
            .collect()
    };
    let sources: BTreeMap<u32, Vec<String>> = ids
        .iter()
        .map(|&id| (id, expand(topology.source_topics(id, application_id))))
        .collect();
    let mut missing_sources: Vec<String> = sources
        .values()
        .flatten()
        .chain(&topology.global_topics(application_id))
        .filter(|t| !is_internal(t) && !existing.contains_key(*t))
        .cloned()
        .collect();
    missing_sources.sort();
    missing_sources.dedup();
    if !missing_sources.is_empty() {
        return Err(RuntimeError::MissingSourceTopics(missing_sources));
    }

    // Partition counts fixed by the topology (`Repartitioned::with_partitions`) are given.
    let mut counts: HashMap<String, i32> = topology
        .fixed_internal_topic_partitions(application_id)
        .into_iter()
        .collect();
    let mut tasks: BTreeMap<u32, i32> = BTreeMap::new();
    // Each round settles at least one sub-topology or topic, or none ever will.
    for _ in 0..=ids.len() + internal.len() {
        for (&id, topics) in &sources {
            let external: Vec<(String, i32)> = topics
                .iter()
                .filter(|t| !is_internal(t))
                .map(|t| (t.clone(), existing[t]))
                .collect();
            if let Some(&(_, n)) = external.first() {
                if external.iter().any(|&(_, m)| m != n) {
                    return Err(RuntimeError::CoPartitioning {
                        subtopology: id,
                        topics: external,
                    });
                }
                for t in topics.iter().filter(|t| is_internal(t)) {
                    counts.entry(t.clone()).or_insert(n);
                }
            }
            let known: Option<Vec<i32>> = topics
                .iter()
                .map(|t| match is_internal(t) {
                    true => counts.get(t).copied(),
                    false => existing.get(t).copied(),
                })
                .collect();
            if let Some(&n) = known.as_ref().and_then(|k| k.iter().max()) {
                tasks.insert(id, n);
            }
        }
        for topic in &internal {
            if counts.contains_key(topic) {
                continue;
            }
            let writers: Vec<Option<i32>> = ids
                .iter()
                .filter(|&&id| {
                    topology
                        .subtopology_sink_topics(id, application_id)
                        .contains(topic)
                })
                .map(|id| tasks.get(id).copied())
                .collect();
            if !writers.is_empty() && writers.iter().all(Option::is_some) {
                counts.insert(
                    topic.clone(),
                    writers.iter().flatten().copied().max().unwrap_or(1),
                );
            }
        }
    }
    for (&id, topics) in &sources {
        let sizes: Vec<(String, i32)> = topics
            .iter()
            .filter_map(|t| {
                counts
                    .get(t)
                    .or_else(|| existing.get(t))
                    .map(|&n| (t.clone(), n))
            })
            .collect();
        if sizes.iter().any(|(_, n)| *n != sizes[0].1) {
            return Err(RuntimeError::CoPartitioning {
                subtopology: id,
                topics: sizes,
            });
        }
    }
    let unknown: Vec<String> = internal
        .iter()
        .filter(|t| !counts.contains_key(*t))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(RuntimeError::UnknownPartitions(unknown));
    }

    let mut needed: Vec<InternalTopic> = internal
        .iter()
        .map(|t| InternalTopic {
            name: t.clone(),
            partitions: counts[t],
            configs: vec![("cleanup.policy".into(), "delete".into())],
        })
        .collect();
    for (&id, &partitions) in &tasks {
        for changelog in topology.subtopology_changelogs(id, application_id) {
            let mut configs = match changelog.retention_ms {
                None => vec![("cleanup.policy".into(), "compact".into())],
                Some(ms) => vec![
                    ("cleanup.policy".into(), "compact,delete".into()),
                    (
                        "retention.ms".into(),
                        ms.saturating_add(CHANGELOG_EXTRA_RETENTION_MS).to_string(),
                    ),
                ],
            };
            if let Some(lag) = changelog.min_compaction_lag_ms {
                configs.push(("min.compaction.lag.ms".into(), lag.to_string()));
            }
            // The user's configs (`with_logging_enabled`) win over the runtime's.
            for (key, value) in changelog.configs {
                configs.retain(|(k, _)| *k != key);
                configs.push((key, value));
            }
            needed.push(InternalTopic {
                name: changelog.name,
                partitions,
                configs,
            });
        }
    }
    let mut missing = Vec::new();
    for topic in needed {
        match existing.get(&topic.name) {
            None => missing.push(topic),
            Some(&actual) if actual != topic.partitions => {
                return Err(RuntimeError::InternalTopicPartitions {
                    topic: topic.name,
                    expected: topic.partitions,
                    actual,
                })
            }
            Some(_) => {}
        }
    }
    Ok(TopicPlan {
        tasks_per_subtopology: tasks,
        missing,
    })
}
