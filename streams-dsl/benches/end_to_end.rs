//! End to end through a broker: WORKLOADS.md's W1 (stateless filter + map), W2 (keyed
//! running count, one update per record) and W3 (1 s tumbling window count, behind a
//! repartition topic) run by `KafkaStreams` against the embedded cluster (librdkafka's mock,
//! in process) and against Apache Kafka (a separate process that `scripts/kafka.sh` installs
//! and starts), at-least-once and exactly-once.
//!
//! Each variant runs in its own process: it writes N records to the input topic (one
//! partition; two for W3), starts the application, and measures throughput from the moment
//! the instance is running until a reader has seen every expected output row (group join
//! excluded): a backlog run. Then (W1, W2) it writes M more records at a steady rate, stamped
//! with the wall clock, and measures the latency from that stamp to the reader receiving the
//! output (p50, p99). The reader checks the output: rows and sum for W1, rows, keys and the
//! final table's sum for W2; for W3 every record is either a window update or on the
//! late-records topic, and the share of late ones is reported (W3 regroups by key, so both
//! upstream tasks write to the repartition topic the windowed tasks read: a backlog makes
//! records late there when one upstream task runs ahead of the other; 1 s of grace).
//!
//! Run: `cargo bench -p streams-dsl --bench end_to_end [-- --n 80000 --m 10000 --rate 5000]`
//! (`--broker embedded` or `--broker kafka` for one broker only, `--workload W3` for one
//! workload). With `--metrics-compare R` it runs W1 and W2 at-least-once on the embedded
//! cluster R times each with metrics off (no recorder) and on (the Prometheus endpoint
//! installed), alternating, and prints the medians. The defaults keep every partition under
//! 100,000 records: the mock cluster keeps no more than that (or 5 MB) per partition and drops
//! the oldest, which a consumer behind it would see as lost input.

mod common;

use common::{event_time, peak_rss_mb, workload_key, workload_value, WorkloadValue};

