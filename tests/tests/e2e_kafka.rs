//! The end-to-end suite on Apache Kafka (started by `scripts/kafka.sh` once for this test
//! binary, or the cluster named by `STREAMS_TEST_BOOTSTRAP_SERVERS`): word count with its
//! internal topics created through the admin API and checked on the broker, a windowed
//! count, a global table, a stream-stream join across a rebalance between two instances,
//! and restoration after restarts from changelogs and checkpoints.
//!
//! Every test names its topics and application ids through [`Broker::name`], so the tests
//! share one broker and can run again on an external cluster.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use integration_tests::broker::Broker;
use integration_tests::init_tracing;
use integration_tests::kafka::{create_topics, latest_counts, produce, produce_at, read_until};
use rdkafka::admin::{AdminClient, AdminOptions, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(120);

fn config(application_id: &str, dir: &std::path::Path) -> StreamsConfig {
    StreamsConfig::new(application_id)
        .bootstrap_servers(Broker::shared().bootstrap_servers())
        .state_dir(dir)
        .commit_interval(Duration::from_millis(200))
        .consumer_property("session.timeout.ms", "6000")
        .consumer_property("heartbeat.interval.ms", "1000")
}

fn servers() -> &'static str {
    Broker::shared().bootstrap_servers()
}

/// Counts the words of `input` into `output`, in a store named "counts".
fn word_count(input: &str, output: &str, in_memory: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let counts = Materialized::named("counts");
    let counts = if in_memory {
        counts.in_memory()
    } else {
        counts
    };
    builder
        .stream::<(), String>(input)
        .flat_map_values(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .group_by_with(|_, w| w.clone(), Grouped::named("words"))
        .count_with(counts)
        .to_stream()
        .to(output);
    builder.build().expect("the topology builds")
}

fn send_lines(topic: &str, lines: &[String]) {
    let records: Vec<(Option<&[u8]>, &[u8])> = lines.iter().map(|l| (None, l.as_bytes())).collect();
    produce(servers(), topic, &records);
}

fn lines(n: usize, offset: usize) -> Vec<String> {
    let words = ["alpha", "beta", "gamma", "delta", "epsilon"];
    (0..n)
        .map(|i| format!("{} {}", words[(i + offset) % 5], words[(i * 3 + 1) % 5]))
        .collect()
}

fn expected_counts(lines: &[String]) -> HashMap<String, i64> {
    let mut counts = HashMap::new();
    for word in lines.iter().flat_map(|l| l.split_whitespace()) {
        *counts.entry(word.to_owned()).or_insert(0) += 1;
    }
    counts
}

fn counts_reach(topic: &str, expected: &HashMap<String, i64>) -> HashMap<String, i64> {
    latest_counts(&read_until(servers(), topic, false, WAIT, |r| {
        let latest = latest_counts(r);
        expected.iter().all(|(w, n)| latest.get(w) >= Some(n))
    }))
}

/// The partition count and the given configs of `topic`, as the broker describes them.
fn described(topic: &str, keys: &[&str]) -> (usize, HashMap<String, String>) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers())
        .create()
        .expect("a consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions = metadata.topics()[0].partitions().len();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", servers())
        .create()
        .expect("an admin client");
    let resources = futures::executor::block_on(
        admin.describe_configs([&ResourceSpecifier::Topic(topic)], &AdminOptions::new()),
    )
    .expect("configs described");
    let resource = resources
        .into_iter()
        .next()
        .expect("one resource")
        .expect("the topic's configs");
    let configs = keys
        .iter()
        .filter_map(|k| {
            let entry = resource.get(k)?;
            Some(((*k).to_owned(), entry.value.clone()?))
        })
        .collect();
    (partitions, configs)
}

/// The names of the broker's topics that start with `prefix` (other tests create theirs
/// at the same time).
fn topic_names(prefix: &str) -> HashSet<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers())
        .create()
        .expect("a consumer");
    consumer
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata")
        .topics()
        .iter()
        .map(|t| t.name().to_owned())
        .filter(|name| name.starts_with(prefix))
        .collect()
}

