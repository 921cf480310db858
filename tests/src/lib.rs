//! Helpers shared by the cross-crate tests.

#![warn(missing_docs)]

use std::collections::BTreeMap;

use streams_dsl::prelude::*;

/// A driver for what `builder` built, under the application id `test-app`.
pub fn drive(builder: StreamsBuilder) -> TopologyTestDriver {
    let topology = builder.build().expect("the topology builds");
    TopologyTestDriver::new(topology, StreamsConfig::new("test-app")).expect("the driver starts")
}

/// Sends the library's logs to the test's output (`RUST_LOG` filters; `warn` by default).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

pub mod changelogs;
pub mod elastic;

/// `s` as an owned `String`.
pub fn s(text: &str) -> String {
    text.to_owned()
}

/// The naive model of time windows (tumbling or hopping): per record `(key, time)`, advance
/// stream time, then count the record in every window that holds it and is still open;
/// returns each window's count by (start, `k<key>`).
pub fn time_windows_model(
    windows: TimeWindows,
    records: &[(u8, i64)],
) -> BTreeMap<(i64, String), i64> {
    let mut stream_time = -1;
    let mut counts = BTreeMap::new();
    for (key, t) in records {
        stream_time = stream_time.max(*t);
        let mut start = 0;
        while start <= *t {
            let end = start + windows.size();
            if start <= *t && *t < end && stream_time < end + windows.grace() {
                *counts.entry((start, format!("k{key}"))).or_insert(0) += 1;
            }
            start += windows.advance();
        }
    }
    counts
}

/// The records of `records` (`(key, time)`) that are not late for some of their sliding
/// windows (time difference `d`) while on time for others: each is either on time for its
/// left window (`t >= stream time - grace`) or too late for all of them
/// (`t + d < stream time - grace`). Partly late records take Kafka Streams' algorithm, not a
/// definition, to predict; exact scenario tests cover them.
pub fn sliding_without_partly_late(d: i64, grace: i64, records: &[(u8, i64)]) -> Vec<(u8, i64)> {
    let mut stream_time = i64::MIN;
    let mut kept = Vec::new();
    for (key, t) in records {
        let close = stream_time.max(*t).saturating_sub(grace);
        if *t >= close || t + d < close {
            stream_time = stream_time.max(*t);
            kept.push((*key, *t));
        }
    }
    kept
}

/// The naive model of sliding windows with time difference `d` (Kafka Streams KIP-450),
/// from the definition, for input without partly late records (see
/// [`sliding_without_partly_late`]): a record is accepted unless `t + d < stream time -
/// grace`; the windows are each accepted record's left window `[max(0, t - d), ..]` (no
/// window starts before 0) and its right window `[t + 1, t + d + 1]` once an accepted
/// record falls in it; each holds the accepted records in it. Returns each window's count
/// by (key, start), and, per window, whether an on-close aggregation emits it: Kafka
/// Streams emits, after each record at `t >= d`, the windows that record closed that the
/// store still retains (start >= latest window start - (2 d + grace)).
pub fn sliding_windows_model(
    d: i64,
    grace: i64,
    records: &[(String, i64)],
) -> BTreeMap<(String, i64), (i64, bool)> {
    let mut stream_time = i64::MIN;
    let mut accepted: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    let mut windows: BTreeMap<(String, i64), (i64, bool)> = BTreeMap::new();
    let mut pending: BTreeMap<(i64, String), ()> = BTreeMap::new();
    let mut latest_start = i64::MIN;
    for (key, t) in records {
        stream_time = stream_time.max(*t);
        let close = stream_time - grace;
        if t + d < close {
            continue;
        }
        let times = accepted.entry(key.as_str()).or_default();
        times.push(*t);
        let defined: Vec<i64> = times
            .iter()
            .flat_map(|p| {
                let right = times.iter().any(|q| q > p && *q <= p + 1 + d);
                std::iter::once((p - d).max(0)).chain(right.then_some(p + 1))
            })
            .collect();
        for start in defined {
            let holds = times
                .iter()
                .filter(|p| (start..=start + d).contains(*p))
                .count() as i64;
            let entry = windows.entry((key.clone(), start)).or_insert_with(|| {
                pending.insert((start, key.clone()), ());
                latest_start = latest_start.max(start);
                (0, false)
            });
            entry.0 = holds;
        }
        if *t >= d {
            while let Some(((start, k), ())) = pending.first_key_value() {
                if start + d >= close {
                    break;
                }
                let retained = *start >= latest_start - (2 * d + grace);
                windows.get_mut(&(k.clone(), *start)).unwrap().1 = retained;
                pending.pop_first();
            }
        }
    }
    windows
}

