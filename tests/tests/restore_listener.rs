//! The state restore listener on the mock cluster: an in-memory store restores its whole
//! changelog on restart, and the listener hears the start (with the changelog's offsets),
//! every batch and the end, which the changelog itself confirms.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration_tests::init_tracing;
use integration_tests::kafka::{produce, read_to_end, read_until};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;
use streams_core::runtime::StateRestoreListener;
use streams_core::TopicPartition;
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(60);

/// What the listener heard.
#[derive(Clone, Debug, PartialEq)]
enum Heard {
    Start(String, i32, String, i64, i64),
    Batch(String, i64, u64),
    End(String, u64),
}

#[derive(Default)]
struct Recording(Mutex<Vec<Heard>>);

impl StateRestoreListener for Recording {
    fn on_restore_start(&self, c: &TopicPartition, store: &str, start: i64, end: i64) {
        self.0.lock().unwrap().push(Heard::Start(
            c.topic.clone(),
            c.partition,
            store.to_owned(),
            start,
            end,
        ));
    }

    fn on_batch_restored(&self, _: &TopicPartition, store: &str, end: i64, restored: u64) {
        self.0
            .lock()
            .unwrap()
            .push(Heard::Batch(store.to_owned(), end, restored));
    }

    fn on_restore_end(&self, _: &TopicPartition, store: &str, total: u64) {
        self.0
            .lock()
            .unwrap()
            .push(Heard::End(store.to_owned(), total));
    }
}

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("clicks")
        .group_by_key()
        .count_with(Materialized::named("counts").in_memory())
        .to_stream()
        .to("click-counts");
    builder.build().unwrap()
}

#[test]
fn the_listener_hears_start_batches_and_end_with_the_changelog_s_offsets() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("clicks", 1).unwrap();
    kafka.create_topic("click-counts", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        StreamsConfig::new("restoring")
            .bootstrap_servers(kafka.bootstrap_servers())
            .state_dir(dir.path())
            .commit_interval(Duration::from_millis(100))
            // Every update reaches the changelog.
            .cache_max_bytes(0)
            .consumer_property("session.timeout.ms", "6000")
    };
    let n = 25_000;
    let keys: Vec<String> = (0..n).map(|i| format!("user-{}", i % 7)).collect();
    let records: Vec<(Option<&[u8]>, &[u8])> = keys
        .iter()
        .map(|k| (Some(k.as_bytes()), &b"click"[..]))
        .collect();
    produce(kafka.bootstrap_servers(), "clicks", &records);
    let streams = KafkaStreams::new(topology(), config()).with_topic_creator(kafka.clone());
    streams.start().unwrap();
    read_until(
        kafka.bootstrap_servers(),
        "click-counts",
        false,
        WAIT,
        |r| r.len() >= n,
    );
    assert!(streams.close(WAIT));
    drop(streams);

    let changelog = "restoring-counts-changelog";
    let in_changelog = read_to_end(kafka.bootstrap_servers(), changelog, false, WAIT).len();
    assert_eq!(in_changelog, n);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .create()
        .unwrap();
    let (low, high) = consumer
        .fetch_watermarks(changelog, 0, Duration::from_secs(10))
        .unwrap();

    let listener = Arc::new(Recording::default());
    let streams = KafkaStreams::new(topology(), config())
        .with_topic_creator(kafka.clone())
        .with_restore_listener(listener.clone());
    streams.start().unwrap();
    let deadline = Instant::now() + WAIT;
    while !matches!(listener.0.lock().unwrap().last(), Some(Heard::End(..))) {
        assert!(
            Instant::now() < deadline,
            "{:?}",
            listener.0.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(streams.wait_for(State::Running, WAIT));
    assert!(streams.close(WAIT));
    let heard = listener.0.lock().unwrap().clone();
    assert_eq!(
        heard[0],
        Heard::Start(changelog.to_owned(), 0, "counts".to_owned(), low, high)
    );
    let batches: Vec<(i64, u64)> = heard
        .iter()
        .filter_map(|h| match h {
            Heard::Batch(store, end, n) if store == "counts" => Some((*end, *n)),
            _ => None,
        })
        .collect();
    // 25,000 records come in batches of at most 10,000, each ending further on.
    assert!(batches.len() >= 3, "{batches:?}");
    assert!(
        batches.iter().all(|&(_, n)| n > 0 && n <= 10_000),
        "{batches:?}"
    );
    assert!(batches.windows(2).all(|w| w[0].0 < w[1].0), "{batches:?}");
    assert_eq!(batches.last().map(|b| b.0), Some(high - 1));
    let total: u64 = batches.iter().map(|b| b.1).sum();
    assert_eq!(total, in_changelog as u64);
    assert_eq!(
        heard.last(),
        Some(&Heard::End("counts".to_owned(), in_changelog as u64))
    );
    assert_eq!(heard.len(), batches.len() + 2);
}

#[test]
fn clean_up_deletes_local_state_so_the_next_start_restores_it_all() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("visits", 1).unwrap();
    kafka.create_topic("visit-counts", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let topology = || {
        let builder = StreamsBuilder::new();
        builder
            .stream::<String, String>("visits")
            .group_by_key()
            .count_with(Materialized::named("visit-store"))
            .to_stream()
            .to("visit-counts");
        builder.build().unwrap()
    };
    let config = || {
        StreamsConfig::new("cleaning")
            .bootstrap_servers(kafka.bootstrap_servers())
            .state_dir(dir.path())
            .commit_interval(Duration::from_millis(100))
            .cache_max_bytes(0)
            .consumer_property("session.timeout.ms", "6000")
    };
    let records: Vec<(Option<&[u8]>, &[u8])> = (0..40)
        .map(|i| {
            (
                Some(if i % 2 == 0 { &b"a"[..] } else { &b"b"[..] }),
                &b"v"[..],
            )
        })
        .collect();
    produce(kafka.bootstrap_servers(), "visits", &records);
    let streams = KafkaStreams::new(topology(), config()).with_topic_creator(kafka.clone());
    streams.start().unwrap();
    read_until(
        kafka.bootstrap_servers(),
        "visit-counts",
        false,
        WAIT,
        |r| r.len() >= 40,
    );
    assert!(matches!(
        streams.clean_up(),
        Err(RuntimeError::IllegalState {
            operation: "clean_up",
            ..
        })
    ));
    assert!(streams.close(WAIT));
    let local = dir.path().join("cleaning");
    assert!(local.join("0_0").exists());
    streams.clean_up().unwrap();
    assert!(!local.exists());

    // RocksDB kept nothing: the whole changelog comes back.
    let listener = Arc::new(Recording::default());
    let streams = KafkaStreams::new(topology(), config())
        .with_topic_creator(kafka.clone())
        .with_restore_listener(listener.clone());
    streams.start().unwrap();
    assert!(streams.wait_for(State::Running, WAIT));
    assert!(streams.close(WAIT));
    let heard = listener.0.lock().unwrap().clone();
    assert_eq!(
        heard.last(),
        Some(&Heard::End("visit-store".to_owned(), 40)),
        "{heard:?}"
    );
    assert_eq!(streams.metrics().restored, 40);
}