/// Word count, a windowed count and a versioned table: the runtime creates their
/// changelogs and repartition topic through the admin API, and the broker holds them with
/// the partitions of their sub-topologies and the configs of their stores. A second start
/// creates nothing.
#[test]
fn internal_topics_are_created_on_the_broker_with_their_partitions_and_configs() {
    init_tracing();
    let broker = Broker::shared();
    let app = broker.name("topics");
    let (lines_topic, clicks, prices) = (
        broker.name("lines"),
        broker.name("clicks"),
        broker.name("prices"),
    );
    let (counts, per_minute, latest) = (
        broker.name("counts"),
        broker.name("per-minute"),
        broker.name("latest-prices"),
    );
    create_topics(
        servers(),
        &[
            (&lines_topic, 3),
            (&clicks, 2),
            (&prices, 2),
            (&counts, 3),
            (&per_minute, 2),
            (&latest, 2),
        ],
    );
    let topology = || {
        let builder = StreamsBuilder::new();
        builder
            .table_with::<String, String>(
                &prices,
                Consumed::new(),
                Materialized::named("prices").with_history_retention(Duration::from_secs(600)),
            )
            .to_stream()
            .to(&latest);
        builder
            .stream::<(), String>(&lines_topic)
            .flat_map_values(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .group_by_with(|_, w| w.clone(), Grouped::named("words"))
            .count_with(Materialized::named("counts"))
            .to_stream()
            .to(&counts);
        builder
            .stream::<String, String>(&clicks)
            .group_by_key()
            .windowed_by(TimeWindows::of_size_and_grace(
                Duration::from_secs(60),
                Duration::from_secs(10),
            ))
            .count_with(Materialized::named("per-minute"))
            .to_stream()
            .map(|k, v| (k.key, v))
            .to(&per_minute);
        builder.build().expect("the topology builds")
    };
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(topology(), config(&app, dir.path()));
    streams.start().expect("the application starts");
    let input = lines(200, 0);
    send_lines(&lines_topic, &input);
    let expected = expected_counts(&input);
    assert_eq!(counts_reach(&counts, &expected), expected);

    let policy = |p: &str| HashMap::from([("cleanup.policy".to_owned(), p.to_owned())]);
    assert_eq!(
        described(&format!("{app}-counts-changelog"), &["cleanup.policy"]),
        (3, policy("compact"))
    );
    assert_eq!(
        described(&format!("{app}-words-repartition"), &["cleanup.policy"]),
        (3, policy("delete"))
    );
    // A windowed changelog is compacted and deleted after the store's retention (size +
    // grace) plus a day.
    let mut windowed = policy("compact,delete");
    windowed.insert(
        "retention.ms".to_owned(),
        (70_000 + 24 * 3_600_000).to_string(),
    );
    assert_eq!(
        described(
            &format!("{app}-per-minute-changelog"),
            &["cleanup.policy", "retention.ms"]
        ),
        (2, windowed)
    );
    // Compaction must leave a versioned store's history alone.
    let mut versioned = policy("compact");
    versioned.insert(
        "min.compaction.lag.ms".to_owned(),
        (600_000 + 24 * 3_600_000).to_string(),
    );
    assert_eq!(
        described(
            &format!("{app}-prices-changelog"),
            &["cleanup.policy", "min.compaction.lag.ms"]
        ),
        (2, versioned)
    );
    assert!(streams.close(WAIT));

    let before = topic_names(&app);
    assert_eq!(before.len(), 5, "{before:?}");
    let streams = KafkaStreams::new(topology(), config(&app, dir.path()));
    streams.start().expect("the second start");
    assert!(streams.wait_for(State::Running, WAIT));
    assert!(streams.close(WAIT));
    assert_eq!(topic_names(&app), before, "a second start creates no topic");
}

/// Tumbling one-minute windows with grace, fed with records stamped with event times:
/// every window's final count arrives.
#[test]
fn a_windowed_count_runs_end_to_end() {
    init_tracing();
    let broker = Broker::shared();
    let (app, clicks, out) = (
        broker.name("windowed"),
        broker.name("w-clicks"),
        broker.name("w-out"),
    );
    create_topics(servers(), &[(&clicks, 2), (&out, 2)]);
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(&clicks)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_secs(10),
            Duration::from_secs(60),
        ))
        .count()
        .to_stream()
        .map(|k, v| (format!("{}@{}", k.key, k.window.start), v))
        .to(&out);
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(builder.build().unwrap(), config(&app, dir.path()));
    streams.start().unwrap();
    let base = 1_700_000_000_000_i64;
    let users = ["ann", "bob", "cid"];
    let events: Vec<(String, i64)> = (0..300)
        .map(|i| (users[i % 3].to_owned(), base + (i as i64 * 997) % 40_000))
        .collect();
    let records: Vec<_> = events
        .iter()
        .map(|(u, t)| (Some(u.as_bytes()), &b"click"[..], Some(*t)))
        .collect();
    produce_at(servers(), &clicks, &records);
    let mut expected: HashMap<String, i64> = HashMap::new();
    for (user, t) in &events {
        *expected
            .entry(format!("{user}@{}", t - t.rem_euclid(10_000)))
            .or_insert(0) += 1;
    }
    assert_eq!(counts_reach(&out, &expected), expected);
    assert!(streams.close(WAIT));
}