/// A session of the model: start, end, count.
type Session = (i64, i64, i64);

/// The naive model of session windows: sessions per key, merged as records arrive; a record too late for the
/// session it would form is dropped; sessions past retention (gap + grace behind the largest
/// session end) no longer merge. Returns each session's count by (`k<key>`, start, end).
pub fn session_windows_model(
    gap: i64,
    grace: i64,
    records: &[(u8, i64)],
) -> BTreeMap<(String, i64, i64), i64> {
    let mut sessions: BTreeMap<String, Vec<Session>> = BTreeMap::new();
    let (mut stream_time, mut observed_end) = (-1i64, i64::MIN);
    for (key, t) in records {
        stream_time = stream_time.max(*t);
        let list = sessions.entry(format!("k{key}")).or_default();
        let live = |end: i64| end >= observed_end.saturating_sub(gap + grace);
        let (near, far): (Vec<&Session>, Vec<&Session>) = list
            .iter()
            .partition(|(s, e, _)| live(*e) && *e >= t - gap && *s <= t + gap);
        let start = near.iter().map(|x| x.0).fold(*t, i64::min);
        let end = near.iter().map(|x| x.1).fold(*t, i64::max);
        // Kafka Streams' close time for sessions includes the gap.
        if end < stream_time - gap - grace {
            continue;
        }
        let count = near.iter().map(|x| x.2).sum::<i64>() + 1;
        let mut kept: Vec<Session> = far.into_iter().copied().collect();
        kept.push((start, end, count));
        *list = kept;
        observed_end = observed_end.max(end);
    }
    sessions
        .into_iter()
        .flat_map(|(k, list)| {
            list.into_iter()
                .map(move |(s, e, c)| ((k.clone(), s, e), c))
        })
        .collect()
}

/// Producing to and reading from a Kafka cluster, for the runtime's tests.
pub mod kafka {
    use std::collections::HashMap;
    use std::time::{Duration, Instant};

    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use std::sync::Mutex;

