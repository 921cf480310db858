//! The error handlers in the Kafka runtime, on the mock cluster: a record that keeps failing
//! under `ReplaceThread` (the default handler fails the thread once per attempt and the
//! replacements back off), a panicking record skipped or dead-lettered while every other
//! record comes out, and a record too large for the producer handed to the production
//! handler.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use integration_tests::init_tracing;
use integration_tests::kafka::{produce, read_until};
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(120);

fn config(app: &str, kafka: &EmbeddedKafka, dir: &std::path::Path) -> StreamsConfig {
    StreamsConfig::new(app)
        .bootstrap_servers(kafka.bootstrap_servers())
        .state_dir(dir)
        .commit_interval(Duration::from_millis(100))
        .consumer_property("session.timeout.ms", "6000")
}

/// Upper-cases values; panics on "boom".
fn shouting(input: &str, output: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(input)
        .map_values(|v| {
            if v == "boom" {
                panic!("cannot shout boom");
            }
            v.to_uppercase()
        })
        .named("shout")
        .to(output);
    builder.build().expect("the topology builds")
}

fn start(topology: Topology, config: StreamsConfig, kafka: &Arc<EmbeddedKafka>) -> KafkaStreams {
    let streams = KafkaStreams::new(topology, config).with_topic_creator(kafka.clone());
    streams.start().expect("starts");
    streams
}

fn values(n: usize, bad: &[usize]) -> Vec<String> {
    (0..n)
        .map(|i| match bad.contains(&i) {
            true => "boom".to_owned(),
            false => format!("v{i}"),
        })
        .collect()
}

fn send(kafka: &EmbeddedKafka, topic: &str, values: &[String]) {
    let records: Vec<(Option<&[u8]>, &[u8])> = values
        .iter()
        .map(|v| (Some(v.as_bytes()), v.as_bytes()))
        .collect();
    produce(kafka.bootstrap_servers(), topic, &records);
}

#[test]
fn a_record_that_keeps_failing_under_replace_thread_backs_off() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("words", 1).unwrap();
    kafka.create_topic("shouted", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let streams = KafkaStreams::new(
        shouting("words", "shouted"),
        config("backoff", &kafka, dir.path()),
    )
    .with_topic_creator(kafka.clone());
    let calls: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
    let seen = Arc::clone(&calls);
    streams.on_uncaught_error(move |error| {
        seen.lock()
            .unwrap()
            .push((Instant::now(), error.to_string()));
        ErrorResponse::ReplaceThread
    });
    streams.start().expect("starts");
    send(&kafka, "words", &values(3, &[1]));
    let deadline = Instant::now() + WAIT;
    while calls.lock().unwrap().len() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(streams.close(WAIT));
    let calls = calls.lock().unwrap().clone();
    assert!(calls.len() >= 3, "{calls:?}");
    // Each attempt fails once, on the same record, and the next starts only after a pause
    // that doubles: 0.5 s, then 1 s.
    for (_, error) in &calls {
        assert!(error.contains("words-0@1"), "{error}");
        assert!(error.contains("cannot shout boom"), "{error}");
    }
    assert!(
        calls[1].0 - calls[0].0 >= Duration::from_millis(500),
        "{calls:?}"
    );
    assert!(
        calls[2].0 - calls[1].0 >= Duration::from_secs(1),
        "{calls:?}"
    );
    // The record after the failing one never came out: nothing was skipped.
    assert_eq!(streams.metrics().skipped, 0);
}

#[test]
fn continue_skips_panicking_records_and_every_other_record_comes_out() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("words", 2).unwrap();
    kafka.create_topic("shouted", 2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let streams = start(
        shouting("words", "shouted"),
        config("skip-panics", &kafka, dir.path()).processing_exception_handler(LogAndContinue),
        &kafka,
    );
    let input = values(40, &[3, 17, 30]);
    send(&kafka, "words", &input);
    let out = read_until(kafka.bootstrap_servers(), "shouted", false, WAIT, |r| {
        r.len() >= 37
    });
    let mut got: Vec<String> = out
        .iter()
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .collect();
    got.sort();
    let mut expected: Vec<String> = input
        .iter()
        .filter(|v| *v != "boom")
        .map(|v| v.to_uppercase())
        .collect();
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(streams.state(), State::Running);
    let metrics = streams.metrics();
    assert_eq!((metrics.skipped, metrics.replaced_threads), (3, 0));
    assert!(streams.close(WAIT));
}

#[test]
fn a_dead_lettered_processing_failure_reaches_its_topic_unchanged() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    for topic in ["words", "shouted", "words-dlq"] {
        kafka.create_topic(topic, 1).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let streams = start(
        shouting("words", "shouted"),
        config("dlq-processing", &kafka, dir.path())
            .processing_exception_handler(DeadLetterQueue::new("words-dlq")),
        &kafka,
    );
    send(&kafka, "words", &values(5, &[2]));
    let out = read_until(kafka.bootstrap_servers(), "shouted", false, WAIT, |r| {
        r.len() >= 4
    });
    assert_eq!(out.len(), 4);
    let dead = read_until(kafka.bootstrap_servers(), "words-dlq", false, WAIT, |r| {
        !r.is_empty()
    });
    assert_eq!(dead, vec![(b"boom".to_vec(), b"boom".to_vec())]);
    assert_eq!(streams.metrics().dead_lettered, 1);
    assert!(streams.close(WAIT));
}

/// Values of `n` bytes.
fn padded(n: usize) -> String {
    "x".repeat(n)
}

fn too_large_run(app: &str, handler: Option<LogAndContinue>) -> (KafkaStreams, Arc<EmbeddedKafka>) {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("words", 1).unwrap();
    kafka.create_topic("shouted", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The producer's limit: a larger record is refused when it is sent.
    let mut config = config(app, &kafka, dir.path()).producer_property("message.max.bytes", "2000");
    if let Some(handler) = handler {
        config = config.production_exception_handler(handler);
    }
    let streams = start(shouting("words", "shouted"), config, &kafka);
    send(
        &kafka,
        "words",
        &["small".to_owned(), padded(5_000), "tiny".to_owned()],
    );
    (streams, kafka)
}

fn shouted(kafka: &EmbeddedKafka, timeout: Duration, n: usize) -> Vec<String> {
    read_until(kafka.bootstrap_servers(), "shouted", false, timeout, |r| {
        r.len() >= n
    })
    .iter()
    .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    .collect()
}

#[test]
fn a_record_too_large_to_send_is_skipped_under_continue() {
    let (streams, kafka) = too_large_run("too-large-continue", Some(LogAndContinue));
    let out = shouted(&kafka, WAIT, 2);
    assert_eq!(out, vec!["SMALL".to_owned(), "TINY".to_owned()]);
    let metrics = streams.metrics();
    assert_eq!(metrics.skipped_sends, 1, "{metrics:?}");
    assert_eq!(streams.state(), State::Running);
    assert!(streams.close(WAIT));
}

#[test]
fn a_record_too_large_to_send_fails_by_default() {
    let (streams, kafka) = too_large_run("too-large-fail", None);
    assert!(
        streams.wait_for(State::Error, WAIT),
        "{:?}",
        streams.state()
    );
    assert!(streams.close(WAIT));
    let out = shouted(&kafka, Duration::from_secs(3), 2);
    assert!(!out.contains(&"TINY".to_owned()), "{out:?}");
    let errors = streams.thread_errors();
    assert!(errors.iter().any(|e| e.contains("too large")), "{errors:?}");
    assert_eq!(streams.metrics().skipped_sends, 0);
}
