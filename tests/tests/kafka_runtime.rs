//! The Kafka runtime against librdkafka's mock cluster (in process): word count and a
//! windowed count end to end, several instances sharing partitions, restoration, start-up
//! checks and internal topics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use integration_tests::init_tracing;
use integration_tests::kafka::{latest_counts, produce, read_until};
use streams_core::runtime::{InternalTopic, TopicCreator};
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(60);

fn word_count(input: &str, output: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<(), String>(input)
        .flat_map_values(|line| {
            line.split_whitespace()
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .group_by_with(|_, word| word.clone(), Grouped::named("words"))
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to(output);
    builder.build().expect("the topology builds")
}

fn lines(words: &[&str], n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "{} {}",
                words[i % words.len()],
                words[(i * 7 + 3) % words.len()]
            )
        })
        .collect()
}

fn expected_counts(lines: &[String]) -> HashMap<String, i64> {
    let mut counts = HashMap::new();
    for line in lines {
        for word in line.split_whitespace() {
            *counts.entry(word.to_lowercase()).or_insert(0) += 1;
        }
    }
    counts
}

fn send_lines(kafka: &EmbeddedKafka, topic: &str, lines: &[String]) {
    let records: Vec<(Option<&[u8]>, &[u8])> = lines.iter().map(|l| (None, l.as_bytes())).collect();
    produce(kafka.bootstrap_servers(), topic, &records);
}

fn config(app: &str, kafka: &EmbeddedKafka, dir: &std::path::Path) -> StreamsConfig {
    StreamsConfig::new(app)
        .bootstrap_servers(kafka.bootstrap_servers())
        .state_dir(dir)
        .commit_interval(Duration::from_millis(200))
        // The mock cluster only lets a new member in once the members of an earlier run
        // have timed out, even after they left: keep that short.
        .consumer_property("session.timeout.ms", "6000")
        .consumer_property("heartbeat.interval.ms", "1000")
}

fn start(topology: Topology, config: StreamsConfig, kafka: &Arc<EmbeddedKafka>) -> KafkaStreams {
    let streams = KafkaStreams::new(topology, config).with_topic_creator(kafka.clone());
    streams.start().expect("the application starts");
    streams
}

fn counts_reach(
    kafka: &EmbeddedKafka,
    topic: &str,
    expected: &HashMap<String, i64>,
) -> HashMap<String, i64> {
    let records = read_until(kafka.bootstrap_servers(), topic, false, WAIT, |r| {
        let latest = latest_counts(r);
        expected
            .iter()
            .all(|(w, n)| latest.get(w).is_some_and(|m| m >= n))
    });
    latest_counts(&records)
}

#[test]
fn word_count_runs_end_to_end() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(3).unwrap());
    kafka.create_topic("lines", 4).unwrap();
    kafka.create_topic("counts", 4).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(
        word_count("lines", "counts"),
        config("wc-e2e", &kafka, dir.path()),
    )
    .with_topic_creator(kafka.clone());
    let transitions = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = transitions.clone();
    streams.on_state_change(move |from, to| seen.lock().unwrap().push((from, to)));
    let changes = streams.state_changes();
    streams.start().unwrap();
    let input = lines(&["apple", "banana", "cherry", "date", "elder"], 200);
    send_lines(&kafka, "lines", &input);
    let expected = expected_counts(&input);
    let counts = counts_reach(&kafka, "counts", &expected);
    assert_eq!(counts, expected);
    assert!(streams.wait_for(State::Running, WAIT));
    assert!(streams.close(WAIT));
    assert_eq!(streams.state(), State::NotRunning);
    assert!(streams.metrics().processed >= 400 + 200);
    assert_eq!(
        *transitions.lock().unwrap(),
        [
            (State::Created, State::Rebalancing),
            (State::Rebalancing, State::Running),
            (State::Running, State::PendingShutdown),
            (State::PendingShutdown, State::NotRunning),
        ]
    );
    assert_eq!(*changes.borrow(), State::NotRunning);
}