    use rdkafka::client::ClientContext;
    use rdkafka::producer::{
        BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer,
    };
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};

    /// Keeps the first failed delivery, so that a record the broker never took is never
    /// counted as sent.
    #[derive(Default)]
    struct FirstFailure(Mutex<Option<String>>);

    impl ClientContext for FirstFailure {}

    impl ProducerContext for FirstFailure {
        type DeliveryOpaque = ();

        fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
            if let Err((error, _)) = result {
                let mut first = self.0.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert_with(|| error.to_string());
            }
        }
    }

    /// A record to produce: key (or none), value, and timestamp (or none for now).
    pub type TimedRecord<'a> = (Option<&'a [u8]>, &'a [u8], Option<i64>);

    /// Sends `records` (key, value) to `topic`, waits until all are acknowledged, and panics
    /// if the broker refused any.
    pub fn produce(bootstrap: &str, topic: &str, records: &[(Option<&[u8]>, &[u8])]) {
        let timed: Vec<_> = records.iter().map(|&(k, v)| (k, v, None)).collect();
        produce_at(bootstrap, topic, &timed);
    }

    /// Sends `records` (key, value, timestamp or `None` for now) to `topic`, waits until
    /// all are acknowledged, and panics if the broker refused any.
    pub fn produce_at(bootstrap: &str, topic: &str, records: &[TimedRecord<'_>]) {
        Sender::new(bootstrap).send_all(topic, records);
    }

    /// A producer that stays connected between batches (the fault suite's input keeps
    /// arriving for minutes).
    pub struct Sender(ThreadedProducer<FirstFailure>);

    impl Sender {
        /// An idempotent producer with the runtime's partitioner.
        pub fn new(bootstrap: &str) -> Self {
            let producer = ClientConfig::new()
                .set("bootstrap.servers", bootstrap)
                .set("partitioner", "murmur2_random")
                .set("linger.ms", "5")
                .set("enable.idempotence", "true")
                .create_with_context(FirstFailure::default())
                .expect("a producer");
            Self(producer)
        }

        /// Sends `records` to `topic`, waits until all are acknowledged, and panics if the
        /// broker refused any.
        pub fn send_all(&self, topic: &str, records: &[TimedRecord<'_>]) {
            for (key, value, timestamp) in records {
                let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(*value);
                if let Some(key) = key {
                    record = record.key(*key);
                }
                if let Some(timestamp) = timestamp {
                    record = record.timestamp(*timestamp);
                }
                let mut record = record;
                loop {
                    match self.0.send(record) {
                        Ok(()) => break,
                        Err((_, back)) => {
                            record = back;
                            self.0.poll(Duration::from_millis(10));
                        }
                    }
                }
            }
            self.0
                .flush(Duration::from_secs(30))
                .expect("records acknowledged");
            let failure = self.0.context().0.lock().map(|f| f.clone());
            assert_eq!(failure.ok().flatten(), None, "a record to {topic} failed");
        }
    }

    /// Creates `topics` (name, partitions) through the admin API; existing ones are fine.
    pub fn create_topics(bootstrap: &str, topics: &[(&str, i32)]) {
        use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
        let admin: AdminClient<rdkafka::client::DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .expect("an admin client");
        let new: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|(name, n)| NewTopic::new(name, *n, TopicReplication::Fixed(1)))
            .collect();
        let results = futures::executor::block_on(admin.create_topics(&new, &AdminOptions::new()))
            .expect("topics created");
        for result in results {
            if let Err((topic, code)) = result {
                assert_eq!(
                    code,
                    rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists,
                    "creating {topic}"
                );
            }
        } // The controller answers before every broker's metadata has the topics: wait until
          // they are visible, so that a client started next finds them.
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .expect("a consumer");
        let deadline = Instant::now() + Duration::from_secs(30);
        for (name, partitions) in topics {
            loop {
                let visible = consumer
                    .fetch_metadata(Some(name), Duration::from_secs(5))
                    .ok()
                    .and_then(|m| {
                        m.topics().first().map(|t| {
                            t.error().is_none()
                                && t.partitions().len() == *partitions as usize
                                && t.partitions().iter().all(|p| p.leader() >= 0)
                        })
                    })
                    .unwrap_or(false);
                if visible {
                    break;
                }
                assert!(Instant::now() < deadline, "{name} never became visible");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }

    /// A consumer assigned every partition of `topic` from the beginning (`read_committed`
    /// if `committed`; reporting each partition's end if `eof`), and those partitions.
    fn reader_from_beginning(
        bootstrap: &str,
        topic: &str,
        committed: bool,
        eof: bool,
    ) -> (BaseConsumer, Vec<i32>) {
        let isolation = if committed {
            "read_committed"
        } else {
            "read_uncommitted"
        };
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "test-reader")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", eof.to_string())
            .set("isolation.level", isolation)
            .create()
            .expect("a consumer");
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions())
            .map(|p| p.id())
            .collect();
        let mut assignment = TopicPartitionList::new();
        for &p in &partitions {
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .expect("a partition");
        }
        consumer.assign(&assignment).expect("assigned");
        (consumer, partitions)
    }

    /// Every record of `topic` (all partitions, from the beginning) as (key, value), read
    /// until `done` holds for the records so far or `timeout` passes; `read_committed` if
    /// `committed`.
    pub fn read_until(
        bootstrap: &str,
        topic: &str,
        committed: bool,
        timeout: Duration,
        done: impl Fn(&[(Vec<u8>, Vec<u8>)]) -> bool,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        let (consumer, _) = reader_from_beginning(bootstrap, topic, committed, false);
        let deadline = Instant::now() + timeout;
        let mut records = Vec::new();
        while Instant::now() < deadline && !done(&records) {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                records.push((
                    m.key().unwrap_or_default().to_vec(),
                    m.payload().unwrap_or_default().to_vec(),
                ));
            }
        }
        records
    }

    /// Every record of `topic`, from the beginning of each partition to its end, as
    /// (partition, key, value) in log order. With `committed`, the end is the last stable
    /// offset and records of aborted transactions are skipped (`read_committed`); without,
    /// every record appended is read, aborted or not. Call it once nothing writes to `topic`.
    pub fn read_to_end(
        bootstrap: &str,
        topic: &str,
        committed: bool,
        timeout: Duration,
    ) -> Vec<(i32, Vec<u8>, Vec<u8>)> {
        use rdkafka::error::KafkaError;
        let (consumer, partitions) = reader_from_beginning(bootstrap, topic, committed, true);
        let mut open: std::collections::HashSet<i32> = partitions.into_iter().collect();
        let deadline = Instant::now() + timeout;
        let mut records = Vec::new();
        while !open.is_empty() {
            assert!(
                Instant::now() < deadline,
                "{topic}: partitions {open:?} not read to their end in {timeout:?}"
            );
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(m)) => {
                    open.insert(m.partition());
                    records.push((
                        m.partition(),
                        m.key().unwrap_or_default().to_vec(),
                        m.payload().unwrap_or_default().to_vec(),
                    ));
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    open.remove(&partition);
                }
                Some(Err(error)) => panic!("reading {topic}: {error}"),
                None => {}
            }
        }
        records
    }

    /// The last value of each key among `records`, decoded as UTF-8 keys and big-endian
    /// i64 values (what `count` writes).
    pub fn latest_counts(records: &[(Vec<u8>, Vec<u8>)]) -> HashMap<String, i64> {
        records
            .iter()
            .filter_map(|(k, v)| {
                let value: [u8; 8] = v.as_slice().try_into().ok()?;
                Some((
                    String::from_utf8_lossy(k).into_owned(),
                    i64::from_be_bytes(value),
                ))
            })
            .collect()
    }
}

