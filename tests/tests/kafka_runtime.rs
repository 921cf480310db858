//! The Kafka runtime against librdkafka's mock cluster (in process): word count and a
//! windowed count end to end, several instances sharing partitions, restoration, start-up
//! checks and internal topics.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use integration_tests::kafka::{latest_counts, produce, read_until};
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(60);

fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

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
        .map(|i| format!("{} {}", words[i % words.len()], words[(i * 7 + 3) % words.len()]))
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
    let records: Vec<(Option<&[u8]>, &[u8])> =
        lines.iter().map(|l| (None, l.as_bytes())).collect();
    produce(kafka.bootstrap_servers(), topic, &records);
}

fn config(app: &str, kafka: &EmbeddedKafka, dir: &std::path::Path) -> StreamsConfig {
    StreamsConfig::new(app)
        .bootstrap_servers(kafka.bootstrap_servers())
        .state_dir(dir)
        .commit_interval(Duration::from_millis(200))
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
        expected.iter().all(|(w, n)| latest.get(w).is_some_and(|m| m >= n))
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
    let streams = start(
        word_count("lines", "counts"),
        config("wc-e2e", &kafka, dir.path()),
        &kafka,
    );
    let input = lines(&["apple", "banana", "cherry", "date", "elder"], 200);
    send_lines(&kafka, "lines", &input);
    let expected = expected_counts(&input);
    let counts = counts_reach(&kafka, "counts", &expected);
    assert_eq!(counts, expected);
    assert!(streams.wait_for(State::Running, WAIT));
    assert!(streams.close(WAIT));
    assert_eq!(streams.state(), State::NotRunning);
    assert!(streams.metrics().processed >= 400 + 200);
}
