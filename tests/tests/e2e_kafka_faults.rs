//! The fault suite, on Apache Kafka (started by `scripts/kafka.sh`, or the cluster named by
//! `STREAMS_TEST_BOOTSTRAP_SERVERS`): a counting application (`fault-app`) is killed with
//! SIGKILL at random points while its input keeps arriving, and restarted each time; a
//! zombie instance is paused past its transaction timeout and resumed; input written by
//! aborted transactions is offered to it.
//!
//! At-least-once must lose nothing. Exactly-once must lose nothing and duplicate nothing:
//! with the record cache off, every input record gives exactly one output record (its key's
//! new count), so the `read_committed` output of key k must be exactly 1, 2, ..., n(k), and
//! the store restored from the changelog must hold n(k). Neither librdkafka's mock cluster
//! nor tansu isolates transactions (a `read_committed` consumer sees aborted records there),
//! so these tests would fail on them: they need a real transaction coordinator.
//!
//! The long runs (100 kill points each) are ignored by default:
//! `cargo test --release -p integration-tests --test e2e_kafka_faults -- --ignored`.
//! `FAULT_SEED` replays another schedule of kill points.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use integration_tests::broker::Broker;
use integration_tests::kafka::{create_topics, latest_counts, read_to_end, read_until, Sender};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

const WAIT: Duration = Duration::from_secs(120);
const PARTITIONS: i32 = 4;

/// One run's topics and application id, unique on the shared broker.
struct Scenario {
    servers: String,
    application_id: String,
    input: String,
    output: String,
}

impl Scenario {
    fn new(name: &str) -> Self {
        let broker = Broker::shared();
        let scenario = Scenario {
            servers: broker.bootstrap_servers().to_owned(),
            application_id: broker.name(name),
            input: broker.name(&format!("{name}-in")),
            output: broker.name(&format!("{name}-out")),
        };
        create_topics(
            &scenario.servers,
            &[
                (&scenario.input, PARTITIONS),
                (&scenario.output, PARTITIONS),
            ],
        );
        scenario
    }
}

/// A running `fault-app` process and the lines it prints.
struct App {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl App {
    fn spawn(scenario: &Scenario, dir: &Path, exactly_once: bool, extra: &[&str]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_fault-app"));
        if exactly_once {
            // The cache off makes one output record per input record (see the module doc).
            command.args(["--exactly-once", "--cache-max-bytes", "0"]);
        }
        let mut child = command
            .args(["--bootstrap-servers", &scenario.servers])
            .args(["--application-id", &scenario.application_id])
            .args(["--input", &scenario.input, "--output", &scenario.output])
            .arg("--state-dir")
            .arg(dir)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("fault-app starts");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        App { child, lines }
    }

    fn wait_running(&self, what: &str) {
        assert_eq!(
            self.lines.recv_timeout(WAIT).as_deref(),
            Ok("RUNNING"),
            "{what}: never running"
        );
    }

    fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {signal}");
    }

    /// A clean stop: closes the application's standard input, and returns the counts its
    /// store held, which it prints before it closes.
    fn stop(mut self) -> HashMap<String, i64> {
        drop(self.child.stdin.take());
        let mut counts = HashMap::new();
        loop {
            let line = self.lines.recv_timeout(WAIT).expect("the table, then END");
            if line == "END" {
                break;
            }
            let mut fields = line.split_whitespace().skip(1);
            if let (Some(key), Some(n)) =
                (fields.next(), fields.next().and_then(|n| n.parse().ok()))
            {
                counts.insert(key.to_owned(), n);
            }
        }
        let _ = self.child.wait();
        counts
    }
}

