//! Where an example runs: an embedded Kafka cluster in the process (the default) or the
//! cluster given with `--bootstrap-servers HOST:PORT`; and the plain clients an example needs
//! to write its input and read its output.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use streams_dsl::prelude::*;

/// The cluster an example runs against.
pub struct Cluster {
    bootstrap_servers: String,
    embedded: Option<Arc<EmbeddedKafka>>,
}

impl Cluster {
    /// The cluster that the command line names with `--bootstrap-servers HOST:PORT`, or else
    /// a new embedded one with three brokers.
    pub fn from_args() -> Result<Self, Box<dyn std::error::Error>> {
        let args: Vec<String> = std::env::args().collect();
        let given = args
            .iter()
            .position(|a| a == "--bootstrap-servers")
            .and_then(|i| args.get(i + 1))
            .cloned();
        Ok(match given {
            Some(bootstrap_servers) => Self {
                bootstrap_servers,
                embedded: None,
            },
            None => {
                let kafka = Arc::new(EmbeddedKafka::start(3)?);
                println!(
                    "started an embedded Kafka cluster at {}",
                    kafka.bootstrap_servers()
                );
                Self {
                    bootstrap_servers: kafka.bootstrap_servers().to_owned(),
                    embedded: Some(kafka),
                }
            }
        })
    }

    /// The cluster's `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// Creates `topics` (name, partitions) unless they exist.
    pub fn create_topics(&self, topics: &[(&str, i32)]) -> Result<(), Box<dyn std::error::Error>> {
        if let Some(kafka) = &self.embedded {
            for (name, partitions) in topics {
                kafka.create_topic(name, *partitions)?;
            }
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap_servers)
            .create()?;
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
            .collect();
        let results = futures::executor::block_on(admin.create_topics(&new, &AdminOptions::new()))?;
        for result in results {
            if let Err((topic, code)) = result {
                if code != rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists {
                    return Err(format!("cannot create {topic}: {code}").into());
                }
            }
        }
        Ok(())
    }

    /// An application instance for `topology` on this cluster, which shows a progress bar
    /// per store while it restores.
    pub fn streams(&self, topology: Topology, config: StreamsConfig) -> KafkaStreams {
        let streams =
            KafkaStreams::new(topology, config.bootstrap_servers(&self.bootstrap_servers))
                .with_restore_listener(Arc::new(crate::progress::RestoreProgressBars::default()));
        match &self.embedded {
            Some(kafka) => streams.with_topic_creator(kafka.clone()),
            None => streams,
        }
    }

    /// Writes `records` (key bytes, value bytes) to `topic`.
    pub fn produce(
        &self,
        topic: &str,
        records: &[(Option<Vec<u8>>, Vec<u8>)],
    ) -> Result<(), Box<dyn std::error::Error>> {
        let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("partitioner", "murmur2_random")
            // Keyless records go to a random partition each, not to one partition per batch
            // (librdkafka's sticky default), which would fill one partition of the embedded
            // cluster, whose partitions keep at most 100,000 records.
            .set("sticky.partitioning.linger.ms", "0")
            .create()?;
        for (key, value) in records {
            let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(value);
            if let Some(key) = key {
                record = record.key(key);
            }
            while let Err((e, back)) = producer.send(record) {
                if !matches!(
                    e,
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull
                    )
                ) {
                    return Err(e.into());
                }
                record = back;
                producer.poll(Duration::from_millis(10));
            }
        }
        producer.flush(Duration::from_secs(30))?;
        Ok(())
    }

    /// Reads `topic` from the beginning into a table (the last value of each key) until
    /// `done` holds for it or `timeout` passes.
    pub fn read_table<K: Ord, V>(
        &self,
        topic: &str,
        key: impl Fn(&[u8]) -> Option<K>,
        value: impl Fn(&[u8]) -> Option<V>,
        timeout: Duration,
        done: impl Fn(&BTreeMap<K, V>) -> bool,
    ) -> Result<BTreeMap<K, V>, Box<dyn std::error::Error>> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap_servers)
            .set("group.id", "example-reader")
            .set("enable.auto.commit", "false")
            .create()?;
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let mut assignment = TopicPartitionList::new();
        for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
            assignment.add_partition_offset(topic, partition.id(), Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        let deadline = Instant::now() + timeout;
        let mut table = BTreeMap::new();
        while !done(&table) && Instant::now() < deadline {
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let message = message?;
                let (Some(k), Some(v)) = (
                    message.key().and_then(&key),
                    message.payload().and_then(&value),
                ) else {
                    continue;
                };
                table.insert(k, v);
            }
        }
        Ok(table)
    }
}