/// The real broker of the end-to-end suites: Apache Kafka, installed and started by
/// `scripts/kafka.sh` once per test binary, or any running cluster named by the
/// `STREAMS_TEST_BOOTSTRAP_SERVERS` environment variable.
pub mod broker {
    use std::path::PathBuf;
    use std::process::Command;
    use std::sync::OnceLock;

    /// The cluster a test binary's end-to-end tests share. Tests tell their topics and
    /// application ids apart with [`Broker::name`].
    pub struct Broker {
        servers: String,
        run: String,
    }

    impl Broker {
        /// The shared cluster: on first use, either `STREAMS_TEST_BOOTSTRAP_SERVERS` or an
        /// Apache Kafka broker started by `scripts/kafka.sh` (installed on first run into
        /// a cache outside the clone), which stops by itself when the test binary exits.
        pub fn shared() -> &'static Broker {
            static BROKER: OnceLock<Broker> = OnceLock::new();
            BROKER.get_or_init(|| {
                let servers = std::env::var("STREAMS_TEST_BOOTSTRAP_SERVERS")
                    .ok()
                    .filter(|s| !s.trim().is_empty())
                    .unwrap_or_else(start_apache_kafka);
                // Names differ from run to run, so an external cluster can be reused.
                let nanos = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos());
                let run = format!("{:x}{:x}", std::process::id(), nanos);
                Broker { servers, run }
            })
        }

        /// The cluster's `bootstrap.servers`.
        pub fn bootstrap_servers(&self) -> &str {
            &self.servers
        }

        /// `base` made unique to this run: a topic name or an application id.
        pub fn name(&self, base: &str) -> String {
            format!("{base}-{}", self.run)
        }
    }

    fn start_apache_kafka() -> String {
        let pid = std::process::id().to_string();
        let fields = kafka_script(&["start", "--owner", &pid]);
        let port = fields.first().expect("scripts/kafka.sh prints PORT PID");
        format!("127.0.0.1:{port}")
    }

    /// Runs `scripts/kafka.sh` with `args` and returns the words it printed (for `start`:
    /// `PORT PID`, and more with `--sasl-ssl`); panics with its error output if it failed.
    pub fn kafka_script(args: &[&str]) -> Vec<String> {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/kafka.sh");
        let output = Command::new("bash")
            .arg(script)
            .args(args)
            .output()
            .expect("scripts/kafka.sh runs");
        assert!(
            output.status.success(),
            "scripts/kafka.sh {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }
}
