//! Kafka Streams side by side: WORKLOADS.md's W1–W5 run by `KafkaStreams` through a real
//! Apache Kafka broker, reading a topic that this bench preloaded once, so that the Kafka
//! Streams application in `bench/kafka-streams` reads exactly the same bytes; plus W0, the
//! consume-only floor (a plain librdkafka consumer reading the same topic).
//! `bench/side-by-side.sh` starts the broker and runs both sides; this binary does one step:
//!
//! - `preload BOOTSTRAP TOPIC N`: creates TOPIC (one partition) and writes WORKLOADS.md's
//!   records 0..N (event time `i` in value bytes 8..16).
//! - `floor BOOTSTRAP TOPIC N`: reads the N records and does nothing else (W0).
//! - `run BOOTSTRAP TOPIC W1|W2|W3|W4|W5 N`: runs the workload at-least-once, one stream
//!   thread, RocksDB state with the record cache off (WORKLOADS.md's "updates": one result
//!   per record and window, as Kafka Streams with caching off emits them), and times from the
//!   moment the instance is `Running` until a reader has every expected output row; the reader
//!   checks the output against WORKLOADS.md's closed forms.
//!
//! Each prints one `RESULT {json}` line with its own peak RSS (the reader included) and the
//! CPU time the process used while timed (`cpu_s`, all its threads).

mod common;

use common::{event_time, peak_rss_mb, workload_key, workload_value, WorkloadValue};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use streams_core::runtime::{AdminTopicCreator, InternalTopic, TopicCreator};
use streams_dsl::prelude::*;

const KEYS: u64 = 10_000;

/// CPU time this process has used so far (user + system), in seconds; Linux counts it in
/// 1/100 s ticks in `/proc/self/stat` (fields 14 and 15, after the parenthesized name).
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    ticks as f64 / 100.0
}

fn admin(bootstrap: &str) -> Arc<dyn TopicCreator> {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    Arc::new(AdminTopicCreator::new(config, 1))
}

fn create_topic(creator: &dyn TopicCreator, name: &str) {
    let topic = InternalTopic {
        name: name.to_owned(),
        partitions: 1,
        configs: Vec::new(),
    };
    creator.create_topics(&[topic]).expect("topic created");
}