use std::collections::HashMap;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use streams_core::runtime::{AdminTopicCreator, InternalTopic, TopicCreator};
use streams_dsl::prelude::*;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What the reader has seen of the output topic (and of W3's late-records topic).
#[derive(Default)]
struct Seen {
    rows: u64,
    late: u64,
    sum: i128,
    table: HashMap<Vec<u8>, i64>,
    latencies: Vec<i64>,
}

fn produce(producer: &ThreadedProducer<DefaultProducerContext>, topic: &str, i: u64, ts: i64) {
    let key = workload_key(i, 10_000);
    let mut value = workload_value(i);
    value[8..].copy_from_slice(&ts.to_be_bytes());
    let mut record = BaseRecord::<[u8], [u8]>::to(topic)
        .key(key.as_bytes())
        .payload(&value);
    while let Err((_, back)) = producer.send(record) {
        record = back;
        producer.poll(Duration::from_millis(1));
    }
}

fn topology(workload: &str, input: &str, output: &str) -> Topology {
    let builder = StreamsBuilder::new();
    let stream = builder.stream_with::<String, i64>(
        &[input],
        Consumed::with(Serdes::string(), Arc::new(WorkloadValue))
            .with_timestamp_extractor(event_time),
    );
    match workload {
        "W1" => stream
            .filter(|_, v| v % 3 != 0)
            .map_values(|v| v * 2)
            .to(output),
        "W3" => stream
            .group_by(|k, _| k.clone())
            .windowed_by(TimeWindows::of_size_and_grace(
                Duration::from_secs(1),
                Duration::from_secs(1),
            ))
            .with_late_records_topic(late_topic(output))
            .count_with(Materialized::new().with_caching_disabled())
            .to_stream()
            .map(|k, n| (k.key, n))
            .to(output),
        _ => stream
            .group_by_key()
            .count_with(Materialized::named("counts").with_caching_disabled())
            .to_stream()
            .to(output),
    }
    builder.build().expect("the topology builds")
}

/// Where W3 sends the records too late for their window.
fn late_topic(output: &str) -> String {
    format!("{output}-late")
}

/// The output rows that records `from..to` produce (W3: window updates and late records).
fn rows_for(workload: &str, from: u64, to: u64) -> u64 {
    match workload {
        "W1" => (from..to).filter(|i| i % 3 != 0).count() as u64,
        _ => to - from,
    }
}

fn run_one(
    bootstrap: Option<String>,
    workload: &str,
    guarantee: &str,
    (n, m, rate): (u64, u64, u64),
    metrics: bool,
) {
    let embedded = match &bootstrap {
        None => Some(Arc::new(
            EmbeddedKafka::start(1).expect("the embedded cluster"),
        )),
        Some(_) => None,
    };
    let servers = bootstrap.clone().unwrap_or_else(|| {
        embedded
            .as_ref()
            .map(|k| k.bootstrap_servers().to_owned())
            .unwrap_or_default()
    });
    let app = format!("e2e-{workload}-{guarantee}-{}", std::process::id());
    let (input, output) = (format!("{app}-in"), format!("{app}-out"));
    let late = late_topic(&output);
    let topics: Vec<InternalTopic> = [&input, &output, &late]
        .iter()
        .map(|t| InternalTopic {
            name: (*t).clone(),
            partitions: if workload == "W3" && **t == input {
                2
            } else {
                1
            },
            configs: Vec::new(),
        })
        .collect();
    let creator: Arc<dyn TopicCreator> = match &embedded {
        Some(kafka) => kafka.clone(),
        None => {
            let mut admin = ClientConfig::new();
            admin.set("bootstrap.servers", &servers);
            Arc::new(AdminTopicCreator::new(admin, 1))
        }
    };
    creator.create_topics(&topics).expect("topics");

    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", &servers)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("a producer");
    for i in 0..n {
        produce(&producer, &input, i, i as i64);
    }
    producer
        .flush(Duration::from_secs(120))
        .expect("input written");
    eprintln!("{app}: wrote {n} input records");

    let seen = Arc::new(Mutex::new(Seen::default()));
    // Outputs stamped at or after this are latency probes (a record with event time 0 is
    // stamped "now" by librdkafka, so a fixed threshold would not do).
    let probes_from = Arc::new(std::sync::atomic::AtomicI64::new(i64::MAX));
    let reading = Arc::new(AtomicBool::new(true));
    let reader = {
        let (seen, reading, servers, output, late, probes_from) = (
            seen.clone(),
            reading.clone(),
            servers.clone(),
            output.clone(),
            late.clone(),
            probes_from.clone(),
        );
        let isolation = if guarantee == "eos" {
            "read_committed"
        } else {
            "read_uncommitted"
        };
        std::thread::spawn(move || {
            let consumer: BaseConsumer = ClientConfig::new()
                .set("bootstrap.servers", &servers)
                .set("group.id", "e2e-reader")
                .set("isolation.level", isolation)
                // The mock cluster holds a fetch for its full wait even when data arrives.
                .set("fetch.wait.max.ms", "10")
                .create()
                .expect("a reader");
            let mut tpl = TopicPartitionList::new();
            for topic in [&output, &late] {
                tpl.add_partition_offset(topic, 0, Offset::Beginning)
                    .expect("partition");
            }
            consumer.assign(&tpl).expect("assigned");
            while reading.load(Ordering::Relaxed) {
                let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) else {
                    continue;
                };
                let value = message
                    .payload()
                    .and_then(|v| v.get(..8))
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, i64::from_be_bytes);
                let ts = message.timestamp().to_millis().unwrap_or(0);
                let mut seen = seen.lock().expect("stats");
                if message.topic() == late {
                    seen.late += 1;
                    seen.rows += 1;
                    continue;
                }
                seen.rows += 1;
                seen.sum += i128::from(value);
                if let Some(key) = message.key() {
                    seen.table.insert(key.to_vec(), value);
                }
                if ts >= probes_from.load(Ordering::Relaxed) {
                    seen.latencies.push(now_ms() - ts);
                }
            }
        })
    };

    let dir = tempfile::tempdir().expect("a state dir");
    let config = StreamsConfig::new(&app)
        .bootstrap_servers(&servers)
        .state_dir(dir.path())
        .processing_guarantee(if guarantee == "eos" {
            ProcessingGuarantee::ExactlyOnce
        } else {
            ProcessingGuarantee::AtLeastOnce
        })
        .consumer_property("session.timeout.ms", "6000")
        .consumer_property("max.poll.interval.ms", "7000")
        .consumer_property("fetch.wait.max.ms", "10");
    let config = if metrics {
        let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        config.metrics_endpoint(free.local_addr().expect("its address"))
    } else {
        config
    };
    let streams = KafkaStreams::new(topology(workload, &input, &output), config)
        .with_topic_creator(creator.clone());
    streams.start().expect("the application starts");
    assert!(
        streams.wait_for(State::Running, Duration::from_secs(120)),
        "never running"
    );
    let started = Instant::now();
    eprintln!("{app}: running");
    let expected = rows_for(workload, 0, n);
    let wait_rows = |rows: u64, limit: Duration| {
        let deadline = Instant::now() + limit;
        while seen.lock().expect("stats").rows < rows {
            assert!(
                Instant::now() < deadline,
                "only {} of {rows} rows arrived",
                seen.lock().expect("stats").rows
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_rows(expected, Duration::from_secs(600));
    let run_s = started.elapsed().as_secs_f64();
    // W3 measures the backlog only: its windows would take the probes' wall-clock times.
    let m = if workload == "W3" { 0 } else { m };

    // Latency: M more records at a steady rate, stamped with the wall clock.
    let tick = Duration::from_millis(10);
    let per_tick = (rate / 100).max(1);
    probes_from.store(now_ms(), Ordering::Relaxed);
    let mut i = n;
    while i < n + m {
        let next = Instant::now() + tick;
        for _ in 0..per_tick.min(n + m - i) {
            produce(&producer, &input, i, now_ms());
            i += 1;
        }
        producer.poll(Duration::ZERO);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("probes written");
    wait_rows(
        expected + rows_for(workload, n, n + m),
        Duration::from_secs(120),
    );
    reading.store(false, Ordering::Relaxed);
    reader.join().expect("reader");
    streams.close(Duration::from_secs(60));

    let mut seen = seen.lock().expect("stats");
    seen.latencies.sort_unstable();
    let pct = |p: f64| {
        seen.latencies
            .get(((seen.latencies.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(-1)
    };
    let (p50, p99) = (pct(0.50), pct(0.99));
    // The throughput phase's own output, checked.
    let checks = match workload {
        "W1" => {
            let rows = rows_for("W1", 0, n);
            let sum: i128 = (0..n).filter(|i| i % 3 != 0).map(|i| 2 * i as i128).sum();
            let probe_sum: i128 = (n..n + m)
                .filter(|i| i % 3 != 0)
                .map(|i| 2 * i as i128)
                .sum();
            assert_eq!(seen.rows, rows + rows_for("W1", n, n + m), "W1 rows");
            assert_eq!(seen.sum, sum + probe_sum, "W1 sum");
            format!("\"rows\":{rows},\"sum\":{sum}")
        }
        "W3" => {
            assert_eq!(seen.rows, n, "W3 window updates and late records");
            format!(
                "\"rows\":{},\"late\":{},\"late_share_pct\":{:.3}",
                n - seen.late,
                seen.late,
                100.0 * seen.late as f64 / n as f64
            )
        }
        _ => {
            assert_eq!(seen.rows, n + m, "W2 updates");
            let total: i64 = seen.table.values().sum();
            assert_eq!(total as u64, n + m, "W2 final table sum");
            format!("\"rows\":{n},\"keys\":{},\"sum\":{}", seen.table.len(), n)
        }
    };
    let broker = if embedded.is_some() {
        "embedded"
    } else {
        "kafka"
    };
    println!(
        "RESULT {{\"workload\":\"e2e-{workload}\",\"broker\":\"{broker}\",\"guarantee\":\"{guarantee}\",\
         \"metrics\":{metrics},\
         \"n\":{n},\"run_s\":{run_s:.3},\"rec_per_s\":{:.0},{checks},\"latency_probes\":{},\
         \"latency_rate_per_s\":{rate},\"p50_ms\":{p50},\"p99_ms\":{p99},\"peak_rss_mb\":{:.1}}}",
        n as f64 / run_s,
        seen.latencies.len(),
        peak_rss_mb()
    );
}

fn main() {
    let (n, m, rate) = (
        arg("--n", 80_000u64),
        arg("--m", 10_000u64),
        arg("--rate", 5_000u64),
    );
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--one") {
        let broker = args[i + 1].clone();
        let bootstrap = (broker != "embedded").then_some(broker);
        let metrics = args.iter().any(|a| a == "--metrics-on");
        run_one(bootstrap, &args[i + 2], &args[i + 3], (n, m, rate), metrics);
        return;
    }
    let me = std::env::current_exe().expect("the bench binary");
    let rounds: usize = arg("--metrics-compare", 0);
    if rounds > 0 {
        compare_metrics(&me, rounds, (n, m, rate));
        return;
    }
    let only: String = arg("--broker", String::new());
    let mut brokers = Vec::new();
    if only.is_empty() || only == "embedded" {
        brokers.push(("embedded".to_owned(), None));
    }
    if only.is_empty() || only == "kafka" {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/kafka.sh");
        let installed = Command::new("bash")
            .args([script, "install"])
            .status()
            .expect("kafka.sh install");
        assert!(installed.success(), "Apache Kafka installs");
        let out = Command::new("bash")
            .args([script, "start"])
            .output()
            .expect("kafka.sh");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut fields = text.split_whitespace();
        let (port, pid) = (
            fields.next().unwrap_or("").to_owned(),
            fields.next().unwrap_or("").to_owned(),
        );
        brokers.push((format!("127.0.0.1:{port}"), Some(pid)));
    }
    let workloads: String = arg("--workload", String::new());
    for (broker, _) in &brokers {
        for workload in ["W1", "W2", "W3"] {
            if !workloads.is_empty() && workloads != workload {
                continue;
            }
            for guarantee in ["alos", "eos"] {
                let status = Command::new(&me)
                    .args(["--one", broker, workload, guarantee])
                    .args([
                        "--n",
                        &n.to_string(),
                        "--m",
                        &m.to_string(),
                        "--rate",
                        &rate.to_string(),
                    ])
                    .status()
                    .expect("a variant runs");
                assert!(status.success(), "{broker} {workload} {guarantee} failed");
            }
        }
    }
    for (_, pid) in brokers {
        if let Some(pid) = pid {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/kafka.sh");
            let _ = Command::new("bash").args([script, "stop", &pid]).status();
        }
    }
}

/// Runs W1 and W2 (embedded, at-least-once) `rounds` times with metrics off and on,
/// alternating, and prints each run's throughput and the medians.
fn compare_metrics(me: &std::path::Path, rounds: usize, (n, m, rate): (u64, u64, u64)) {
    for workload in ["W1", "W2"] {
        let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..rounds {
            for (on, slot) in [(false, 0), (true, 1)] {
                let mut command = Command::new(me);
                command
                    .args(["--one", "embedded", workload, "alos"])
                    .args(["--n", &n.to_string(), "--m", &m.to_string()])
                    .args(["--rate", &rate.to_string()]);
                if on {
                    command.arg("--metrics-on");
                }
                let out = command.output().expect("a variant runs");
                assert!(out.status.success(), "{workload} metrics={on} failed");
                let text = String::from_utf8_lossy(&out.stdout);
                print!("{text}");
                let per_s = text
                    .split("\"rec_per_s\":")
                    .nth(1)
                    .and_then(|r| r.split(',').next())
                    .and_then(|r| r.parse::<f64>().ok())
                    .expect("a RESULT line");
                rates[slot].push(per_s);
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (off, on) = (median(&mut rates[0]), median(&mut rates[1]));
        println!(
            "METRICS {{\"workload\":\"e2e-{workload}\",\"rounds\":{rounds},\"median_off\":{off:.0},\
             \"median_on\":{on:.0},\"cost_pct\":{:.1}}}",
            (off - on) / off * 100.0
        );
    }
}
