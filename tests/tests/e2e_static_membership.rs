//! Static group membership on Apache Kafka (started by `scripts/kafka.sh`, or
//! `STREAMS_TEST_BOOTSTRAP_SERVERS`): a rolling restart of three instances that each have a
//! `group.instance.id` triggers no rebalance, as long as each comes back within the session
//! timeout, and counting goes on from the restored state. Each instance runs two stream
//! threads, which must not fence each other.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use integration_tests::broker::Broker;
use integration_tests::elastic::counting_topology;
use integration_tests::init_tracing;
use integration_tests::kafka::{create_topics, latest_counts, produce, read_until};
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(120);
const KEYS: usize = 30;

/// One instance of the counting application, with the rebalances it went through while
/// running (transitions from running to rebalancing).
struct Instance {
    streams: KafkaStreams,
    rebalances: Arc<AtomicUsize>,
}

fn start(app: &str, input: &str, output: &str, id: &str, dir: &std::path::Path) -> Instance {
    let config = StreamsConfig::new(app)
        .bootstrap_servers(Broker::shared().bootstrap_servers())
        .state_dir(dir)
        .commit_interval(Duration::from_millis(200))
        .group_instance_id(id)
        // Two threads: each joins under an id of its own (`<id>-0`, `<id>-1`).
        .num_stream_threads(2)
        // Long enough for a restart, short enough for the test.
        .consumer_property("session.timeout.ms", "30000")
        .consumer_property("heartbeat.interval.ms", "1000");
    let streams = KafkaStreams::new(counting_topology(input, output), config);
    let rebalances = Arc::new(AtomicUsize::new(0));
    let seen = rebalances.clone();
    streams.on_state_change(move |from, to| {
        if from == State::Running && to == State::Rebalancing {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    streams.start().expect("the instance starts");
    Instance {
        streams,
        rebalances,
    }
}

fn send_round(input: &str, round: usize) {
    let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();
    let value = round.to_string();
    let records: Vec<(Option<&[u8]>, &[u8])> = keys
        .iter()
        .map(|k| (Some(k.as_bytes()), value.as_bytes()))
        .collect();
    produce(Broker::shared().bootstrap_servers(), input, &records);
}

fn wait_counted(output: &str, rounds: i64) {
    let expected: HashMap<String, i64> = (0..KEYS).map(|i| (format!("k{i}"), rounds)).collect();
    let out = read_until(
        Broker::shared().bootstrap_servers(),
        output,
        false,
        WAIT,
        |r| latest_counts(r) == expected,
    );
    assert_eq!(latest_counts(&out), expected);
}

#[test]
fn a_rolling_restart_of_static_members_triggers_no_rebalance() {
    init_tracing();
    let broker = Broker::shared();
    let (app, input, output) = (
        broker.name("static"),
        broker.name("static-input"),
        broker.name("static-counts"),
    );
    create_topics(broker.bootstrap_servers(), &[(&input, 6), (&output, 6)]);
    let ids = ["host-a", "host-b", "host-c"];
    let dirs: Vec<_> = ids.iter().map(|_| tempfile::tempdir().unwrap()).collect();
    let mut instances: Vec<Instance> = ids
        .iter()
        .zip(&dirs)
        .map(|(id, dir)| start(&app, &input, &output, id, dir.path()))
        .collect();
    // The group settles: the members' joins rebalance it a few times while they start.
    for instance in &instances {
        assert!(instance.streams.wait_for(State::Running, WAIT));
    }
    send_round(&input, 1);
    wait_counted(&output, 1);

    for (i, (id, dir)) in ids.iter().zip(&dirs).enumerate() {
        let before: Vec<usize> = instances
            .iter()
            .map(|x| x.rebalances.load(Ordering::SeqCst))
            .collect();
        assert!(instances[i].streams.close(WAIT));
        instances[i] = start(&app, &input, &output, id, dir.path());
        assert!(instances[i].streams.wait_for(State::Running, WAIT));
        let round = i + 2;
        send_round(&input, round);
        wait_counted(&output, round as i64);
        for (j, other) in instances.iter().enumerate() {
            if j != i {
                assert_eq!(
                    other.rebalances.load(Ordering::SeqCst),
                    before[j],
                    "{} rebalanced when {id} restarted",
                    ids[j]
                );
            }
        }
    }
    for instance in &instances {
        assert!(instance.streams.close(WAIT));
    }
}
