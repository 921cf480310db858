//! The end-to-end test of a secured cluster: Apache Kafka with a SASL_SSL listener
//! (SCRAM-SHA-512 over TLS, its certificate made at start), started by
//! `scripts/kafka.sh start --sasl-ssl`. Every client here, the runtime's and the test's own,
//! connects only through that listener, so word count creating its internal topics, consuming,
//! producing and committing all show that the security settings reach every client.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use streams_core::runtime::{RuntimeError, State};
use streams_dsl::prelude::*;

use secure_kafka::SecureKafka;

const WAIT: Duration = Duration::from_secs(120);

#[test]
fn word_count_over_sasl_ssl() {
    let broker = SecureKafka::start();
    let client = broker.client(&broker.password);
    create_topics(&client, &[("secure-lines", 3), ("secure-counts", 3)]);
    let dir = tempfile::tempdir().unwrap();
    let config = broker.security(&broker.password).into_iter().fold(
        StreamsConfig::new("secure-wc")
            .bootstrap_servers(broker.bootstrap_servers())
            .state_dir(dir.path())
            .commit_interval(Duration::from_millis(200))
            // librdkafka is built with zstd; the broker must accept what it compresses.
            .producer_property("compression.type", "zstd"),
        |config, (key, value)| config.client_property(key, value),
    );
    let topology = word_count();
    let mut internal = topology.internal_topics("secure-wc");
    internal.extend(topology.changelog_topics("secure-wc"));
    assert_eq!(internal.len(), 2, "{internal:?}");
    assert!(internal[0].ends_with("-repartition"), "{internal:?}");
    assert_eq!(internal[1], "secure-wc-counts-changelog");
    let streams = KafkaStreams::new(topology, config);
    streams.start().unwrap();

    let lines = ["the quick brown fox", "jumps over the lazy dog", "the end"];
    produce(&client, "secure-lines", &lines);
    let expected: HashMap<String, i64> = [
        ("the", 3),
        ("quick", 1),
        ("brown", 1),
        ("fox", 1),
        ("jumps", 1),
        ("over", 1),
        ("lazy", 1),
        ("dog", 1),
        ("end", 1),
    ]
    .into_iter()
    .map(|(w, n)| (w.to_owned(), n))
    .collect();
    let counts = latest_counts(&client, "secure-counts", &expected);
    assert_eq!(counts, expected);
    assert!(streams.wait_for(State::Running, WAIT));
    let stored = streams
        .query("counts", |s: &ReadOnlyKeyValueStore<String, i64>| s.all())
        .unwrap();
    let stored: HashMap<String, i64> = stored.into_iter().flatten().collect();
    assert_eq!(stored, expected);
    // The admin client created the repartition topic and the changelog over SASL_SSL.
    let existing = topics(&client);
    for topic in &internal {
        assert!(existing.contains(topic), "{topic} missing: {existing:?}");
    }
    assert!(streams.close(WAIT));
}

/// A wrong password fails `start` with an authentication error that says why, within the
/// start-up metadata request's 10 s, instead of a bare timeout or a wait for a cluster it can
/// never join.
#[test]
fn a_wrong_password_fails_start() {
    let broker = SecureKafka::start();
    let dir = tempfile::tempdir().unwrap();
    let config = broker.security("not-the-password").into_iter().fold(
        StreamsConfig::new("secure-denied")
            .bootstrap_servers(broker.bootstrap_servers())
            .state_dir(dir.path()),
        |config, (key, value)| config.client_property(key, value),
    );
    let streams = KafkaStreams::new(word_count(), config);
    let started = Instant::now();
    let error = streams
        .start()
        .expect_err("a wrong password must fail start");
    eprintln!("wrong password: {error} after {:?}", started.elapsed());
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        matches!(
            error,
            RuntimeError::Authentication(RDKafkaErrorCode::Authentication)
        ),
        "{error:?}"
    );
    assert_eq!(streams.state(), State::Created);
}

/// Counts the words of `secure-lines` into `secure-counts`; the grouping by word goes
/// through a repartition topic, and the counts have a changelog.
fn word_count() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<(), String>("secure-lines")
        .flat_map_values(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .group_by(|_, w| w.clone())
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to("secure-counts");
    builder.build().unwrap()
}