#[test]
fn instances_share_partitions_as_they_come_and_go() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(3).unwrap());
    kafka.create_topic("lines", 6).unwrap();
    kafka.create_topic("counts", 6).unwrap();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let app = |i: usize| {
        start(
            word_count("lines", "counts"),
            config("wc-scale", &kafka, dirs[i].path()),
            &kafka,
        )
    };
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta"];
    let mut sent = Vec::new();
    let mut send = |batch: Vec<String>| {
        send_lines(&kafka, "lines", &batch);
        sent.extend(batch);
        expected_counts(&sent)
    };

    let a = app(0);
    let b = app(1);
    assert!(a.wait_for(State::Running, WAIT) && b.wait_for(State::Running, WAIT));
    let expected = send(lines(&words, 300));
    assert_eq!(counts_reach(&kafka, "counts", &expected), expected);

    // While partitions move, a commit can be refused (the mock cluster refuses every commit
    // once a rebalance has started): the records since the last commit are then counted
    // again by the partitions' next owner. At-least-once promises no loss, not exactness.
    let at_least = |counts: HashMap<String, i64>, expected: &HashMap<String, i64>| {
        for (word, n) in expected {
            assert!(
                counts.get(word).is_some_and(|m| m >= n),
                "{word}: {counts:?}"
            );
        }
    };
    let c = app(2);
    let expected = send(lines(&words[1..], 300));
    at_least(counts_reach(&kafka, "counts", &expected), &expected);
    assert!(c.wait_for(State::Running, WAIT));

    assert!(b.close(WAIT));
    let expected = send(lines(&words[2..], 300));
    at_least(counts_reach(&kafka, "counts", &expected), &expected);
    // No instance failed on the way: refused commits are part of moving tasks.
    for instance in [&a, &b, &c] {
        assert!(
            instance.thread_errors().is_empty(),
            "{:?}",
            instance.thread_errors()
        );
    }
    for (name, instance) in [("a", &a), ("b", &b), ("c", &c)] {
        assert!(
            instance.metrics().processed > 0,
            "instance {name} did no work"
        );
    }
    assert!(a.close(WAIT) && c.close(WAIT));
}

#[test]
fn state_is_restored_after_a_restart() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    let words = ["one", "two", "three", "four"];
    for (app, in_memory) in [("restore-rocksdb", false), ("restore-memory", true)] {
        let dir = tempfile::tempdir().unwrap();
        let topology = || {
            let builder = StreamsBuilder::new();
            let store = Materialized::named("counts");
            let store = if in_memory { store.in_memory() } else { store };
            builder
                .stream::<(), String>(&format!("{app}-in"))
                .flat_map_values(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .group_by(|_, w| w.clone())
                .count_with(store)
                .to_stream()
                .to(&format!("{app}-out"));
            builder.build().unwrap()
        };
        kafka.create_topic(&format!("{app}-in"), 2).unwrap();
        kafka.create_topic(&format!("{app}-out"), 2).unwrap();
        let first = lines(&words, 100);
        send_lines(&kafka, &format!("{app}-in"), &first);
        let streams = start(topology(), config(app, &kafka, dir.path()), &kafka);
        let before = expected_counts(&first);
        assert_eq!(counts_reach(&kafka, &format!("{app}-out"), &before), before);
        assert!(streams.close(WAIT));
        drop(streams);

        let second = lines(&words, 40);
        send_lines(&kafka, &format!("{app}-in"), &second);
        let streams = start(topology(), config(app, &kafka, dir.path()), &kafka);
        let mut all = first.clone();
        all.extend(second);
        let after = expected_counts(&all);
        assert_eq!(counts_reach(&kafka, &format!("{app}-out"), &after), after);
        let restored = streams.metrics().restored;
        if in_memory {
            // Memory keeps nothing: the whole changelog is replayed.
            assert!(restored > 0, "{app}: nothing restored");
        } else {
            // RocksDB kept its state and the checkpoint covers the changelog.
            assert_eq!(restored, 0, "{app}: restored what the checkpoint covers");
        }
        assert!(streams.close(WAIT));
    }
}

#[test]
fn inputs_of_one_subtopology_must_be_co_partitioned() {
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("left", 2).unwrap();
    kafka.create_topic("right", 3).unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("left")
        .merge(&builder.stream::<String, String>("right"))
        .to("merged");
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(
        builder.build().unwrap(),
        config("copart", &kafka, dir.path()),
    )
    .with_topic_creator(kafka.clone());
    let error = streams.start().unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("left: 2") && message.contains("right: 3"),
        "{message}"
    );
    assert_eq!(streams.state(), State::Created);

    let streams = KafkaStreams::new(
        word_count("missing", "out"),
        config("nosrc", &kafka, dir.path()),
    )
    .with_topic_creator(kafka.clone());
    assert!(matches!(
        streams.start(),
        Err(RuntimeError::MissingSourceTopics(t)) if t == ["missing"]
    ));
}