impl App {
    /// A clean stop whose output does not matter.
    fn close(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// Input that keeps arriving (100 records over 37 keys every 150 ms) until stopped; it
/// counts what the broker acknowledged, per key: the truth the application must reach.
struct Input {
    truth: Arc<Mutex<HashMap<String, i64>>>,
    producing: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Input {
    fn start(scenario: &Scenario) -> Self {
        let truth = Arc::new(Mutex::new(HashMap::<String, i64>::new()));
        let producing = Arc::new(AtomicBool::new(true));
        let thread = {
            let (servers, topic) = (scenario.servers.clone(), scenario.input.clone());
            let (truth, producing) = (truth.clone(), producing.clone());
            std::thread::spawn(move || {
                let sender = Sender::new(&servers);
                let mut i = 0u64;
                while producing.load(Ordering::SeqCst) {
                    let keys: Vec<String> =
                        (0..100).map(|j| format!("key-{}", (i + j) % 37)).collect();
                    let records: Vec<_> = keys
                        .iter()
                        .map(|k| (Some(k.as_bytes()), &b"1"[..], None))
                        .collect();
                    sender.send_all(&topic, &records);
                    let mut truth = truth.lock().unwrap();
                    for k in keys {
                        *truth.entry(k).or_default() += 1;
                    }
                    i += 100;
                    std::thread::sleep(Duration::from_millis(150));
                }
            })
        };
        Input {
            truth,
            producing,
            thread,
        }
    }

    fn stop(self) -> HashMap<String, i64> {
        self.producing.store(false, Ordering::SeqCst);
        self.thread.join().expect("the input thread");
        let truth = self.truth.lock().unwrap().clone();
        truth
    }
}

/// A small deterministic random source (xorshift), seeded from `FAULT_SEED` or 42.
struct Random(u64);

impl Random {
    fn from_env() -> Self {
        let seed = std::env::var("FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(42);
        eprintln!("fault seed {seed} (set FAULT_SEED to replay another)");
        Self(seed.max(1))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Waits until the application's group has committed `total` input records (the input
/// partitions start at 0 and have no gaps, so committed offsets add up to records
/// consumed), or `timeout` passes; returns how many are left.
fn wait_for_no_lag(scenario: &Scenario, total: i64, timeout: Duration) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &scenario.servers)
        .set("group.id", &scenario.application_id)
        .create()
        .expect("a consumer");
    let deadline = Instant::now() + timeout;
    loop {
        let mut partitions = rdkafka::TopicPartitionList::new();
        for p in 0..PARTITIONS {
            partitions.add_partition(&scenario.input, p);
        }
        let committed: i64 = consumer
            .committed_offsets(partitions, Duration::from_secs(10))
            .expect("committed offsets")
            .elements()
            .iter()
            .filter_map(|e| e.offset().to_raw())
            .map(|o| o.max(0))
            .sum();
        if committed >= total || Instant::now() > deadline {
            return total - committed;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The counts a fresh instance restores from the changelog alone (a new state directory).
fn restored_counts(scenario: &Scenario, exactly_once: bool) -> HashMap<String, i64> {
    let dir = tempfile::tempdir().unwrap();
    let app = App::spawn(scenario, dir.path(), exactly_once, &[]);
    app.wait_running("the restoring instance");
    app.stop()
}

/// The count sequence of each key in `records` (key, big-endian count), in log order.
fn count_sequences(records: &[(i32, Vec<u8>, Vec<u8>)]) -> HashMap<String, Vec<i64>> {
    let mut sequences: HashMap<String, Vec<i64>> = HashMap::new();
    for (_, key, value) in records {
        let count = i64::from_be_bytes(value.as_slice().try_into().expect("an i64 count"));
        sequences
            .entry(String::from_utf8_lossy(key).into_owned())
            .or_default()
            .push(count);
    }
    sequences
}

/// Exactly-once's verdict: the committed output of each key is 1..=n with nothing lost,
/// repeated or out of order, and the records of aborted transactions are in the log but
/// invisible to `read_committed`. Returns how many aborted records the log holds.
fn assert_exactly_once_output(scenario: &Scenario, truth: &HashMap<String, i64>) -> usize {
    let committed = read_to_end(&scenario.servers, &scenario.output, true, WAIT);
    let everything = read_to_end(&scenario.servers, &scenario.output, false, WAIT);
    let sequences = count_sequences(&committed);
    for (key, &n) in truth {
        let expected: Vec<i64> = (1..=n).collect();
        let seen = sequences.get(key).cloned().unwrap_or_default();
        assert!(
            seen == expected,
            "{key}: read_committed output is not 1..={n}: {} records, first differences at {:?}",
            seen.len(),
            seen.iter()
                .zip(&expected)
                .position(|(a, b)| a != b)
                .or(Some(seen.len().min(expected.len())))
        );
    }
    assert_eq!(
        sequences.len(),
        truth.len(),
        "no output for keys never sent"
    );
    assert!(everything.len() >= committed.len());
    everything.len() - committed.len()
}

fn kill_at_random_points(kills: usize, exactly_once: bool) {
    let name = if exactly_once {
        "eos-kill"
    } else {
        "alos-kill"
    };
    let scenario = Scenario::new(name);
    let dir = tempfile::tempdir().unwrap();
    let mut random = Random::from_env();
    let input = Input::start(&scenario);
    for kill in 0..kills {
        let app = App::spawn(&scenario, dir.path(), exactly_once, &[]);
        // Half the kills land while the instance starts, joins and restores; the others
        // while it runs, at any point of its 200 ms commit cycle.
        if kill % 2 == 1 {
            app.wait_running(&format!("kill {kill}"));
            std::thread::sleep(Duration::from_millis(random.below(1_500)));
        } else {
            std::thread::sleep(Duration::from_millis(200 + random.below(3_000)));
        }
        app.kill();
    }
    let truth = input.stop();
    let total: i64 = truth.values().sum();

    let app = App::spawn(&scenario, dir.path(), exactly_once, &[]);
    app.wait_running("the last instance");
    let lag = wait_for_no_lag(&scenario, total, Duration::from_secs(90));
    assert_eq!(lag, 0, "the last instance consumed its whole input");
    let counts = app.stop();
    eprintln!("{name}: {kills} kills, {total} input records");

    if exactly_once {
        assert_eq!(counts, truth, "the store counts every record exactly once");
        let aborted = assert_exactly_once_output(&scenario, &truth);
        eprintln!("{name}: the output log holds {aborted} records of aborted transactions");
        // Instances killed mid-transaction leave records that their successors abort: the
        // isolation above was tested, not vacuous.
        assert!(aborted > 0, "no kill landed inside a transaction");
        assert_eq!(restored_counts(&scenario, true), truth, "the changelog");
    } else {
        let output = latest_counts(&read_until(
            &scenario.servers,
            &scenario.output,
            false,
            WAIT,
            |r| {
                let latest = latest_counts(r);
                truth.iter().all(|(k, n)| latest.get(k) >= Some(n))
            },
        ));
        for (key, n) in &truth {
            let counted = counts.get(key).copied().unwrap_or(0);
            assert!(counted >= *n, "{key}: counted {counted}, sent {n}");
            assert!(
                output.get(key) >= Some(n),
                "{key}: output {:?}",
                output.get(key)
            );
        }
        let over: i64 = truth.iter().map(|(k, n)| counts[k] - n).sum();
        eprintln!("{name}: {over} records counted more than once (allowed at least once)");
        let restored = restored_counts(&scenario, false);
        assert_eq!(restored, counts, "the changelog holds what the store held");
    }
}

#[test]
fn at_least_once_under_sigkill_loses_nothing() {
    kill_at_random_points(20, false);
}

#[test]
fn exactly_once_under_sigkill_loses_and_duplicates_nothing() {
    kill_at_random_points(20, true);
}

#[test]
#[ignore = "the long fault run (100 kill points, several minutes); run with --ignored"]
fn at_least_once_under_sigkill_loses_nothing_long() {
    kill_at_random_points(100, false);
}

#[test]
#[ignore = "the long fault run (100 kill points, several minutes); run with --ignored"]
fn exactly_once_under_sigkill_loses_and_duplicates_nothing_long() {
    kill_at_random_points(100, true);
}

/// Exactly-once reads its input `read_committed`: records that a transactional producer
/// aborted are never counted, those it committed are, once each.
#[test]
fn exactly_once_skips_input_of_aborted_transactions() {
    let scenario = Scenario::new("eos-aborted-input");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &scenario.servers)
        .set(
            "transactional.id",
            format!("{}-writer", scenario.application_id),
        )
        .create()
        .expect("a transactional producer");
    producer
        .init_transactions(Duration::from_secs(30))
        .expect("init");
    for (round, commit) in [(0, false), (1, true), (2, false), (3, true)] {
        producer.begin_transaction().expect("begin");
        for i in 0..50 {
            let key = format!("{}-{}", if commit { "kept" } else { "aborted" }, i % 5);
            let value = format!("{round}");
            producer
                .send(BaseRecord::to(&scenario.input).key(&key).payload(&value))
                .expect("queued");
        }
        if commit {
            producer
                .commit_transaction(Duration::from_secs(30))
                .expect("commit");
        } else {
            producer.flush(Duration::from_secs(30)).expect("flushed");
            producer
                .abort_transaction(Duration::from_secs(30))
                .expect("abort");
        }
    }
    let truth: HashMap<String, i64> = (0..5).map(|i| (format!("kept-{i}"), 20)).collect();
    let everything = read_to_end(&scenario.servers, &scenario.input, false, WAIT);
    assert_eq!(
        everything.len(),
        200,
        "the input log holds the aborted records too"
    );

    let dir = tempfile::tempdir().unwrap();
    let app = App::spawn(&scenario, dir.path(), true, &[]);
    app.wait_running("the instance");
    let output = read_until(&scenario.servers, &scenario.output, true, WAIT, |r| {
        latest_counts(r) == truth
    });
    let counts = app.stop();
    assert_eq!(
        latest_counts(&output),
        truth,
        "the output counts committed input only"
    );
    assert_eq!(counts, truth, "the store counts committed input only");
    let aborted = assert_exactly_once_output(&scenario, &truth);
    assert_eq!(aborted, 0, "this application aborted nothing");
}

/// A zombie: an exactly-once instance is frozen (SIGSTOP) in the middle of its work, past
/// its transaction timeout and its group session; another instance takes its partitions
/// over; then the zombie resumes (SIGCONT). The broker has aborted the zombie's open
/// transaction and bumped its producer epoch, and the group has moved to a new
/// generation, so nothing the zombie wrote becomes visible: the committed output is still
/// exactly 1..=n per key and the changelog counts each record once.
#[test]
fn a_zombie_paused_past_its_transaction_timeout_is_fenced() {
    let scenario = Scenario::new("eos-zombie");
    let input = Input::start(&scenario);
    let timeout = ["--transaction-timeout-ms", "5000"];
    let (zombie_dir, successor_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let zombie = App::spawn(&scenario, zombie_dir.path(), true, &timeout);
    zombie.wait_running("the zombie-to-be");
    std::thread::sleep(Duration::from_millis(2_000));
    zombie.signal("-STOP");
    let frozen = Instant::now();

    // The successor gets every partition once the frozen member's session (6 s) expires.
    let successor = App::spawn(&scenario, successor_dir.path(), true, &timeout);
    successor.wait_running("the successor");
    // Past the transaction timeout and the broker's abort of timed-out transactions.
    let past = Duration::from_secs(9);
    std::thread::sleep(past.saturating_sub(frozen.elapsed()));
    zombie.signal("-CONT");
    // The zombie finds itself fenced, rejoins, and both share the partitions.
    std::thread::sleep(Duration::from_secs(8));

    let truth = input.stop();
    let total: i64 = truth.values().sum();
    let lag = wait_for_no_lag(&scenario, total, Duration::from_secs(90));
    assert_eq!(lag, 0, "the two instances consumed the whole input");
    zombie.close();
    successor.close();
    let aborted = assert_exactly_once_output(&scenario, &truth);
    eprintln!("eos-zombie: the output log holds {aborted} records of aborted transactions");
    assert_eq!(restored_counts(&scenario, true), truth, "the changelog");
}