/// A global table over a topic with another partition count than the stream's is read
/// whole before processing starts and followed afterwards.
#[test]
fn a_global_table_is_bootstrapped_before_processing_and_followed_after() {
    init_tracing();
    let broker = Broker::shared();
    let (app, users, orders, out) = (
        broker.name("global"),
        broker.name("g-users"),
        broker.name("g-orders"),
        broker.name("g-out"),
    );
    create_topics(servers(), &[(&users, 3), (&orders, 2), (&out, 2)]);
    produce(
        servers(),
        &users,
        &[(Some(b"u1"), b"Ann"), (Some(b"u2"), b"Bob")],
    );
    let builder = StreamsBuilder::new();
    let table = builder.global_table::<String, String>(&users);
    builder
        .stream::<String, String>(&orders)
        .join_global(
            &table,
            |_, user| Some(user.clone()),
            |order, name| format!("{order} for {name}"),
        )
        .to(&out);
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(builder.build().unwrap(), config(&app, dir.path()));
    streams.start().unwrap();
    assert!(streams.wait_for(State::Running, WAIT));
    produce(servers(), &orders, &[(Some(b"o1"), b"u1")]);
    let joined = read_until(servers(), &out, false, WAIT, |r| !r.is_empty());
    assert_eq!(joined, vec![(b"o1".to_vec(), b"u1 for Ann".to_vec())]);
    produce(servers(), &users, &[(Some(b"u3"), b"Cid")]);
    std::thread::sleep(Duration::from_millis(500));
    produce(servers(), &orders, &[(Some(b"o2"), b"u3")]);
    let o2 = (b"o2".to_vec(), b"u3 for Cid".to_vec());
    let joined = read_until(servers(), &out, false, WAIT, |r| r.contains(&o2));
    assert!(joined.contains(&o2), "{joined:?}");
    assert!(streams.close(WAIT));
}