/// Creates topics on the embedded cluster and remembers what it was asked for.
struct RecordingCreator {
    kafka: Arc<EmbeddedKafka>,
    asked: std::sync::Mutex<Vec<InternalTopic>>,
}

impl TopicCreator for RecordingCreator {
    fn create_topics(&self, topics: &[InternalTopic]) -> Result<(), RuntimeError> {
        self.asked.lock().unwrap().extend_from_slice(topics);
        self.kafka.create_topics(topics)
    }
}

#[test]
fn internal_topics_are_created_with_the_partitions_and_configs_of_their_stores() {
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("lines", 3).unwrap();
    kafka.create_topic("clicks", 2).unwrap();
    kafka.create_topic("prices", 2).unwrap();
    let builder = StreamsBuilder::new();
    // A versioned table: compaction must leave its changelog's history alone.
    builder
        .table_with::<String, String>(
            "prices",
            Consumed::new(),
            Materialized::named("prices").with_history_retention(Duration::from_secs(600)),
        )
        .to_stream()
        .to("latest-prices");
    builder
        .stream::<(), String>("lines")
        .flat_map_values(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .group_by_with(|_, w| w.clone(), Grouped::named("words"))
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to("counts");
    builder
        .stream::<String, String>("clicks")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_secs(60),
            Duration::from_secs(10),
        ))
        .count_with(Materialized::named("per-minute"))
        .to_stream()
        .map(|k, v| (k.key, v))
        .to("per-minute");
    let creator = Arc::new(RecordingCreator {
        kafka: kafka.clone(),
        asked: Default::default(),
    });
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(
        builder.build().unwrap(),
        config("topics", &kafka, dir.path()),
    )
    .with_topic_creator(creator.clone());
    streams.start().unwrap();
    let mut asked = creator.asked.lock().unwrap().clone();
    asked.sort_by(|a, b| a.name.cmp(&b.name));
    let topic = |name: &str, partitions: i32, configs: &[(&str, &str)]| InternalTopic {
        name: name.to_owned(),
        partitions,
        configs: configs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    // Retention of the windowed changelog: the store's (size + grace) plus one day.
    let retention = (70_000 + 24 * 3_600_000).to_string();
    assert_eq!(
        asked,
        [
            topic("topics-control", 1, &[("cleanup.policy", "delete")]),
            topic(
                "topics-counts-changelog",
                3,
                &[("cleanup.policy", "compact")]
            ),
            topic(
                "topics-per-minute-changelog",
                2,
                &[
                    ("cleanup.policy", "compact,delete"),
                    ("retention.ms", &retention)
                ]
            ),
            topic(
                "topics-prices-changelog",
                2,
                &[
                    ("cleanup.policy", "compact"),
                    (
                        "min.compaction.lag.ms",
                        &(600_000 + 24 * 3_600_000).to_string()
                    )
                ]
            ),
            topic(
                "topics-words-repartition",
                3,
                &[("cleanup.policy", "delete")]
            ),
        ]
    );
    assert!(streams.close(WAIT));
    // A second start finds them and creates nothing.
    creator.asked.lock().unwrap().clear();
    let streams = KafkaStreams::new(
        word_count("lines", "counts"),
        config("topics", &kafka, dir.path()),
    )
    .with_topic_creator(creator.clone());
    streams.start().unwrap();
    assert!(streams.close(WAIT));
    assert_eq!(*creator.asked.lock().unwrap(), []);
}

