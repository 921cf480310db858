//! Kafka Streams API parity in the Kafka runtime, against librdkafka's mock cluster:
//! `Repartitioned::with_partitions`, stream partitioners, per-store changelog topic configs,
//! per-source offset reset policies, the UUID instance id, pausing and resuming processing,
//! and adding and removing stream threads.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use integration_tests::kafka::{latest_counts, produce, read_to_end, read_until};
use integration_tests::{elastic, init_tracing};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use streams_core::runtime::{InternalTopic, TopicCreator};
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

/// Creates topics on the embedded cluster and remembers what it was asked for.
struct RecordingCreator {
    kafka: Arc<EmbeddedKafka>,
    asked: std::sync::Mutex<Vec<InternalTopic>>,
}

impl TopicCreator for RecordingCreator {
    fn create_topics(&self, topics: &[InternalTopic]) -> Result<(), RuntimeError> {
        if let Ok(mut asked) = self.asked.lock() {
            asked.extend_from_slice(topics);
        }
        self.kafka.create_topics(topics)
    }
}

#[test]
fn a_store_s_changelog_gets_the_topic_configs_materialized_gives() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("clicks", 2).unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("clicks")
        .group_by_key()
        .count_with(
            Materialized::named("clicks-per-user").with_logging_enabled([
                ("cleanup.policy", "compact,delete"),
                ("retention.ms", "3600000"),
                ("segment.bytes", "1048576"),
            ]),
        )
        .to_stream()
        .to("click-counts");
    let creator = Arc::new(RecordingCreator {
        kafka: kafka.clone(),
        asked: Default::default(),
    });
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(
        builder.build().unwrap(),
        config("logged", &kafka, dir.path()),
    )
    .with_topic_creator(creator.clone());
    streams.start().unwrap();
    let asked = creator.asked.lock().unwrap().clone();
    let changelog = asked
        .iter()
        .find(|t| t.name == "logged-clicks-per-user-changelog")
        .expect("the changelog was created");
    let configs: HashMap<&str, &str> = changelog
        .configs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    // The user's cleanup policy replaces the runtime's `compact`; the rest are added.
    assert_eq!(
        configs,
        HashMap::from([
            ("cleanup.policy", "compact,delete"),
            ("retention.ms", "3600000"),
            ("segment.bytes", "1048576"),
        ])
    );
    assert_eq!(changelog.partitions, 2);
    assert!(streams.close(WAIT));
}

#[test]
fn each_source_starts_where_its_offset_reset_policy_says() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    for topic in ["history", "live", "history-out", "live-out"] {
        kafka.create_topic(topic, 2).unwrap();
    }
    let old: Vec<(Option<&[u8]>, &[u8])> = ["a", "b", "c", "d"]
        .iter()
        .map(|v| (Some(v.as_bytes()), v.as_bytes()))
        .collect();
    produce(kafka.bootstrap_servers(), "history", &old);
    produce(kafka.bootstrap_servers(), "live", &old);
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("history")
        .to("history-out");
    builder
        .stream_with::<String, String>(
            "live",
            Consumed::new().with_offset_reset_policy(OffsetReset::Latest),
        )
        .to("live-out");
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(
        builder.build().unwrap(),
        config("resets", &kafka, dir.path()),
    )
    .with_topic_creator(kafka.clone());
    streams.start().unwrap();
    assert!(streams.wait_for(State::Running, WAIT));
    // The default (earliest) source reads what was there before the application started.
    let history = read_until(kafka.bootstrap_servers(), "history-out", false, WAIT, |r| {
        r.len() >= 4
    });
    assert_eq!(history.len(), 4);
    // The latest one starts at the end its partitions had when their positions were looked
    // up, which may be a little after the start: rounds of probes, on keys that cover both
    // partitions, until a whole round comes out (then both positions are set).
    let values = |records: &[(Vec<u8>, Vec<u8>)]| -> Vec<String> {
        records
            .iter()
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .collect()
    };
    let keys: Vec<String> = (0..10).map(|k| format!("k{k}")).collect();
    let deadline = std::time::Instant::now() + WAIT;
    for round in 0.. {
        assert!(
            std::time::Instant::now() < deadline,
            "no probe round came through"
        );
        let probe = format!("probe-{round}");
        let probes: Vec<(Option<&[u8]>, &[u8])> = keys
            .iter()
            .map(|k| (Some(k.as_bytes()), probe.as_bytes()))
            .collect();
        produce(kafka.bootstrap_servers(), "live", &probes);
        let out = read_until(
            kafka.bootstrap_servers(),
            "live-out",
            false,
            Duration::from_secs(2),
            |r| values(r).iter().filter(|v| **v == probe).count() == keys.len(),
        );
        if values(&out).iter().filter(|v| **v == probe).count() == keys.len() {
            break;
        }
    }
    let new: Vec<(Option<&[u8]>, &[u8])> = ["x", "y"]
        .iter()
        .map(|v| (Some(v.as_bytes()), v.as_bytes()))
        .collect();
    produce(kafka.bootstrap_servers(), "live", &new);
    let live = read_until(kafka.bootstrap_servers(), "live-out", false, WAIT, |r| {
        let v = values(r);
        v.contains(&"x".to_owned()) && v.contains(&"y".to_owned())
    });
    let live = values(&live);
    assert!(live.contains(&"x".to_owned()) && live.contains(&"y".to_owned()));
    // Nothing that was there before the application started.
    assert!(
        live.iter()
            .all(|v| v == "x" || v == "y" || v.starts_with("probe-")),
        "{live:?}"
    );
    assert!(streams.close(WAIT));
}

