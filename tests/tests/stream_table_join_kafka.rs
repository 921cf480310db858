//! A stream-table join through the Kafka runtime on librdkafka's mock cluster: the same join
//! code as under the test driver, with the table and the stream co-partitioned in one task.

use std::sync::Arc;
use std::time::Duration;

use integration_tests::init_tracing;
use integration_tests::kafka::{produce_at, read_until};
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(60);

fn enrichment() -> Topology {
    let builder = StreamsBuilder::new();
    let customers = builder.table::<String, String>("customers");
    builder
        .stream::<String, String>("orders")
        .left_join_table(&customers, |order, name: Option<String>| {
            format!("{order} for {}", name.as_deref().unwrap_or("nobody"))
        })
        .to("enriched");
    builder.build().expect("the topology builds")
}

fn config(app: &str, kafka: &EmbeddedKafka, dir: &std::path::Path) -> StreamsConfig {
    StreamsConfig::new(app)
        .bootstrap_servers(kafka.bootstrap_servers())
        .state_dir(dir)
        .commit_interval(Duration::from_millis(200))
        .consumer_property("session.timeout.ms", "6000")
        .consumer_property("heartbeat.interval.ms", "1000")
}

#[test]
fn a_stream_is_enriched_from_a_co_partitioned_table() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    for topic in ["customers", "orders", "enriched"] {
        kafka.create_topic(topic, 2).unwrap();
    }
    let bootstrap = kafka.bootstrap_servers().to_owned();
    // The table's rows are older than the orders: a task takes its inputs in time order.
    produce_at(
        &bootstrap,
        "customers",
        &[
            (Some(b"ann"), b"Ann", Some(1)),
            (Some(b"bob"), b"Bob", Some(2)),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(enrichment(), config("st-join", &kafka, dir.path()))
        .with_topic_creator(kafka.clone());
    streams.start().unwrap();
    assert!(streams.wait_for(State::Running, WAIT));
    produce_at(
        &bootstrap,
        "orders",
        &[
            (Some(b"ann"), b"o1", Some(10)),
            (Some(b"cid"), b"o2", Some(11)),
            (Some(b"bob"), b"o3", Some(12)),
        ],
    );
    let mut joined = read_until(&bootstrap, "enriched", false, WAIT, |r| r.len() >= 3);
    joined.sort();
    let expected: Vec<(Vec<u8>, Vec<u8>)> = [
        ("ann", "o1 for Ann"),
        ("bob", "o3 for Bob"),
        ("cid", "o2 for nobody"),
    ]
    .iter()
    .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
    .collect();
    assert_eq!(joined, expected);
    assert!(streams.close(WAIT));
}

#[test]
fn a_table_and_a_stream_with_different_partition_counts_are_refused() {
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("customers", 2).unwrap();
    kafka.create_topic("orders", 3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(enrichment(), config("st-copart", &kafka, dir.path()))
        .with_topic_creator(kafka.clone());
    let message = streams.start().unwrap_err().to_string();
    assert!(
        message.contains("customers: 2") && message.contains("orders: 3"),
        "{message}"
    );
}