fn preload(bootstrap: &str, topic: &str, n: u64) {
    create_topic(admin(bootstrap).as_ref(), topic);
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("a producer");
    let started = Instant::now();
    for i in 0..n {
        let key = workload_key(i, KEYS);
        let value = workload_value(i);
        let mut record = BaseRecord::<[u8], [u8]>::to(topic)
            .key(key.as_bytes())
            .payload(&value);
        while let Err((_, back)) = producer.send(record) {
            record = back;
            producer.poll(Duration::from_millis(1));
        }
    }
    producer.flush(Duration::from_secs(300)).expect("written");
    eprintln!(
        "preloaded {n} records into {topic} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// librdkafka's prefetch limit per consumer in KiB (`queued.max.messages.kbytes`, 64 MiB by
/// default), from `SIDE_BY_SIDE_QUEUE_KB` when set: prefetched records count in peak RSS.
fn queue_kb() -> Option<String> {
    std::env::var("SIDE_BY_SIDE_QUEUE_KB").ok()
}

/// A consumer assigned partition 0 of `topic` from its beginning (not subscribed: its group
/// id is only there because librdkafka requires one).
fn reader(bootstrap: &str, topic: &str) -> BaseConsumer {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "side-by-side-reader")
        .set("enable.auto.commit", "false");
    if let Some(kb) = queue_kb() {
        config.set("queued.max.messages.kbytes", kb);
    }
    let consumer: BaseConsumer = config.create().expect("a consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(topic, 0, Offset::Beginning)
        .expect("partition");
    consumer.assign(&tpl).expect("assigned");
    consumer
}

/// W0: read N records, touching only their lengths.
fn floor(bootstrap: &str, topic: &str, n: u64) {
    let consumer = reader(bootstrap, topic);
    let (started, cpu_started) = (Instant::now(), cpu_s());
    let (mut seen, mut bytes) = (0u64, 0usize);
    while seen < n {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            seen += 1;
            bytes += message.payload_len();
        }
        assert!(started.elapsed() < Duration::from_secs(600), "only {seen}");
    }
    let run_s = started.elapsed().as_secs_f64();
    println!(
        "RESULT {{\"workload\":\"W0\",\"system\":\"rdkafka-consumer\",\"broker\":\"apache-kafka\",\
         \"queue_kb\":\"{}\",\"n\":{n},\"run_s\":{run_s:.3},\"rec_per_s\":{:.0},\"rows\":{seen},\"bytes\":{bytes},\
         \"cpu_s\":{:.2},\"peak_rss_mb\":{:.1}}}",
        queue_kb().unwrap_or_default(),
        n as f64 / run_s,
        cpu_s() - cpu_started,
        peak_rss_mb()
    );
}

fn topology(workload: &str, input: &str, output: &str) -> Topology {
    let builder = StreamsBuilder::new();
    let stream = builder.stream_with::<String, i64>(
        &[input],
        Consumed::with(Serdes::string(), Arc::new(WorkloadValue))
            .with_timestamp_extractor(event_time),
    );
    if workload == "W1" {
        stream
            .filter(|_, v| v % 3 != 0)
            .map_values(|v| v * 2)
            .to(output);
        return builder.build().expect("the topology builds");
    }
    let grouped = stream.group_by_key();
    // Every update goes downstream, as in Kafka Streams with caching off.
    let counts = || Materialized::named("counts").with_caching_disabled();
    let s = Duration::from_secs;
    match workload {
        "W2" => grouped.count_with(counts()).to_stream().to(output),
        "W3" => grouped
            .windowed_by(TimeWindows::of_size_with_no_grace(s(1)))
            .count_with(counts())
            .to_stream()
            .to(output),
        "W4" => grouped
            .windowed_by(TimeWindows::of_size_with_no_grace(s(10)).advance_by(s(1)))
            .count_with(counts())
            .to_stream()
            .to(output),
        "W5" => grouped
            .windowed_by_sessions(SessionWindows::of_inactivity_gap_with_no_grace(s(30)))
            .count_with(counts())
            .to_stream()
            .to(output),
        other => panic!("unknown workload {other}"),
    }
    builder.build().expect("the topology builds")
}

/// WORKLOADS.md's expected (rows, retractions) for N records: non-null results, tombstones.
fn expected(workload: &str, n: u64) -> (u64, u64) {
    match workload {
        "W1" => (n - n.div_ceil(3), 0),
        "W4" => (10 * n - 45_000, 0),
        // Each record extends its key's session: the old session is retracted, except at
        // each key's first record.
        "W5" => (n, n - n.min(KEYS)),
        _ => (n, 0),
    }
}

/// What the reader has seen of the output topic.
#[derive(Default)]
struct Tally {
    rows: u64,
    retractions: u64,
    sum: i128,
    max: i64,
    /// The last value per output key (a window's key includes its start and end); a
    /// tombstone removes the session it retracts.
    table: HashMap<Vec<u8>, i64>,
    windows: HashSet<i64>,
}

impl Tally {
    /// Counts one output record. Only W2 and W5 (`sessions`) need the final table, which for
    /// W3 and W4 would hold every window (2M entries at N = 200K) and weigh on peak RSS.
    fn add(&mut self, windowed: bool, sessions: bool, key: &[u8], value: Option<&[u8]>) {
        let Some(value) = value else {
            self.retractions += 1;
            self.table.remove(key);
            return;
        };
        let value = value
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, i64::from_be_bytes);
        self.rows += 1;
        self.sum += i128::from(value);
        self.max = self.max.max(value);
        // Our windowed keys end with the window's start and end, 8 bytes each.
        if !windowed || sessions {
            self.table.insert(key.to_vec(), value);
        }
        if windowed && key.len() >= 16 {
            let start = key[key.len() - 16..key.len() - 8]
                .try_into()
                .map_or(0, i64::from_be_bytes);
            self.windows.insert(start);
        }
    }

    /// Checks the output against WORKLOADS.md; returns the RESULT fields it proves.
    fn check(&self, workload: &str, n: u64) -> String {
        let (rows, retractions) = expected(workload, n);
        assert_eq!(
            (self.rows, self.retractions),
            (rows, retractions),
            "{workload} rows"
        );
        match workload {
            "W1" => {
                let m = i128::from(n.div_ceil(3));
                let n = i128::from(n);
                let sum = 2 * (n * (n - 1) / 2 - 3 * (m * (m - 1) / 2));
                assert_eq!(self.sum, sum, "W1 sum");
                format!("\"rows\":{rows},\"sum\":{sum}")
            }
            "W2" | "W5" => {
                let total: i64 = self.table.values().sum();
                let max = self.table.values().copied().max().unwrap_or(0);
                assert_eq!(self.table.len() as u64, n.min(KEYS), "{workload} keys");
                assert_eq!(total as u64, n, "{workload} final table sum");
                assert_eq!(max as u64, n.div_ceil(KEYS), "{workload} max");
                format!(
                    "\"rows\":{rows},\"sum\":{total},\"max\":{max},\"keys\":{},\"retractions\":{retractions}",
                    self.table.len()
                )
            }
            _ => {
                let windows = if workload == "W3" {
                    n.div_ceil(1000)
                } else {
                    (n - 1) / 1000 + 1
                };
                assert_eq!(self.windows.len() as u64, windows, "{workload} windows");
                assert!(
                    self.sum == i128::from(self.rows) && self.max == 1,
                    "{workload}: every count is 1"
                );
                format!(
                    "\"rows\":{rows},\"sum\":{},\"max\":1,\"windows\":{windows}",
                    self.sum
                )
            }
        }
    }
}