#[test]
fn windowed_count_runs_end_to_end() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("clicks", 2).unwrap();
    kafka.create_topic("clicks-per-window", 2).unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("clicks")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_secs(10),
            Duration::from_secs(60),
        ))
        .count()
        .to_stream()
        .map(|k, v| (format!("{}@{}", k.key, k.window.start), v))
        .to("clicks-per-window");
    let dir = tempfile::tempdir().unwrap();
    let streams = start(
        builder.build().unwrap(),
        config("windowed", &kafka, dir.path()),
        &kafka,
    );
    let base = 1_700_000_000_000_i64;
    let users = ["ann", "bob", "cid"];
    let clicks: Vec<(String, i64)> = (0..300)
        .map(|i| (users[i % 3].to_owned(), base + (i as i64 * 997) % 40_000))
        .collect();
    let records: Vec<integration_tests::kafka::TimedRecord<'_>> = clicks
        .iter()
        .map(|(u, t)| (Some(u.as_bytes()), &b"click"[..], Some(*t)))
        .collect();
    integration_tests::kafka::produce_at(kafka.bootstrap_servers(), "clicks", &records);
    let mut expected: HashMap<String, i64> = HashMap::new();
    for (user, t) in &clicks {
        *expected
            .entry(format!("{user}@{}", t - t.rem_euclid(10_000)))
            .or_insert(0) += 1;
    }
    assert_eq!(
        counts_reach(&kafka, "clicks-per-window", &expected),
        expected
    );
    assert!(streams.close(WAIT));
}

#[test]
fn bad_input_goes_to_the_configured_handler_and_the_application_keeps_running() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    for topic in ["amounts", "doubled", "amounts-dlq"] {
        kafka.create_topic(topic, 1).unwrap();
    }
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("amounts")
        .map_values(|v| v * 2)
        .to("doubled");
    let dir = tempfile::tempdir().unwrap();
    let config = config("dlq", &kafka, dir.path())
        .deserialization_handler(DeadLetterQueue::new("amounts-dlq"));
    let streams = start(builder.build().unwrap(), config, &kafka);
    let good = 21i64.to_be_bytes();
    produce(
        kafka.bootstrap_servers(),
        "amounts",
        &[
            (Some(b"a"), &good),
            (Some(b"b"), b"not a number"),
            (Some(b"c"), &good),
        ],
    );
    let doubled = read_until(kafka.bootstrap_servers(), "doubled", false, WAIT, |r| {
        r.len() >= 2
    });
    let values: Vec<(Vec<u8>, i64)> = doubled
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                i64::from_be_bytes(v.as_slice().try_into().unwrap()),
            )
        })
        .collect();
    assert_eq!(values, vec![(b"a".to_vec(), 42), (b"c".to_vec(), 42)]);
    let dead = read_until(kafka.bootstrap_servers(), "amounts-dlq", false, WAIT, |r| {
        !r.is_empty()
    });
    assert_eq!(dead, vec![(b"b".to_vec(), b"not a number".to_vec())]);
    assert_eq!(streams.state(), State::Running);
    assert!(streams.close(WAIT));
}

#[test]
fn a_global_table_is_bootstrapped_before_processing_and_followed_after() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("users", 3).unwrap();
    kafka.create_topic("orders", 2).unwrap();
    kafka.create_topic("orders-by-user", 2).unwrap();
    // The table's topic has 3 partitions, the stream's 2: a global table needs no
    // co-partitioning, every thread reads all of it.
    produce(
        kafka.bootstrap_servers(),
        "users",
        &[(Some(b"u1"), b"Ann"), (Some(b"u2"), b"Bob")],
    );
    let builder = StreamsBuilder::new();
    let users = builder.global_table::<String, String>("users");
    builder
        .stream::<String, String>("orders")
        .join_global(
            &users,
            |_, user| user.clone(),
            |order, name| format!("{order} for {name}"),
        )
        .to("orders-by-user");
    let dir = tempfile::tempdir().unwrap();
    let streams = start(
        builder.build().unwrap(),
        config("global", &kafka, dir.path()),
        &kafka,
    );
    assert!(streams.wait_for(State::Running, WAIT));
    // Records written before start are in the table before the first order is joined.
    produce(kafka.bootstrap_servers(), "orders", &[(Some(b"o1"), b"u1")]);
    let joined = read_until(
        kafka.bootstrap_servers(),
        "orders-by-user",
        false,
        WAIT,
        |r| !r.is_empty(),
    );
    assert_eq!(joined, vec![(b"o1".to_vec(), b"u1 for Ann".to_vec())]);
    // Updates to the table reach the running application.
    produce(kafka.bootstrap_servers(), "users", &[(Some(b"u3"), b"Cid")]);
    std::thread::sleep(Duration::from_millis(500));
    produce(kafka.bootstrap_servers(), "orders", &[(Some(b"o2"), b"u3")]);
    let o2 = (b"o2".to_vec(), b"u3 for Cid".to_vec());
    let joined = read_until(
        kafka.bootstrap_servers(),
        "orders-by-user",
        false,
        WAIT,
        |r| r.contains(&o2),
    );
    assert!(joined.contains(&o2), "{joined:?}");
    assert!(streams.close(WAIT));
}

