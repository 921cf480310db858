//! A stream-stream join through the Kafka runtime on librdkafka's mock cluster: two
//! co-partitioned topics, two instances of the application, the second joining in the middle
//! (a rebalance moves tasks and their join buffers), and no joined result lost.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use integration_tests::init_tracing;
use integration_tests::kafka::{produce, read_until};
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(90);

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    let orders = builder.stream::<String, String>("orders");
    let payments = builder.stream::<String, String>("payments");
    orders
        .join_with(
            &payments,
            |order, payment| format!("{order}/{payment}"),
            // Records carry the time they were produced: a wide window joins them all.
            JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(3600)),
            StreamJoined::new().with_store_name("order-payment"),
        )
        .to("paid-orders");
    builder.build().expect("the topology builds")
}

fn config(kafka: &EmbeddedKafka, dir: &std::path::Path) -> StreamsConfig {
    StreamsConfig::new("join-e2e")
        .bootstrap_servers(kafka.bootstrap_servers())
        .state_dir(dir)
        .commit_interval(Duration::from_millis(200))
        .consumer_property("session.timeout.ms", "6000")
        .consumer_property("heartbeat.interval.ms", "1000")
}

/// Sends `prefix-i` for `i` in `from..to` to `topic`, keyed `customer-<i>`.
fn send(kafka: &EmbeddedKafka, topic: &str, prefix: &str, from: usize, to: usize) {
    let owned: Vec<(Vec<u8>, Vec<u8>)> = (from..to)
        .map(|i| {
            (
                format!("customer-{i}").into_bytes(),
                format!("{prefix}-{i}").into_bytes(),
            )
        })
        .collect();
    let records: Vec<(Option<&[u8]>, &[u8])> = owned
        .iter()
        .map(|(k, v)| (Some(k.as_slice()), v.as_slice()))
        .collect();
    produce(kafka.bootstrap_servers(), topic, &records);
}

/// The joined results of orders and payments `from..to`.
fn joined(from: usize, to: usize) -> HashSet<(String, String)> {
    (from..to)
        .map(|i| (format!("customer-{i}"), format!("order-{i}/payment-{i}")))
        .collect()
}

fn results(records: &[(Vec<u8>, Vec<u8>)]) -> HashSet<(String, String)> {
    records
        .iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(k).into_owned(),
                String::from_utf8_lossy(v).into_owned(),
            )
        })
        .collect()
}

#[test]
fn a_join_survives_a_rebalance_between_two_instances_without_losing_a_result() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(3).expect("the cluster starts"));
    for topic in ["orders", "payments", "paid-orders"] {
        kafka.create_topic(topic, 4).expect("topic created");
    }
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().expect("dir")).collect();
    let app = |i: usize| {
        let streams = KafkaStreams::new(topology(), config(&kafka, dirs[i].path()))
            .with_topic_creator(kafka.clone());
        streams.start().expect("the application starts");
        streams
    };

    let first = app(0);
    assert!(first.wait_for(State::Running, WAIT));
    send(&kafka, "orders", "order", 0, 200);
    send(&kafka, "payments", "payment", 0, 200);
    let mut expected = joined(0, 200);
    let reached = |expected: &HashSet<(String, String)>| {
        results(&read_until(
            kafka.bootstrap_servers(),
            "paid-orders",
            false,
            WAIT,
            |r| expected.is_subset(&results(r)),
        ))
    };
    assert!(expected.is_subset(&reached(&expected)));

    // Orders wait in the first instance's join buffers; then a second instance takes over
    // half the tasks, restoring their buffers from the changelogs, and the payments that
    // come after must still meet their orders there.
    send(&kafka, "orders", "order", 200, 400);
    let second = app(1);
    assert!(second.wait_for(State::Running, WAIT));
    send(&kafka, "payments", "payment", 200, 400);
    expected.extend(joined(200, 400));
    let got = reached(&expected);
    let missing: Vec<_> = expected.difference(&got).collect();
    assert!(missing.is_empty(), "lost results: {missing:?}");
    for instance in [&first, &second] {
        assert!(
            instance.thread_errors().is_empty(),
            "{:?}",
            instance.thread_errors()
        );
    }
    assert!(
        second.metrics().processed > 0,
        "the second instance did no work"
    );
    assert!(first.close(WAIT) && second.close(WAIT));
}

#[test]
fn joining_topics_with_different_partition_counts_is_refused_at_start_naming_both() {
    let kafka = Arc::new(EmbeddedKafka::start(1).expect("the cluster starts"));
    kafka.create_topic("orders", 2).expect("topic created");
    kafka.create_topic("payments", 3).expect("topic created");
    let dir = tempfile::tempdir().expect("dir");
    let streams =
        KafkaStreams::new(topology(), config(&kafka, dir.path())).with_topic_creator(kafka.clone());
    let message = streams
        .start()
        .expect_err("the inputs are not co-partitioned")
        .to_string();
    assert!(
        message.contains("orders: 2") && message.contains("payments: 3"),
        "{message}"
    );
    assert_eq!(streams.state(), State::Created);
}