fn run(bootstrap: &str, input: &str, workload: &str, n: u64) {
    let app = format!("rs-{workload}-{}", std::process::id());
    let output = format!("{app}-out");
    let creator = admin(bootstrap);
    create_topic(creator.as_ref(), &output);

    let tally = Arc::new(Mutex::new(Tally::default()));
    let reading = Arc::new(AtomicBool::new(true));
    let reader_thread = {
        let (tally, reading, consumer) =
            (tally.clone(), reading.clone(), reader(bootstrap, &output));
        let windowed = matches!(workload, "W3" | "W4" | "W5");
        let sessions = workload == "W5";
        std::thread::spawn(move || {
            while reading.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) {
                    let mut tally = tally.lock().expect("tally");
                    tally.add(windowed, sessions, m.key().unwrap_or_default(), m.payload());
                }
            }
        })
    };

    let dir = tempfile::tempdir().expect("a state dir");
    let mut config = StreamsConfig::new(&app)
        .bootstrap_servers(bootstrap)
        .state_dir(dir.path())
        .processing_guarantee(ProcessingGuarantee::AtLeastOnce);
    if let Some(kb) = queue_kb() {
        config = config.consumer_property("queued.max.messages.kbytes", kb);
    }
    let streams =
        KafkaStreams::new(topology(workload, input, &output), config).with_topic_creator(creator);
    streams.start().expect("the application starts");
    assert!(
        streams.wait_for(State::Running, Duration::from_secs(120)),
        "never running"
    );
    let (started, cpu_started) = (Instant::now(), cpu_s());
    let (rows, retractions) = expected(workload, n);
    loop {
        {
            let tally = tally.lock().expect("tally");
            if tally.rows >= rows && tally.retractions >= retractions {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(1800),
                "only {} of {rows} rows",
                tally.rows
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let run_s = started.elapsed().as_secs_f64();
    let cpu = cpu_s() - cpu_started;
    reading.store(false, Ordering::Relaxed);
    reader_thread.join().expect("reader");
    streams.close(Duration::from_secs(60));

    let checks = tally.lock().expect("tally").check(workload, n);
    println!(
        "RESULT {{\"workload\":\"{workload}\",\"system\":\"rust-streams\",\"broker\":\"apache-kafka\",\
         \"variant\":\"updates/rocksdb\",\"guarantee\":\"alos\",\"queue_kb\":\"{}\",\"n\":{n},\
         \"run_s\":{run_s:.3},\"rec_per_s\":{:.0},{checks},\"cpu_s\":{cpu:.2},\"peak_rss_mb\":{:.1}}}",
        queue_kb().unwrap_or_default(),
        n as f64 / run_s,
        peak_rss_mb()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: side_by_side preload|floor BOOTSTRAP TOPIC N | run BOOTSTRAP TOPIC W1..W5 N";
    let n = |s: &String| s.parse::<u64>().expect("N is a number");
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["preload", bootstrap, topic, _] => preload(bootstrap, topic, n(&args[3])),
        ["floor", bootstrap, topic, _] => floor(bootstrap, topic, n(&args[3])),
        ["run", bootstrap, topic, workload, _] => run(bootstrap, topic, workload, n(&args[4])),
        // `cargo bench` passes `--bench`; without a command there is nothing to run.
        _ => eprintln!("{usage}"),
    }
}
