//! Lateness under a backlog, on Apache Kafka (started by `scripts/kafka.sh`, or
//! `STREAMS_TEST_BOOTSTRAP_SERVERS`): an orders application groups by user (a repartition
//! topic written by two upstream tasks) into tumbling windows with a short grace, with a
//! late-records topic. The same input is run live (produced while the application runs), as
//! a backlog (preloaded, the application started after), and as a backlog with a restart
//! half-way. A
//! backlog must not turn on-time records late: the upstream tasks must advance together in
//! event time, or the records of the one behind arrive at the windowed task after the other
//! has pushed its stream time past their windows.
//!
//! The stated bound, for the backlog with and without a restart: at most three times the
//! live run's late share plus 10 % of the input. Before pacing the backlog made 47 % late;
//! with it, 0 % under load and 0.1-8 % on an idle machine, which is not yet the goal (a few
//! times the live share): the bound catches a regression to the old behaviour.

use std::time::{Duration, Instant};

use integration_tests::broker::Broker;
use integration_tests::init_tracing;
use integration_tests::kafka::{create_topics, read_to_end, Sender, TimedRecord};
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(180);
const ORDERS: usize = 20_000;
/// Event time advances 10 ms per order (100 orders per second of event time), with a
/// jitter of up to 400 ms: the live run sees a little disorder, well within the grace.
const STEP_MS: i64 = 10;
const BASE: i64 = 1_700_000_000_000;

struct Run {
    app: String,
    input: String,
    output: String,
    late: String,
}

impl Run {
    fn new(name: &str) -> Self {
        let broker = Broker::shared();
        let run = Run {
            app: broker.name(name),
            input: broker.name(&format!("{name}-orders")),
            output: broker.name(&format!("{name}-counts")),
            late: broker.name(&format!("{name}-late")),
        };
        create_topics(
            broker.bootstrap_servers(),
            &[(&run.input, 2), (&run.output, 2), (&run.late, 1)],
        );
        run
    }

    fn topology(&self) -> Topology {
        let builder = StreamsBuilder::new();
        builder
            .stream::<String, String>(&self.input)
            .group_by_with(|_, user| user.clone(), Grouped::named("by-user"))
            .windowed_by(TimeWindows::of_size_and_grace(
                Duration::from_secs(10),
                Duration::from_secs(1),
            ))
            .with_late_records_topic(&self.late)
            .count()
            .to_stream()
            .map(|k, n| (k.key, n))
            .to(&self.output);
        builder.build().expect("the topology builds")
    }

    fn start(&self, dir: &std::path::Path) -> KafkaStreams {
        let config = StreamsConfig::new(&self.app)
            .bootstrap_servers(Broker::shared().bootstrap_servers())
            .state_dir(dir)
            .commit_interval(Duration::from_millis(500))
            .consumer_property("session.timeout.ms", "6000")
            .consumer_property("heartbeat.interval.ms", "1000");
        let streams = KafkaStreams::new(self.topology(), config);
        streams.start().expect("the application starts");
        assert!(streams.wait_for(State::Running, WAIT));
        streams
    }

    /// Orders `from..to`: key the order id (spread over both partitions), value the user
    /// (20 users), time rising with a small jitter.
    fn send(&self, sender: &Sender, from: usize, to: usize) {
        let owned: Vec<(String, String, i64)> = (from..to)
            .map(|i| {
                let jitter = ((i * 7919) % 41) as i64 * STEP_MS;
                (
                    format!("order-{i}"),
                    format!("user-{}", i % 20),
                    BASE + i as i64 * STEP_MS + jitter,
                )
            })
            .collect();
        let records: Vec<TimedRecord<'_>> = owned
            .iter()
            .map(|(k, v, t)| (Some(k.as_bytes()), v.as_bytes(), Some(*t)))
            .collect();
        sender.send_all(&self.input, &records);
    }

    /// Waits until the application has processed `n` records (each order is processed
    /// twice: by the upstream task and by the windowed one).
    fn wait_processed(&self, streams: &KafkaStreams, n: u64) {
        let deadline = Instant::now() + WAIT;
        while streams.metrics().processed < n {
            assert!(
                Instant::now() < deadline,
                "processed {}",
                streams.metrics().processed
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn late_share(&self) -> f64 {
        let servers = Broker::shared().bootstrap_servers();
        read_to_end(servers, &self.late, false, WAIT).len() as f64 / ORDERS as f64
    }
}

#[test]
fn a_backlog_turns_no_more_records_late_than_a_live_run() {
    init_tracing();
    let servers = Broker::shared().bootstrap_servers();
    let sender = Sender::new(servers);

    // Live: produced in small batches while the application runs.
    let live = Run::new("live");
    let dir = tempfile::tempdir().unwrap();
    let streams = live.start(dir.path());
    for from in (0..ORDERS).step_by(200) {
        live.send(&sender, from, from + 200);
        std::thread::sleep(Duration::from_millis(20));
    }
    live.wait_processed(&streams, 2 * ORDERS as u64);
    assert!(streams.close(WAIT));
    let live_share = live.late_share();

    // Backlog: everything preloaded, the application started after.
    let backlog = Run::new("backlog");
    backlog.send(&sender, 0, ORDERS);
    let dir = tempfile::tempdir().unwrap();
    let streams = backlog.start(dir.path());
    backlog.wait_processed(&streams, 2 * ORDERS as u64);
    assert!(streams.close(WAIT));
    let backlog_share = backlog.late_share();

    // The same, closed half-way and started again.
    let restarted = Run::new("restarted");
    restarted.send(&sender, 0, ORDERS);
    let dir = tempfile::tempdir().unwrap();
    let streams = restarted.start(dir.path());
    restarted.wait_processed(&streams, ORDERS as u64);
    assert!(streams.close(WAIT));
    let done = streams.metrics().processed;
    let streams = restarted.start(dir.path());
    restarted.wait_processed(&streams, (2 * ORDERS as u64).saturating_sub(done));
    assert!(streams.close(WAIT));
    let restarted_share = restarted.late_share();

    eprintln!(
        "late records: live {:.3} %, backlog {:.3} %, backlog with a restart {:.3} % of {ORDERS}",
        live_share * 100.0,
        backlog_share * 100.0,
        restarted_share * 100.0
    );
    // Not yet within a few times the live share on an idle machine (0.1-8 % measured,
    // against 47 % before pacing; 0 % under load): the bound catches a return of the old
    // behaviour, and what still turns late is an open problem (the repartition topic then
    // holds stretches of one upstream task's records several seconds ahead of the other's).
    assert!(
        backlog_share <= 3.0 * live_share + 0.10,
        "a backlog made {:.2} % of the records late, a live run {:.2} %",
        backlog_share * 100.0,
        live_share * 100.0
    );
    assert!(
        restarted_share <= 3.0 * live_share + 0.10,
        "a backlog with a restart made {:.2} % of the records late, a live run {:.2} %",
        restarted_share * 100.0,
        live_share * 100.0
    );
}