fn create_topics(client: &ClientConfig, topics: &[(&str, i32)]) {
    let admin: AdminClient<DefaultClientContext> = client.create().unwrap();
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, n)| NewTopic::new(name, *n, TopicReplication::Fixed(1)))
        .collect();
    let results =
        futures::executor::block_on(admin.create_topics(&new, &AdminOptions::new())).unwrap();
    for result in results {
        result.expect("topic created");
    }
}

fn produce(client: &ClientConfig, topic: &str, values: &[&str]) {
    let producer: ThreadedProducer<DefaultProducerContext> = client.create().unwrap();
    for value in values {
        producer
            .send(BaseRecord::<(), str>::to(topic).payload(*value))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn topics(client: &ClientConfig) -> Vec<String> {
    let consumer: BaseConsumer = client.create().unwrap();
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(30))
        .unwrap();
    metadata
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .collect()
}

/// The latest count of each word in `topic` (big-endian i64 values), read from the start
/// until they equal `expected` or the wait ends.
fn latest_counts(
    client: &ClientConfig,
    topic: &str,
    expected: &HashMap<String, i64>,
) -> HashMap<String, i64> {
    let consumer: BaseConsumer = client
        .clone()
        .set("group.id", "secure-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..3 {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let deadline = Instant::now() + WAIT;
    let mut counts = HashMap::new();
    while Instant::now() < deadline && counts != *expected {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.unwrap();
            let word = String::from_utf8_lossy(message.key().unwrap()).into_owned();
            let count = i64::from_be_bytes(message.payload().unwrap().try_into().unwrap());
            counts.insert(word, count);
        }
    }
    counts
}

/// An Apache Kafka broker with a SASL_SSL listener, started by
/// `scripts/kafka.sh start --sasl-ssl` and stopped (its directory deleted) on drop.
mod secure_kafka {
    use rdkafka::ClientConfig;

    /// A running broker and what a client needs to reach it.
    pub struct SecureKafka {
        port: u16,
        pid: u32,
        ca: String,
        user: String,
        /// The test user's password.
        pub password: String,
    }

    impl SecureKafka {
        /// Installs Apache Kafka if needed and starts a broker whose client listener is
        /// SASL_SSL with SCRAM-SHA-512, with a new CA and test user.
        pub fn start() -> Self {
            let fields = integration_tests::broker::kafka_script(&["start", "--sasl-ssl"]);
            let [port, pid, ca, user, password] = &fields[..] else {
                panic!("expected PORT PID CA_PEM USER PASSWORD, got {fields:?}");
            };
            Self {
                port: port.parse().expect("a port"),
                pid: pid.parse().expect("a pid"),
                ca: ca.to_owned(),
                user: user.to_owned(),
                password: password.to_owned(),
            }
        }

        /// The broker's `bootstrap.servers` (its SASL_SSL listener).
        pub fn bootstrap_servers(&self) -> String {
            format!("127.0.0.1:{}", self.port)
        }

        /// The rdkafka properties that log in as the test user with `password`:
        /// SCRAM-SHA-512 over TLS, and the CA to verify the broker by.
        pub fn security(&self, password: &str) -> Vec<(&'static str, String)> {
            vec![
                ("security.protocol", "SASL_SSL".to_owned()),
                ("sasl.mechanism", "SCRAM-SHA-512".to_owned()),
                ("sasl.username", self.user.clone()),
                ("sasl.password", password.to_owned()),
                ("ssl.ca.location", self.ca.clone()),
            ]
        }

        /// A client configuration for the test's own clients: the broker and `security`.
        pub fn client(&self, password: &str) -> ClientConfig {
            let mut config = ClientConfig::new();
            config.set("bootstrap.servers", self.bootstrap_servers());
            for (key, value) in self.security(password) {
                config.set(key, value);
            }
            config
        }
    }

    impl Drop for SecureKafka {
        fn drop(&mut self) {
            integration_tests::broker::kafka_script(&["stop", &self.pid.to_string()]);
        }
    }
}