#[test]
fn log_and_continue_skips_bad_records_and_log_and_fail_stops_with_their_coordinates() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    for topic in ["prices", "prices-out"] {
        kafka.create_topic(topic, 1).unwrap();
    }
    let topology = || {
        let builder = StreamsBuilder::new();
        builder.stream::<String, i64>("prices").to("prices-out");
        builder.build().unwrap()
    };
    let good = 5i64.to_be_bytes();
    produce(
        kafka.bootstrap_servers(),
        "prices",
        &[
            (Some(b"a"), &good),
            (Some(b"b"), b"five"),
            (Some(b"c"), &good),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let streams = start(
        topology(),
        config("skip", &kafka, dir.path()).deserialization_handler(LogAndContinue),
        &kafka,
    );
    let out = read_until(kafka.bootstrap_servers(), "prices-out", false, WAIT, |r| {
        r.len() >= 2
    });
    assert_eq!(
        out.iter().map(|(k, _)| k.as_slice()).collect::<Vec<_>>(),
        [b"a", b"c"]
    );
    assert_eq!(streams.state(), State::Running);
    assert!(streams.close(WAIT));

    let dir = tempfile::tempdir().unwrap();
    let streams = start(topology(), config("fail", &kafka, dir.path()), &kafka);
    assert!(
        streams.wait_for(State::Error, WAIT),
        "{:?}",
        streams.state()
    );
    let errors = streams.thread_errors();
    assert_eq!(
        errors,
        ["cannot deserialize the value of the record at prices-0@1: expected 8 bytes, got 4"]
    );
}

#[test]
fn the_stores_of_running_instances_can_be_queried() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("iq-lines", 4).unwrap();
    kafka.create_topic("iq-counts", 4).unwrap();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(
        word_count("iq-lines", "iq-counts"),
        config("iq", &kafka, d1.path()),
        &kafka,
    );
    let b = start(
        word_count("iq-lines", "iq-counts"),
        config("iq", &kafka, d2.path()),
        &kafka,
    );
    assert!(a.wait_for(State::Running, WAIT) && b.wait_for(State::Running, WAIT));
    let input = lines(&["red", "green", "blue", "cyan", "pink", "gold"], 120);
    send_lines(&kafka, "iq-lines", &input);
    let expected = expected_counts(&input);
    counts_reach(&kafka, "iq-counts", &expected);
    // Wait for both instances to settle after the rebalance that the second one caused.
    assert!(a.wait_for(State::Running, WAIT) && b.wait_for(State::Running, WAIT));

    // Each instance answers for its own tasks; together they hold every word, once.
    let mut table: HashMap<String, i64> = HashMap::new();
    for instance in [&a, &b] {
        let parts = instance
            .query("counts", |s: &ReadOnlyKeyValueStore<String, i64>| s.all())
            .unwrap();
        for (word, count) in parts.into_iter().flatten() {
            assert!(table.insert(word, count).is_none(), "a word in two tasks");
        }
    }
    for (word, n) in &expected {
        assert!(table.get(word).is_some_and(|m| m >= n), "{word}: {table:?}");
    }
    // A point lookup finds the word on the instance that runs its task, and only there.
    let here = |s: &KafkaStreams| s.get::<String, i64>("counts", "red".to_owned()).unwrap();
    let found: Vec<i64> = [here(&a), here(&b)].into_iter().flatten().collect();
    assert_eq!(found, [table["red"]]);
    assert!(matches!(
        a.query("no-such-store", |s: &ReadOnlyKeyValueStore<String, i64>| s
            .all()),
        Err(RuntimeError::Streams(StreamsError::UnknownStore(_)))
    ));
    assert!(a.close(WAIT) && b.close(WAIT));
    assert!(matches!(
        a.get::<String, i64>("counts", "red".to_owned()),
        Err(RuntimeError::IllegalState { .. })
    ));
}