/// A stream-stream join run by two instances, the second joining in the middle and the
/// first leaving later: the rebalances move tasks with their join buffers (restored from
/// their changelogs), and every order meets its payment.
#[test]
fn a_stream_join_survives_rebalances_between_two_instances() {
    init_tracing();
    let broker = Broker::shared();
    let (app, orders, payments, paid) = (
        broker.name("join"),
        broker.name("orders"),
        broker.name("payments"),
        broker.name("paid"),
    );
    create_topics(servers(), &[(&orders, 4), (&payments, 4), (&paid, 4)]);
    let topology = || {
        let builder = StreamsBuilder::new();
        let payments = builder.stream::<String, String>(&payments);
        builder
            .stream::<String, String>(&orders)
            .join_with(
                &payments,
                |order, payment| format!("{order}/{payment}"),
                JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(3600)),
                StreamJoined::new().with_store_name("order-payment"),
            )
            .to(&paid);
        builder.build().expect("the topology builds")
    };
    let send = |topic: &str, prefix: &str, range: std::ops::Range<usize>| {
        let owned: Vec<(String, String)> = range
            .map(|i| (format!("customer-{i}"), format!("{prefix}-{i}")))
            .collect();
        let records: Vec<(Option<&[u8]>, &[u8])> = owned
            .iter()
            .map(|(k, v)| (Some(k.as_bytes()), v.as_bytes()))
            .collect();
        produce(servers(), topic, &records);
    };
    let joined = |range: std::ops::Range<usize>| -> HashSet<(Vec<u8>, Vec<u8>)> {
        range
            .map(|i| {
                (
                    format!("customer-{i}").into_bytes(),
                    format!("order-{i}/payment-{i}").into_bytes(),
                )
            })
            .collect()
    };
    let arrived = |expected: &HashSet<(Vec<u8>, Vec<u8>)>| {
        let out = read_until(servers(), &paid, false, WAIT, |r| {
            expected.iter().all(|e| r.contains(e))
        });
        out.into_iter().collect::<HashSet<_>>()
    };

    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = KafkaStreams::new(topology(), config(&app, dir_a.path()));
    a.start().unwrap();
    assert!(a.wait_for(State::Running, WAIT));
    // Orders first; their payments arrive after the second instance joined, so the
    // orders wait in join buffers that move.
    send(&orders, "order", 0..100);
    send(&payments, "payment", 0..50);
    assert!(arrived(&joined(0..50)).is_superset(&joined(0..50)));

    let b = KafkaStreams::new(topology(), config(&app, dir_b.path()));
    b.start().unwrap();
    assert!(b.wait_for(State::Running, WAIT));
    send(&payments, "payment", 50..100);
    assert!(arrived(&joined(0..100)).is_superset(&joined(0..100)));

    assert!(a.close(WAIT));
    send(&orders, "order", 100..150);
    send(&payments, "payment", 100..150);
    let all = arrived(&joined(0..150));
    assert!(all.is_superset(&joined(0..150)));
    // At-least-once may repeat a result across a move, but never invents one.
    assert!(all.is_subset(&joined(0..150)), "{all:?}");
    assert!(b.close(WAIT));
}

/// Restarts: RocksDB state is kept and the checkpoint covers the changelog, so nothing is
/// restored; in-memory state is rebuilt from the changelog; and a lost state directory is
/// rebuilt from the changelog too.
#[test]
fn state_is_restored_after_restarts_from_changelogs_and_checkpoints() {
    init_tracing();
    let broker = Broker::shared();
    for in_memory in [false, true] {
        let app = broker.name(if in_memory {
            "restore-mem"
        } else {
            "restore-rocks"
        });
        let (input, output) = (
            broker.name(&format!("{app}-in")),
            broker.name(&format!("{app}-out")),
        );
        create_topics(servers(), &[(&input, 2), (&output, 2)]);
        let topology = || word_count(&input, &output, in_memory);
        let dir = tempfile::tempdir().unwrap();
        let mut sent = lines(100, 0);
        send_lines(&input, &sent);
        let streams = KafkaStreams::new(topology(), config(&app, dir.path()));
        streams.start().unwrap();
        assert_eq!(
            counts_reach(&output, &expected_counts(&sent)),
            expected_counts(&sent)
        );
        assert!(streams.close(WAIT));

        let more = lines(40, 2);
        send_lines(&input, &more);
        sent.extend(more);
        let streams = KafkaStreams::new(topology(), config(&app, dir.path()));
        streams.start().unwrap();
        let expected = expected_counts(&sent);
        assert_eq!(counts_reach(&output, &expected), expected);
        let restored = streams.metrics().restored;
        if in_memory {
            assert!(restored > 0, "{app}: memory keeps nothing across a restart");
        } else {
            assert_eq!(restored, 0, "{app}: the checkpoint covers the changelog");
        }
        assert!(streams.close(WAIT));

        // A new state directory: everything comes back from the changelog.
        let fresh = tempfile::tempdir().unwrap();
        let streams = KafkaStreams::new(topology(), config(&app, fresh.path()));
        streams.start().unwrap();
        assert!(streams.wait_for(State::Running, WAIT));
        for (word, n) in &expected {
            assert_eq!(
                streams.get::<String, i64>("counts", word.clone()).unwrap(),
                Some(*n),
                "{app}: {word} restored"
            );
        }
        assert!(streams.metrics().restored > 0);
        assert!(streams.close(WAIT));
    }
}

