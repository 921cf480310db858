//! Event time on quiet inputs (issue 22) in the Kafka runtime, on librdkafka's mock cluster:
//! one of two partitions of a topic goes quiet and the idle-partition timeout closes its
//! windows; with the wall-clock watermark, suppressed final results come out with no input
//! at all.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use integration_tests::init_tracing;
use integration_tests::kafka::{latest_counts, read_until};
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(60);

/// Sends `(partition, key, time)` records of value `x` to `topic`, each to its partition.
fn produce_to(kafka: &EmbeddedKafka, topic: &str, records: &[(i32, &str, i64)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .create()
        .expect("a producer");
    for (partition, key, time) in records {
        let record = BaseRecord::to(topic)
            .partition(*partition)
            .key(key.as_bytes())
            .payload(&b"x"[..])
            .timestamp(*time);
        producer.send(record).map_err(|(e, _)| e).expect("queued");
    }
    producer
        .flush(Duration::from_secs(30))
        .expect("acknowledged");
}

fn config(app: &str, kafka: &EmbeddedKafka, dir: &std::path::Path) -> StreamsConfig {
    StreamsConfig::new(app)
        .bootstrap_servers(kafka.bootstrap_servers())
        .state_dir(dir)
        .commit_interval(Duration::from_millis(200))
        .consumer_property("session.timeout.ms", "6000")
        .consumer_property("heartbeat.interval.ms", "1000")
}

/// Counts `input` per `size` window, final results only, to `output` as `key@start`.
fn final_counts(input: &str, output: &str, size: Duration) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(input)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(size))
        .count()
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .map(|k, v| (format!("{}@{}", k.key, k.window.start), v))
        .to(output);
    builder.build().expect("the topology builds")
}

#[test]
fn the_idle_partition_timeout_closes_the_windows_of_a_quiet_partition() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("views", 2).unwrap();
    kafka.create_topic("views-final", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config =
        config("quiet-idle", &kafka, dir.path()).idle_partition_timeout(Duration::from_secs(1));
    let streams = KafkaStreams::new(
        final_counts("views", "views-final", Duration::from_secs(10)),
        config,
    )
    .with_topic_creator(kafka.clone());
    streams.start().unwrap();
    assert!(streams.wait_for(State::Running, WAIT));
    let base = 1_700_000_000_000_i64;
    produce_to(
        &kafka,
        "views",
        &[(0, "busy", base + 1_000), (1, "quiet", base + 1_000)],
    );
    // Both partitions go quiet: with no active task there is no event time to follow.
    std::thread::sleep(Duration::from_secs(3));
    // Partition 0 moves on; partition 1 stays quiet.
    produce_to(&kafka, "views", &[(0, "busy", base + 25_000)]);
    let expected: HashMap<String, i64> =
        [(format!("busy@{base}"), 1), (format!("quiet@{base}"), 1)]
            .into_iter()
            .collect();
    let records = read_until(kafka.bootstrap_servers(), "views-final", false, WAIT, |r| {
        latest_counts(r).len() >= 2
    });
    assert_eq!(latest_counts(&records), expected);
    assert!(streams.close(WAIT));
}

#[test]
fn the_wall_clock_watermark_emits_final_results_with_no_input_at_all() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("events", 1).unwrap();
    kafka.create_topic("events-final", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config =
        config("quiet-wall", &kafka, dir.path()).wall_clock_watermark(WallClockWatermark {
            idle: Duration::from_millis(500),
            max_lag: Duration::from_secs(1),
        });
    let size = Duration::from_secs(2);
    let streams = KafkaStreams::new(final_counts("events", "events-final", size), config)
        .with_topic_creator(kafka.clone());
    streams.start().unwrap();
    assert!(streams.wait_for(State::Running, WAIT));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let start = now - now.rem_euclid(2_000);
    produce_to(
        &kafka,
        "events",
        &[(0, "a", now), (0, "a", now), (0, "a", now)],
    );
    // Nothing more comes: the window closes once the clock is a second past its end.
    let records = read_until(
        kafka.bootstrap_servers(),
        "events-final",
        false,
        WAIT,
        |r| !r.is_empty(),
    );
    assert_eq!(
        latest_counts(&records),
        [(format!("a@{start}"), 3)].into_iter().collect()
    );
    assert!(streams.close(WAIT));
}
