//! Failures inside the Kafka runtime, on the mock cluster: a record collector that fails
//! mid-stream under exactly-once (abort, rewind to the last commit, go on) and under
//! at-least-once (the error policy replaces the thread), and processing errors.
//!
//! The mock cluster's `read_committed` consumers also see aborted records, so these tests
//! check what the runtime itself guarantees: after a rewind, the state (and so the last value
//! written for every key) equals the truth.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use integration_tests::init_tracing;
use integration_tests::kafka::{latest_counts, produce, read_until};
use streams_core::runtime::{RuntimeMetrics, SendInterceptor};
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(60);

/// Where the injected failures fall.
#[derive(Clone, Copy)]
enum Failures {
    /// At these send numbers (counting from 1): inside transactions, after some of their
    /// records reached the broker.
    MidTransaction([usize; 3]),
    /// At the first send of these transactions (counting those that send, from 1): the
    /// transaction fails before any of its records reaches the broker.
    FirstSendOfTransaction([usize; 3]),
}

struct FailAt {
    sent: AtomicUsize,
    commits: AtomicUsize,
    /// The commit count at the last send, to spot the first send after a commit.
    last_commit_seen: AtomicUsize,
    /// Transactions that sent records.
    transactions: AtomicUsize,
    failures: Failures,
}

impl SendInterceptor for FailAt {
    fn on_send(&self, topic: &str, _: Option<i32>) -> Result<(), String> {
        let n = self.sent.fetch_add(1, Ordering::SeqCst) + 1;
        let commits = self.commits.load(Ordering::SeqCst);
        let first_after_commit = self.last_commit_seen.swap(commits, Ordering::SeqCst) != commits;
        let transaction = match first_after_commit || n == 1 {
            true => self.transactions.fetch_add(1, Ordering::SeqCst) + 1,
            false => 0,
        };
        let fail = match self.failures {
            Failures::MidTransaction(at) => at.contains(&n),
            Failures::FirstSendOfTransaction(at) => at.contains(&transaction),
        };
        if fail {
            return Err(format!("injected failure at send {n} (to {topic})"));
        }
        Ok(())
    }