/// Restoration reads a changelog to its end, whatever the broker lists as the end:
/// tansu 0.6 lists the first offset of the last batch plus one, and a restore that stopped
/// there lost the last updates of a batch. Here the changelog's last batch holds five
/// records, and the restored store must have the last one (on Apache Kafka the listed end
/// is exact; run the suite against tansu with `STREAMS_TEST_BOOTSTRAP_SERVERS` to check it
/// there).
#[test]
fn restoration_reads_the_changelog_to_its_end() {
    use integration_tests::kafka::Sender;
    let broker = Broker::shared();
    let app = broker.name("lag");
    let (input, output, changelog) = (
        broker.name("lag-in"),
        broker.name("lag-out"),
        format!("{app}-counts-changelog"),
    );
    create_topics(servers(), &[(&input, 1), (&output, 1), (&changelog, 1)]);
    // The changelog that a count over key "k" would have written: 1, 2, ..., 15, in batches
    // of 1, 2, 3, 4 and 5 records.
    let sender = Sender::new(servers());
    let counts: Vec<[u8; 8]> = (1..=15i64).map(i64::to_be_bytes).collect();
    let mut next = 0;
    for size in 1..=5 {
        let batch: Vec<_> = counts[next..next + size]
            .iter()
            .map(|c| (Some(&b"k"[..]), &c[..], None))
            .collect();
        sender.send_all(&changelog, &batch);
        next += size;
    }
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(&input)
        .group_by_key()
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to(&output);
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(builder.build().unwrap(), config(&app, dir.path()));
    streams.start().unwrap();
    assert!(streams.wait_for(State::Running, WAIT));
    assert_eq!(
        streams
            .get::<String, i64>("counts", "k".to_owned())
            .unwrap(),
        Some(15)
    );
    assert!(streams.close(WAIT));
}