/// A wrong address fails `start()` within the start-up timeout, naming the address and the
/// cause: a name that does not resolve, a port where nothing listens.
#[test]
fn an_unreachable_cluster_fails_start_naming_the_address_and_the_cause() {
    for (servers, cause) in [
        ("no-such-host.invalid:9092", "resolve"),
        ("127.0.0.1:1", "refused"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = StreamsConfig::new("unreachable")
            .bootstrap_servers(servers)
            .state_dir(dir.path())
            .startup_timeout(Duration::from_secs(3));
        let streams = KafkaStreams::new(word_count("lines", "counts"), config);
        let started = std::time::Instant::now();
        let error = streams.start().unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        let message = error.to_string();
        assert!(
            matches!(error, RuntimeError::Unreachable { .. })
                && message.contains(servers)
                && message.to_lowercase().contains(cause),
            "{message}"
        );
        assert_eq!(streams.state(), State::Created);
    }
}

#[test]
fn a_record_at_the_epoch_keeps_its_time_through_a_repartition_topic() {
    // librdkafka stamps a record produced at timestamp 0 with the wall clock. Through a
    // repartition topic that pushed the windowed task's stream time to the present, and every
    // later record was dropped as late.
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("epoch-in", 1).unwrap();
    kafka.create_topic("epoch-out", 1).unwrap();
    let builder = StreamsBuilder::new();
    let time_in_value = |_: &String, v: &String, _: i64, _: i64| v.parse().unwrap_or(-1);
    builder
        .stream_with::<String, String>(
            "epoch-in",
            Consumed::new().with_typed_timestamp_extractor(time_in_value),
        )
        .group_by(|_, v| v.clone())
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_millis(
            10,
        )))
        .count()
        .to_stream()
        .map(|k, n| (format!("{}@{}", k.key, k.window.start), n))
        .to("epoch-out");
    let topology = builder.build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let streams = start(topology, config("epoch", &kafka, dir.path()), &kafka);
    produce(
        kafka.bootstrap_servers(),
        "epoch-in",
        &[(Some(&b"a"[..]), &b"0"[..]), (Some(&b"b"[..]), &b"5"[..])],
    );
    let records = read_until(kafka.bootstrap_servers(), "epoch-out", false, WAIT, |r| {
        latest_counts(r).len() == 2
    });
    let expected = HashMap::from([("0@0".to_owned(), 1), ("5@0".to_owned(), 1)]);
    assert_eq!(latest_counts(&records), expected);
    assert!(streams.close(WAIT));
}