    fn on_commit(&self) {
        self.commits.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting(input: &str, output: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(input)
        .group_by_key()
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to(output);
    builder.build().unwrap()
}

fn keys(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("key-{}", i % 13)).collect()
}

fn truth(keys: &[String]) -> HashMap<String, i64> {
    let mut counts = HashMap::new();
    for k in keys {
        *counts.entry(k.clone()).or_insert(0) += 1;
    }
    counts
}

fn run_with_failures(
    app: &str,
    guarantee: ProcessingGuarantee,
    failures: Failures,
) -> (HashMap<String, i64>, HashMap<String, i64>, RuntimeMetrics) {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(3).unwrap());
    kafka.create_topic("events", 3).unwrap();
    kafka.create_topic("counts", 3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = StreamsConfig::new(app)
        .bootstrap_servers(kafka.bootstrap_servers())
        .state_dir(dir.path())
        .processing_guarantee(guarantee)
        // Every update is sent (no cache collapsing them), so sends are many and failures
        // land inside and between commits.
        .cache_max_bytes(0)
        .commit_interval(Duration::from_millis(100))
        .consumer_property("session.timeout.ms", "6000");
    let streams = KafkaStreams::new(counting("events", "counts"), config)
        .with_topic_creator(kafka.clone())
        .with_send_interceptor(Arc::new(FailAt {
            sent: AtomicUsize::new(0),
            commits: AtomicUsize::new(0),
            last_commit_seen: AtomicUsize::new(0),
            transactions: AtomicUsize::new(0),
            failures,
        }));
    streams.on_uncaught_error(|_| ErrorResponse::ReplaceThread);
    streams.start().unwrap();
    assert!(streams.wait_for(State::Running, WAIT));
    let input = keys(3_000);
    let expected = truth(&input);
    // Three batches, so that failures fall between and inside commits.
    for batch in input.chunks(500) {
        let records: Vec<(Option<&[u8]>, &[u8])> = batch
            .iter()
            .map(|k| (Some(k.as_bytes()), &b"x"[..]))
            .collect();
        produce(kafka.bootstrap_servers(), "events", &records);
        std::thread::sleep(Duration::from_millis(300));
    }
    let records = read_until(kafka.bootstrap_servers(), "counts", true, WAIT, |r| {
        let latest = latest_counts(r);
        expected
            .iter()
            .all(|(k, n)| latest.get(k).is_some_and(|m| m >= n))
    });
    // Let anything still in flight arrive, then read the final table.
    assert!(streams.close(WAIT));
    let metrics = streams.metrics();
    let all = read_until(
        kafka.bootstrap_servers(),
        "counts",
        true,
        Duration::from_secs(3),
        |r| r.len() > records.len() + 100_000,
    );
    (latest_counts(&all), expected, metrics)
}

#[test]
fn exactly_once_rewinds_to_the_last_commit_after_a_producer_failure() {
    let (counts, expected, metrics) = run_with_failures(
        "eos-faults",
        ProcessingGuarantee::ExactlyOnce,
        Failures::FirstSendOfTransaction([2, 3, 5]),
    );
    assert!(metrics.rewinds >= 3, "{metrics:?}");
    assert_eq!(metrics.replaced_threads, 0, "{metrics:?}");
    assert!(
        metrics.restored > 0,
        "the rewinds restored nothing: {metrics:?}"
    );
    // Every key's final count is exact: the aborted work was redone from committed state
    // (the changelog up to the last commit, and the input from the committed offsets).
    assert_eq!(counts, expected);
}

#[test]
fn exactly_once_recovers_from_failures_inside_transactions() {
    let (counts, expected, metrics) = run_with_failures(
        "eos-mid-faults",
        ProcessingGuarantee::ExactlyOnce,
        Failures::MidTransaction([500, 1_500, 2_600]),
    );
    assert!(metrics.rewinds >= 3, "{metrics:?}");
    assert_eq!(metrics.replaced_threads, 0, "{metrics:?}");
    // The mock cluster shows aborted records to read_committed consumers, restoration
    // included, so only "nothing lost" can be checked here; a broker with transaction
    // isolation makes these counts exact, as the test above shows for the runtime's part.
    for (key, n) in &expected {
        assert!(counts.get(key).is_some_and(|m| m >= n), "{key}: {counts:?}");
    }
}

#[test]
fn at_least_once_replaces_the_thread_and_never_undercounts() {
    let (counts, expected, metrics) = run_with_failures(
        "alos-faults",
        ProcessingGuarantee::AtLeastOnce,
        Failures::MidTransaction([500, 1_500, 2_600]),
    );
    assert!(metrics.replaced_threads >= 3, "{metrics:?}");
    for (key, n) in &expected {
        assert!(counts.get(key).is_some_and(|m| m >= n), "{key}: {counts:?}");
    }
}

#[test]
fn a_processing_error_goes_to_the_error_policy() {
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("numbers", 1).unwrap();
    kafka.create_topic("halves", 1).unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("numbers")
        .map_values(|v| {
            let n: i64 = v.parse().expect("a number");
            (n / 2).to_string()
        })
        .to("halves");
    let dir = tempfile::tempdir().unwrap();
    let config = StreamsConfig::new("policy")
        .bootstrap_servers(kafka.bootstrap_servers())
        .state_dir(dir.path())
        .consumer_property("session.timeout.ms", "6000");
    let streams =
        KafkaStreams::new(builder.build().unwrap(), config).with_topic_creator(kafka.clone());
    streams.start().unwrap();
    produce(
        kafka.bootstrap_servers(),
        "numbers",
        &[(Some(b"a"), b"4"), (Some(b"b"), b"not a number")],
    );
    // The default policy stops the instance, with the error naming the record.
    assert!(
        streams.wait_for(State::Error, WAIT),
        "{:?}",
        streams.state()
    );
    assert!(streams.close(WAIT));
    assert_eq!(streams.state(), State::Error);
    let errors = streams.thread_errors();
    assert!(
        errors.iter().any(|e| e.contains("numbers-0@1")),
        "{errors:?}"
    );
}

#[test]
fn shutdown_application_stops_every_instance() {
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("jobs", 2).unwrap();
    kafka.create_topic("done", 2).unwrap();
    let instance = |dir: &std::path::Path| {
        let builder = StreamsBuilder::new();
        builder
            .stream::<String, String>("jobs")
            .map_values(|job| {
                assert_ne!(job, "poison", "a poisoned job");
                job
            })
            .to("done");
        let config = StreamsConfig::new("shutdown-all")
            .bootstrap_servers(kafka.bootstrap_servers())
            .state_dir(dir)
            .consumer_property("session.timeout.ms", "6000");
        let streams =
            KafkaStreams::new(builder.build().unwrap(), config).with_topic_creator(kafka.clone());
        streams.on_uncaught_error(|_| ErrorResponse::ShutdownApplication);
        streams.start().unwrap();
        streams
    };
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (instance(d1.path()), instance(d2.path()));
    assert!(a.wait_for(State::Running, WAIT) && b.wait_for(State::Running, WAIT));
    produce(
        kafka.bootstrap_servers(),
        "jobs",
        &[(Some(b"j1"), b"poison")],
    );
    // Whichever instance hits the poisoned job, both stop.
    assert!(a.wait_for(State::Error, WAIT), "a: {:?}", a.state());
    assert!(b.wait_for(State::Error, WAIT), "b: {:?}", b.state());
    let errors = [a.thread_errors(), b.thread_errors()].concat();
    assert!(
        errors.iter().any(|e| e.contains("a poisoned job")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("application shutdown requested")),
        "{errors:?}"
    );
    assert!(a.close(WAIT) && b.close(WAIT));
}

/// A zombie's fate, injected: the broker answers the thread's `EndTxn` with
/// `PRODUCER_FENCED`, as it would once another producer took over the transactional id. The
/// fenced producer cannot even abort; the thread replaces it, rebuilds its tasks from the last
/// commit and goes on, without the error policy being asked.
#[test]
fn a_fenced_producer_is_replaced_and_its_tasks_rebuilt() {
    use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("fenced-in", 1).unwrap();
    kafka.create_topic("fenced-out", 1).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = StreamsConfig::new("fenced")
        .bootstrap_servers(kafka.bootstrap_servers())
        .state_dir(dir.path())
        .processing_guarantee(ProcessingGuarantee::ExactlyOnce)
        .consumer_property("session.timeout.ms", "6000");
    let streams = KafkaStreams::new(counting("fenced-in", "fenced-out"), config)
        .with_topic_creator(kafka.clone());
    streams.start().unwrap();
    assert!(streams.wait_for(State::Running, WAIT));
    let input = keys(1_000);
    let send = |batch: &[String]| {
        let records: Vec<(Option<&[u8]>, &[u8])> = batch
            .iter()
            .map(|k| (Some(k.as_bytes()), &b"x"[..]))
            .collect();
        produce(kafka.bootstrap_servers(), "fenced-in", &records);
    };
    let reach = |expected: &HashMap<String, i64>| {
        let records = read_until(kafka.bootstrap_servers(), "fenced-out", true, WAIT, |r| {
            let latest = latest_counts(r);
            expected
                .iter()
                .all(|(k, n)| latest.get(k).is_some_and(|m| m >= n))
        });
        latest_counts(&records)
    };
    send(&input[..500]);
    reach(&truth(&input[..500]));
    assert_eq!(streams.metrics().rewinds, 0);

    kafka
        .inject_request_errors(
            RDKafkaApiKey::EndTxn,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED],
        )
        .unwrap();
    send(&input[500..]);
    // The mock cluster shows the doomed transaction's records at once: wait for the rewind
    // itself, then for the output it redoes.
    let deadline = std::time::Instant::now() + WAIT;
    while streams.metrics().rewinds == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let expected = truth(&input);
    let counts = reach(&expected);
    for (key, n) in &expected {
        assert!(counts.get(key).is_some_and(|m| m >= n), "{key}: {counts:?}");
    }
    let metrics = streams.metrics();
    assert!(
        metrics.rewinds >= 1,
        "{metrics:?} {:?}",
        streams.thread_errors()
    );
    assert_eq!(metrics.replaced_threads, 0, "{metrics:?}");
    assert!(
        streams.thread_errors().is_empty(),
        "{:?}",
        streams.thread_errors()
    );
    assert_eq!(streams.state(), State::Running);
    assert!(streams.close(WAIT));
}