/// A changelog deleted and recreated under a state directory that outlived it: the
/// checkpoint covers offsets the new changelog does not have, so the task's local state is
/// wiped and rebuilt from the changelog, and the results equal a fresh run's (the stale
/// counts would otherwise continue).
#[test]
fn local_state_past_a_recreated_changelog_is_wiped() {
    init_tracing();
    let broker = Broker::shared();
    let app = broker.name("recreated");
    let (input, output) = (broker.name("rc-in"), broker.name("rc-out"));
    let changelog = format!("{app}-counts-changelog");
    create_topics(servers(), &[(&input, 1), (&output, 1)]);
    let dir = tempfile::tempdir().unwrap();
    let first = lines(100, 0);
    send_lines(&input, &first);
    let streams = KafkaStreams::new(word_count(&input, &output, false), config(&app, dir.path()));
    streams.start().unwrap();
    assert_eq!(
        counts_reach(&output, &expected_counts(&first)),
        expected_counts(&first)
    );
    assert!(streams.close(WAIT));

    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", servers())
        .create()
        .expect("an admin client");
    futures::executor::block_on(admin.delete_topics(&[&changelog], &AdminOptions::new()))
        .expect("deleted");
    let deadline = std::time::Instant::now() + WAIT;
    while topic_names(&changelog).contains(&changelog) {
        assert!(
            std::time::Instant::now() < deadline,
            "{changelog} never went"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The application recreates its changelog, empty; the input resumes after `first`.
    let second = lines(40, 3);
    send_lines(&input, &second);
    let streams = KafkaStreams::new(word_count(&input, &output, false), config(&app, dir.path()));
    streams.start().unwrap();
    assert!(streams.wait_for(State::Running, WAIT));
    let fresh = expected_counts(&second);
    let deadline = std::time::Instant::now() + WAIT;
    let mut stored = HashMap::new();
    while std::time::Instant::now() < deadline {
        stored = fresh
            .keys()
            .filter_map(|w| {
                Some((
                    w.clone(),
                    streams.get::<String, i64>("counts", w.clone()).ok()??,
                ))
            })
            .collect();
        if stored == fresh {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        stored, fresh,
        "counts start again from the recreated changelog"
    );
    assert!(streams.close(WAIT));
}

/// Threads added and removed under exactly-once: state moves with the tasks, and no record is
/// counted twice (the mock cluster cannot show this: it does not keep transactional offset
/// commits).
#[test]
fn stream_threads_can_be_added_and_removed_under_exactly_once() {
    init_tracing();
    let broker = Broker::shared();
    let (app, input, output) = (
        broker.name("elastic-eos"),
        broker.name("letters"),
        broker.name("letter-counts"),
    );
    create_topics(servers(), &[(&input, 4), (&output, 4)]);
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(
        integration_tests::elastic::counting_topology(&input, &output),
        config(&app, dir.path()).processing_guarantee(ProcessingGuarantee::ExactlyOnce),
    );
    integration_tests::elastic::add_and_remove_threads(
        &streams,
        servers(),
        &app,
        &input,
        &output,
        true,
    );
}

/// The lowest offset the broker still holds in each partition of `topic`.
fn low_watermarks(topic: &str) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers())
        .create()
        .expect("a consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .expect("watermarks")
                .0
        })
        .collect()
}

/// Records of a repartition topic below the committed offsets are deleted after commits
/// (`repartition.purge.interval.ms`): the topic's low watermarks rise while the counts stay
/// right; with purging held off for an hour they stay at 0.
#[test]
fn repartition_topics_are_purged_below_the_committed_offsets() {
    init_tracing();
    let broker = Broker::shared();
    for (name, interval, purged) in [
        ("purged", Duration::from_millis(100), true),
        ("kept", Duration::from_secs(3600), false),
    ] {
        let app = broker.name(name);
        let (lines_topic, counts) = (
            broker.name(&format!("{name}-lines")),
            broker.name(&format!("{name}-counts")),
        );
        create_topics(servers(), &[(&lines_topic, 2), (&counts, 2)]);
        let dir = tempfile::tempdir().unwrap();
        let streams = KafkaStreams::new(
            word_count(&lines_topic, &counts, false),
            config(&app, dir.path()).repartition_purge_interval(interval),
        );
        streams.start().expect("the application starts");
        let input = lines(300, 0);
        send_lines(&lines_topic, &input);
        let expected = expected_counts(&input);
        assert_eq!(counts_reach(&counts, &expected), expected);
        let repartition = format!("{app}-words-repartition");
        let deadline = std::time::Instant::now() + WAIT;
        let mut lows = low_watermarks(&repartition);
        while purged && lows.contains(&0) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            lows = low_watermarks(&repartition);
        }
        assert!(streams.close(WAIT));
        match purged {
            true => assert!(lows.iter().all(|&low| low > 0), "{name}: {lows:?}"),
            false => assert!(lows.iter().all(|&low| low == 0), "{name}: {lows:?}"),
        }
    }
}
