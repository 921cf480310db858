//! The runtime's metrics on the mock cluster: the typed snapshot of `KafkaStreams::metrics()`
//! (threads, tasks with their lag, stores), and the same values scraped over HTTP from the
//! Prometheus endpoint and parsed. Alone in its test binary: the exporter is the process's
//! one metrics recorder.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use integration_tests::init_tracing;
use integration_tests::kafka::{latest_counts, produce, read_until};
use streams_core::runtime::metrics::names;
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(60);

/// One sample of the exposition: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// Parses Prometheus' text format (the lines that are samples).
fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => (name, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split(',')
                .filter_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    Some((k.to_owned(), v.trim_matches('"').to_owned()))
                })
                .collect();
            Some(Sample {
                name: name.to_owned(),
                labels,
                value,
            })
        })
        .collect()
}

/// `GET /metrics` over HTTP/1.1.
fn scrape(address: SocketAddr) -> String {
    let mut stream = TcpStream::connect(address).expect("the endpoint accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET /metrics HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    body.to_owned()
}

fn free_address() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

fn sum(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| label.is_none_or(|(k, v)| s.labels.get(k).map(String::as_str) == Some(v)))
        .map(|s| s.value)
        .sum()
}

#[test]
fn the_snapshot_and_the_prometheus_endpoint_show_threads_tasks_and_stores() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    kafka.create_topic("words", 2).unwrap();
    kafka.create_topic("word-counts", 2).unwrap();
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("words")
        .group_by_key()
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to("word-counts");
    let dir = tempfile::tempdir().unwrap();
    let address = free_address();
    let config = StreamsConfig::new("metrics-app")
        .bootstrap_servers(kafka.bootstrap_servers())
        .state_dir(dir.path())
        .commit_interval(Duration::from_millis(100))
        .consumer_property("session.timeout.ms", "6000")
        .metrics_recording_level(MetricsRecordingLevel::Debug)
        .metrics_endpoint(address);
    let streams =
        KafkaStreams::new(builder.build().unwrap(), config).with_topic_creator(kafka.clone());
    streams.start().unwrap();
    let keys: Vec<String> = (0..300).map(|i| format!("k{}", i % 10)).collect();
    let records: Vec<(Option<&[u8]>, &[u8])> = keys
        .iter()
        .map(|k| (Some(k.as_bytes()), &b"x"[..]))
        .collect();
    produce(kafka.bootstrap_servers(), "words", &records);
    read_until(kafka.bootstrap_servers(), "word-counts", false, WAIT, |r| {
        let latest = latest_counts(r);
        latest.len() == 10 && latest.values().all(|&n| n == 30)
    });

    // The snapshot: every record processed, and the lag of both partitions down to 0.
    let deadline = Instant::now() + WAIT;
    let metrics = loop {
        let metrics = streams.metrics();
        let processed: u64 = metrics.tasks.iter().map(|t| t.counters.processed).sum();
        let lags: Vec<i64> = metrics
            .tasks
            .iter()
            .flat_map(|t| t.lag.iter().map(|l| l.lag))
            .collect();
        if processed == 300 && lags.len() == 2 && lags.iter().all(|&l| l == 0) {
            break metrics;
        }
        assert!(Instant::now() < deadline, "{metrics:#?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(metrics.threads.len(), 1);
    let thread = &metrics.threads[0];
    assert!(thread.thread_id.starts_with("metrics-app-"), "{thread:?}");
    assert_eq!(thread.processed, 300);
    assert!(
        thread.polls > 0 && thread.polled_records >= 300,
        "{thread:?}"
    );
    assert!(thread.commits > 0, "{thread:?}");
    let stores: Vec<_> = metrics
        .stores
        .iter()
        .filter(|s| s.store == "counts")
        .collect();
    assert_eq!(stores.len(), 2);
    // Each key's first read misses the cache; the other 29 hit it.
    let hits: u64 = stores.iter().map(|s| s.metrics.cache_hits).sum();
    let misses: u64 = stores.iter().map(|s| s.metrics.cache_misses).sum();
    assert_eq!((hits, misses), (290, 10));
    assert!(stores.iter().all(|s| s.metrics.flushes > 0));
    assert!(stores
        .iter()
        .all(|s| s.metrics.engine.memtable_bytes.is_some()));
    // At the debug level the engine's operations are timed: each of the 10 keys was read
    // from it once (its cache miss) and written at least once (at a commit).
    let operations: Vec<_> = stores
        .iter()
        .map(|s| {
            s.metrics
                .engine
                .operations
                .expect("timed at the debug level")
        })
        .collect();
    assert!(operations.iter().map(|o| o.get.count).sum::<u64>() >= 10);
    assert!(operations.iter().map(|o| o.put.count).sum::<u64>() >= 10);

    // The endpoint serves the same values.
    let deadline = Instant::now() + WAIT;
    let samples = loop {
        let samples = parse(&scrape(address));
        if sum(&samples, names::TASK_PROCESS_TOTAL, None) == 300.0
            && sum(&samples, names::PUT_TOTAL, None) >= 10.0
        {
            break samples;
        }
        assert!(Instant::now() < deadline, "{samples:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    for task in ["0_0", "0_1"] {
        let processed = metrics
            .tasks
            .iter()
            .find(|t| t.task_id.to_string() == task)
            .map_or(0, |t| t.counters.processed);
        assert_eq!(
            sum(&samples, names::TASK_PROCESS_TOTAL, Some(("task_id", task))),
            processed as f64
        );
        let lag: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.name == names::RECORDS_LAG && s.labels["task_id"] == task)
            .collect();
        assert_eq!(lag.len(), 1, "{lag:?}");
        assert_eq!(lag[0].labels["topic"], "words");
        assert_eq!(lag[0].value, 0.0);
    }
    assert_eq!(sum(&samples, names::THREAD_PROCESS_TOTAL, None), 300.0);
    assert!(sum(&samples, names::COMMIT_TOTAL, None) >= 1.0);
    assert!(sum(&samples, names::POLL_TOTAL, None) >= 1.0);
    let ratios: Vec<f64> = samples
        .iter()
        .filter(|s| s.name == names::CACHE_HIT_RATIO && s.labels["store"] == "counts")
        .map(|s| s.value)
        .collect();
    assert_eq!(ratios.len(), 2);
    assert!(ratios.iter().all(|r| (0.5..1.0).contains(r)), "{ratios:?}");
    assert!(samples
        .iter()
        .any(|s| s.name == names::MEMTABLE_BYTES && s.labels["store"] == "counts"));
    assert_eq!(sum(&samples, names::DROPPED_RECORDS, None), 0.0);
    // Every record reached the count's node, in one of the two tasks.
    let aggregated: f64 = samples
        .iter()
        .filter(|s| {
            s.name == names::NODE_PROCESS_TOTAL
                && s.labels["processor_node_id"].contains("AGGREGATE")
        })
        .map(|s| s.value)
        .sum();
    assert_eq!(aggregated, 300.0);
    assert!(streams.close(WAIT));
}