#[test]
fn the_instance_id_is_a_uuid_kept_in_the_state_directory() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    let streams = |dir: &std::path::Path| {
        let builder = StreamsBuilder::new();
        builder.stream::<String, String>("in").to("out");
        KafkaStreams::new(
            builder.build().unwrap(),
            StreamsConfig::new("ids").state_dir(dir),
        )
    };
    let id = streams(dir.path()).instance_id().unwrap();
    // Hyphenated, version 4 (random), variant RFC 4122.
    let groups: Vec<&str> = id.split('-').collect();
    assert_eq!(
        groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
        [8, 4, 4, 4, 12],
        "{id}"
    );
    assert!(
        id.chars().all(|c| c == '-' || c.is_ascii_hexdigit()),
        "{id}"
    );
    assert!(groups[2].starts_with('4'), "{id}");
    assert!("89ab".contains(&groups[3][..1]), "{id}");
    // The same across restarts with the same state directory; another one elsewhere.
    assert_eq!(streams(dir.path()).instance_id().unwrap(), id);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ids").join("instance.id")).unwrap(),
        id
    );
    assert_ne!(streams(other.path()).instance_id().unwrap(), id);
    // An id of the old (hex) format is replaced by a UUID.
    std::fs::write(other.path().join("ids").join("instance.id"), "18c3f2a9b").unwrap();
    let replaced = streams(other.path()).instance_id().unwrap();
    assert_eq!(replaced.len(), 36, "{replaced}");
}

#[test]
fn a_paused_application_processes_nothing_until_resumed() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("words", 2).unwrap();
    kafka.create_topic("shouted", 2).unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("words")
        .map_values(|w| w.to_uppercase())
        .to("shouted");
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(
        builder.build().unwrap(),
        config("paused", &kafka, dir.path()),
    )
    .with_topic_creator(kafka.clone());
    streams.pause();
    assert!(streams.is_paused());
    streams.start().unwrap();
    assert!(streams.wait_for(State::Running, WAIT));
    let words: Vec<(Option<&[u8]>, &[u8])> = ["ab", "cd", "ef"]
        .iter()
        .map(|v| (Some(v.as_bytes()), v.as_bytes()))
        .collect();
    produce(kafka.bootstrap_servers(), "words", &words);
    // Several commit intervals and polls pass: nothing is processed.
    let early = read_until(
        kafka.bootstrap_servers(),
        "shouted",
        false,
        Duration::from_secs(3),
        |r| !r.is_empty(),
    );
    assert_eq!(early.len(), 0);
    assert_eq!(streams.metrics().processed, 0);
    streams.resume();
    assert!(!streams.is_paused());
    let out = read_until(kafka.bootstrap_servers(), "shouted", false, WAIT, |r| {
        r.len() >= 3
    });
    let mut values: Vec<String> = out
        .iter()
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    values.sort();
    assert_eq!(values, ["AB", "CD", "EF"]);
    assert!(streams.close(WAIT));
}

#[test]
fn stream_threads_can_be_added_and_removed_while_running() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("letters", 4).unwrap();
    kafka.create_topic("letter-counts", 4).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // At-least-once only: the mock cluster takes transactional offset commits but does not
    // keep them, so the exactly-once form runs on Apache Kafka (`e2e_kafka`).
    let streams = KafkaStreams::new(
        elastic::counting_topology("letters", "letter-counts"),
        config("elastic", &kafka, dir.path()),
    )
    .with_topic_creator(kafka.clone());
    elastic::add_and_remove_threads(
        &streams,
        kafka.bootstrap_servers(),
        "elastic",
        "letters",
        "letter-counts",
        false,
    );
}

#[test]
fn stream_partitioners_choose_the_partitions_of_sinks_and_repartition_topics() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("visits", 2).unwrap();
    kafka.create_topic("routed", 4).unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("visits")
        // The repartition topic gets 3 partitions; a page goes to the one its length picks.
        .repartition_with(
            Repartitioned::new()
                .with_name("by-page")
                .with_partitions(3)
                .with_stream_partitioner(|_: &str, _: &String, page: &String, n: i32| {
                    Some(page.len() as i32 % n)
                }),
        )
        // Users starting with `a` go to the last partition, the rest to the default.
        .to_with(
            "routed",
            Produced::new().with_stream_partitioner(
                |_: &str, user: &String, _: &String, n: i32| user.starts_with('a').then_some(n - 1),
            ),
        );
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(
        builder.build().unwrap(),
        config("partitioned", &kafka, dir.path()),
    )
    .with_topic_creator(kafka.clone());
    streams.start().unwrap();
    let visits = [
        ("ann", "home"),
        ("amy", "cart"),
        ("bob", "checkout"),
        ("cat", "faq"),
        ("ada", "x"),
        ("dan", "search"),
    ];
    let records: Vec<(Option<&[u8]>, &[u8])> = visits
        .iter()
        .map(|(u, p)| (Some(u.as_bytes()), p.as_bytes()))
        .collect();
    produce(kafka.bootstrap_servers(), "visits", &records);
    read_until(kafka.bootstrap_servers(), "routed", false, WAIT, |r| {
        r.len() >= visits.len()
    });
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    for (partition, user, page) in read_to_end(kafka.bootstrap_servers(), "routed", false, WAIT) {
        if text(&user).starts_with('a') {
            assert_eq!(partition, 3, "{} {}", text(&user), text(&page));
        }
    }
    let repartitioned = read_to_end(
        kafka.bootstrap_servers(),
        "partitioned-by-page-repartition",
        false,
        WAIT,
    );
    assert_eq!(repartitioned.len(), visits.len());
    for (partition, _, page) in repartitioned {
        assert_eq!(partition, page.len() as i32 % 3, "{}", text(&page));
    }
    assert!(streams.close(WAIT));
}
