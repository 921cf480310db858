//! The production handler against Apache Kafka (started by `scripts/kafka.sh`, or the
//! cluster named by `STREAMS_TEST_BOOTSTRAP_SERVERS`): a record larger than the output
//! topic's `max.message.bytes` is rejected by the broker, and its delivery report goes to the
//! handler, which dead-letters it (key and value unchanged, the reason and the destination in
//! headers) or skips it, while every other record comes out.

use std::time::Duration;

use integration_tests::broker::Broker;
use integration_tests::init_tracing;
use integration_tests::kafka::{create_topics, produce, read_until};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers as _, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use streams_core::config::dead_letter_headers;
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(120);
/// The output topic's limit on the broker.
const TOPIC_LIMIT: usize = 2_000;

fn servers() -> &'static str {
    Broker::shared().bootstrap_servers()
}

/// Creates `topic` with a `max.message.bytes` of [`TOPIC_LIMIT`] on the broker.
fn create_limited_topic(topic: &str) {
    let admin: AdminClient<rdkafka::client::DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", servers())
        .create()
        .expect("an admin client");
    let limit = TOPIC_LIMIT.to_string();
    let new = NewTopic::new(topic, 1, TopicReplication::Fixed(1)).set("max.message.bytes", &limit);
    let results =
        futures::executor::block_on(admin.create_topics([&new], &AdminOptions::new())).unwrap();
    for result in results {
        result.expect("the topic is created");
    }
    create_topics(servers(), &[(topic, 1)]);
}

/// Expands values "big" to far more than the output topic takes.
fn expanding(input: &str, output: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(input)
        .map_values(|v| match v.as_str() {
            "big" => "x".repeat(TOPIC_LIMIT * 3),
            _ => v.to_uppercase(),
        })
        .to(output);
    builder.build().expect("the topology builds")
}

fn config(app: &str, dir: &std::path::Path) -> StreamsConfig {
    StreamsConfig::new(app)
        .bootstrap_servers(servers())
        .state_dir(dir)
        .commit_interval(Duration::from_millis(200))
        .consumer_property("session.timeout.ms", "6000")
        .consumer_property("heartbeat.interval.ms", "1000")
        // One record per produce request: the broker rejects a whole batch that is too
        // large, and this test is about one record.
        .producer_property("batch.num.messages", "1")
}

fn send_values(topic: &str, values: &[&str]) {
    let records: Vec<(Option<&[u8]>, &[u8])> = values
        .iter()
        .map(|v| (Some(v.as_bytes()), v.as_bytes()))
        .collect();
    produce(servers(), topic, &records);
}

/// The headers of the first record of `topic`, as text.
fn first_record_headers(topic: &str) -> Vec<(String, String)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers())
        .set("group.id", format!("{topic}-reader"))
        .create()
        .expect("a consumer");
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset(topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&partitions).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            return message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            let value = String::from_utf8_lossy(h.value.unwrap_or_default());
                            (h.key.to_owned(), value.into_owned())
                        })
                        .collect()
                })
                .unwrap_or_default();
        }
    }
    panic!("no record in {topic}");
}

#[test]
fn a_record_the_broker_rejects_as_too_large_is_dead_lettered() {
    init_tracing();
    let broker = Broker::shared();
    let (app, input, output, dlq) = (
        broker.name("too-large"),
        broker.name("values"),
        broker.name("expanded"),
        broker.name("expanded-dlq"),
    );
    create_topics(servers(), &[(&input, 1), (&dlq, 1)]);
    create_limited_topic(&output);
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(
        expanding(&input, &output),
        config(&app, dir.path()).production_exception_handler(DeadLetterQueue::new(&dlq)),
    );
    streams.start().expect("starts");
    send_values(&input, &["a", "big", "c"]);
    let out = read_until(servers(), &output, false, WAIT, |r| r.len() >= 2);
    assert_eq!(
        out,
        vec![
            (b"a".to_vec(), b"A".to_vec()),
            (b"c".to_vec(), b"C".to_vec())
        ]
    );
    let dead = read_until(servers(), &dlq, false, WAIT, |r| !r.is_empty());
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].0, b"big");
    assert_eq!(dead[0].1, "x".repeat(TOPIC_LIMIT * 3).into_bytes());
    let headers = first_record_headers(&dlq);
    let header = |k: &str| {
        headers
            .iter()
            .rev()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(header(dead_letter_headers::TOPIC), output);
    assert_eq!(header(dead_letter_headers::PARTITION), "0");
    assert!(
        header(dead_letter_headers::REASON).contains("too large"),
        "{headers:?}"
    );
    assert_eq!(streams.state(), State::Running);
    assert_eq!(streams.metrics().dead_lettered_sends, 1);
    assert!(streams.close(WAIT));
}

#[test]
fn a_record_the_broker_rejects_as_too_large_is_skipped_under_continue() {
    init_tracing();
    let broker = Broker::shared();
    let (app, input, output) = (
        broker.name("too-large-skip"),
        broker.name("values-skip"),
        broker.name("expanded-skip"),
    );
    create_topics(servers(), &[(&input, 1)]);
    create_limited_topic(&output);
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(
        expanding(&input, &output),
        config(&app, dir.path()).production_exception_handler(LogAndContinue),
    );
    streams.start().expect("starts");
    send_values(&input, &["a", "big", "c", "d"]);
    let out = read_until(servers(), &output, false, WAIT, |r| r.len() >= 3);
    let values: Vec<&[u8]> = out.iter().map(|(_, v)| v.as_slice()).collect();
    assert_eq!(values, vec![&b"A"[..], b"C", b"D"]);
    // The skip is counted once the delivery report has come back (by the next commit).
    let deadline = std::time::Instant::now() + WAIT;
    while streams.metrics().skipped_sends == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(streams.metrics().skipped_sends, 1);
    assert_eq!(streams.state(), State::Running);
    assert!(streams.close(WAIT));
}
