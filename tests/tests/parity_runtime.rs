//! Kafka Streams API parity in the Kafka runtime, against librdkafka's mock cluster:
//! `Repartitioned::with_partitions` and the processor's commit requests.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use integration_tests::init_tracing;
use integration_tests::kafka::{latest_counts, produce, read_until};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(60);

fn config(app: &str, kafka: &EmbeddedKafka, dir: &std::path::Path) -> StreamsConfig {
    StreamsConfig::new(app)
        .bootstrap_servers(kafka.bootstrap_servers())
        .state_dir(dir)
        .commit_interval(Duration::from_millis(200))
        .consumer_property("session.timeout.ms", "6000")
        .consumer_property("heartbeat.interval.ms", "1000")
}

/// The partition count of `topic` on the cluster, if it exists.
fn partitions_of(bootstrap: &str, topic: &str) -> Option<usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .ok()?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .ok()?;
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().len())
}

#[test]
fn the_runtime_creates_a_repartition_topic_with_the_partitions_asked_for() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("orders", 2).unwrap();
    kafka.create_topic("item-counts", 7).unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("orders")
        .select_key(|_, item| item.clone())
        .repartition_with(Repartitioned::new().with_name("by-item").with_partitions(7))
        .group_by_key()
        .count_with(Materialized::named("item-counts"))
        .to_stream()
        .to("item-counts");
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(
        builder.build().unwrap(),
        config("seven", &kafka, dir.path()),
    )
    .with_topic_creator(kafka.clone());
    streams.start().unwrap();
    let items = [
        "apple", "pear", "fig", "plum", "kiwi", "lime", "date", "yuzu",
    ];
    let orders: Vec<(String, String)> = (0..80)
        .map(|i| {
            (
                format!("customer-{}", i % 5),
                items[i % items.len()].to_owned(),
            )
        })
        .collect();
    let records: Vec<(Option<&[u8]>, &[u8])> = orders
        .iter()
        .map(|(k, v)| (Some(k.as_bytes()), v.as_bytes()))
        .collect();
    produce(kafka.bootstrap_servers(), "orders", &records);
    let expected: HashMap<String, i64> = items.iter().map(|i| ((*i).to_owned(), 10)).collect();
    let out = read_until(kafka.bootstrap_servers(), "item-counts", false, WAIT, |r| {
        latest_counts(r) == expected
    });
    assert_eq!(latest_counts(&out), expected);
    // The repartition topic has the 7 partitions asked for, not the source's 2; so does the
    // changelog of the counts that the 7 tasks reading it keep.
    assert_eq!(
        partitions_of(kafka.bootstrap_servers(), "seven-by-item-repartition"),
        Some(7)
    );
    assert_eq!(
        partitions_of(kafka.bootstrap_servers(), "seven-item-counts-changelog"),
        Some(7)
    );
    assert!(streams.close(WAIT));
}