/// The task directories under the application's state directory.
fn task_dirs(app_dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(app_dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.split_once('_').is_some())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn the_state_of_tasks_no_longer_run_here_is_removed_after_the_cleanup_delay() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("lines", 2).unwrap();
    kafka.create_topic("counts", 2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let app_dir = dir.path().join("cleaner");
    // A task of an earlier run that this run does not have (sub-topology 7).
    std::fs::create_dir_all(app_dir.join("7_3")).unwrap();
    std::fs::write(app_dir.join("7_3").join("data"), "old").unwrap();
    let streams = start(
        word_count("lines", "counts"),
        config("cleaner", &kafka, dir.path()).state_cleanup_delay(Duration::from_millis(300)),
        &kafka,
    );
    let input = lines(&["apple", "banana", "cherry"], 50);
    send_lines(&kafka, "lines", &input);
    let expected = expected_counts(&input);
    assert_eq!(counts_reach(&kafka, "counts", &expected), expected);
    let deadline = std::time::Instant::now() + WAIT;
    while app_dir.join("7_3").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the old task's state stayed"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The tasks this instance runs keep theirs, however long the delay has passed.
    let held = task_dirs(&app_dir);
    assert!(!held.is_empty());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(task_dirs(&app_dir), held);
    assert!(streams.close(WAIT));
}

/// While a second instance joins, the first keeps answering queries: every query it
/// answers during the rebalance succeeds and finds the counts of the tasks it keeps (they
/// are suspended at the revocation and resumed at the assignment, not closed and rebuilt).
#[test]
fn queries_are_answered_during_a_rebalance_by_the_tasks_that_stay() {
    use std::sync::atomic::{AtomicBool, Ordering};
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("rb-lines", 2).unwrap();
    kafka.create_topic("rb-counts", 2).unwrap();
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(
        word_count("rb-lines", "rb-counts"),
        config("rb", &kafka, d1.path()),
        &kafka,
    );
    assert!(a.wait_for(State::Running, WAIT));
    let input = lines(&["red", "green", "blue", "cyan", "pink", "gold"], 120);
    send_lines(&kafka, "rb-lines", &input);
    let expected = expected_counts(&input);
    counts_reach(&kafka, "rb-counts", &expected);
    let all = |s: &ReadOnlyKeyValueStore<String, i64>| s.all();
    let table = |answers: Vec<Vec<(String, i64)>>| -> HashMap<String, i64> {
        answers.into_iter().flatten().collect()
    };

    let stop = AtomicBool::new(false);
    let (during, b) = std::thread::scope(|scope| {
        let asking = scope.spawn(|| {
            let mut during = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let before = a.state();
                let answer = a.query("counts", all);
                if before == State::Rebalancing && a.state() == State::Rebalancing {
                    during.push(answer);
                }
            }
            during
        });
        let b = start(
            word_count("rb-lines", "rb-counts"),
            config("rb", &kafka, d2.path()),
            &kafka,
        );
        assert!(b.wait_for(State::Running, WAIT));
        assert!(a.wait_for(State::Running, WAIT));
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        (asking.join().unwrap(), b)
    });
    let kept = table(a.query("counts", all).unwrap());
    let moved = table(b.query("counts", all).unwrap());
    assert!(!kept.is_empty() && !moved.is_empty(), "{kept:?} {moved:?}");
    assert!(
        !during.is_empty(),
        "no query while the first instance was rebalancing"
    );
    for answer in during {
        let answer = table(answer.expect("a query during the rebalance succeeds"));
        for (word, count) in &kept {
            assert_eq!(answer.get(word), Some(count), "{word} during the rebalance");
        }
    }
    assert!(a.close(WAIT) && b.close(WAIT));
}

/// A source subscribed by pattern reads every matching topic as one source (their
/// partitions grouped into the same tasks), and a matching topic created while the
/// application runs joins at the next rebalance.
#[test]
fn a_pattern_source_reads_matching_topics_and_those_created_later() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    for topic in ["pat-a", "pat-b", "pat-other", "pat-counts"] {
        kafka.create_topic(topic, 2).unwrap();
    }
    let builder = StreamsBuilder::new();
    builder
        .stream_pattern::<String, String>("pat-[a-c]")
        .group_by_key()
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to("pat-counts");
    let dir = tempfile::tempdir().unwrap();
    let streams = start(
        builder.build().unwrap(),
        config("pat", &kafka, dir.path())
            .consumer_property("topic.metadata.refresh.interval.ms", "500"),
        &kafka,
    );
    assert!(streams.wait_for(State::Running, WAIT));
    let keyed = |keys: &[&'static str]| -> Vec<(Option<&'static [u8]>, &'static [u8])> {
        keys.iter()
            .map(|k| (Some(k.as_bytes()), &b"x"[..]))
            .collect()
    };
    produce(
        kafka.bootstrap_servers(),
        "pat-a",
        &keyed(&["ann", "bob", "ann"]),
    );
    produce(kafka.bootstrap_servers(), "pat-b", &keyed(&["ann", "cid"]));
    produce(
        kafka.bootstrap_servers(),
        "pat-other",
        &keyed(&["ann", "dan"]),
    );
    let first = HashMap::from([
        ("ann".to_owned(), 3),
        ("bob".to_owned(), 1),
        ("cid".to_owned(), 1),
    ]);
    assert_eq!(counts_reach(&kafka, "pat-counts", &first), first);

    kafka.create_topic("pat-c", 2).unwrap();
    produce(kafka.bootstrap_servers(), "pat-c", &keyed(&["bob", "eve"]));
    let later = HashMap::from([
        ("ann".to_owned(), 3),
        ("bob".to_owned(), 2),
        ("cid".to_owned(), 1),
        ("eve".to_owned(), 1),
    ]);
    assert_eq!(counts_reach(&kafka, "pat-counts", &later), later);
    assert_eq!(
        streams
            .get::<String, i64>("counts", "dan".to_owned())
            .unwrap(),
        None
    );
    assert!(streams.close(WAIT));
}
