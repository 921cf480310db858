//! Adding and removing stream threads while an application runs, as one scenario that runs
//! on any broker: on the mock cluster at-least-once, on Apache Kafka exactly-once as well.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, TopicPartitionList};
use streams_dsl::prelude::*;

use crate::kafka::{latest_counts, produce, read_until};

const WAIT: Duration = Duration::from_secs(60);
const KEYS: usize = 20;
const PARTITIONS: i32 = 4;

/// Counts the records of `input` by key into `output`.
pub fn counting_topology(input: &str, output: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(input)
        .group_by_key()
        .count()
        .to_stream()
        .to(output);
    builder.build().expect("the topology builds")
}

/// Runs `streams` (not started; [`counting_topology`] over `input`, which has four
/// partitions, into `output`, under the application id `app`): starts it with one thread,
/// adds a second, counts a round of records, removes the second thread (its tasks move to the
/// first with their state), counts another round, and removes the first. `read_committed`
/// reads the output as an exactly-once consumer does.
///
/// Records are sent only once a rebalance has finished and tasks move only once what was
/// counted is committed: the scenario is about state moving with the tasks, and an
/// at-least-once replay (the mock cluster refuses commits during a rebalance) would count
/// some records twice.
pub fn add_and_remove_threads(
    streams: &KafkaStreams,
    bootstrap: &str,
    app: &str,
    input: &str,
    output: &str,
    read_committed: bool,
) {
    assert!(matches!(
        streams.add_stream_thread(),
        Err(RuntimeError::IllegalState { .. })
    ));
    let rebalances = Arc::new(AtomicUsize::new(0));
    let finished = rebalances.clone();
    streams.on_state_change(move |from, to| {
        if from == State::Rebalancing && to == State::Running {
            finished.fetch_add(1, Ordering::SeqCst);
        }
    });
    streams.start().expect("the application starts");
    assert!(streams.wait_for(State::Running, WAIT));
    let send = |round: usize| {
        let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();
        let value = round.to_string();
        let records: Vec<(Option<&[u8]>, &[u8])> = keys
            .iter()
            .map(|k| (Some(k.as_bytes()), value.as_bytes()))
            .collect();
        produce(bootstrap, input, &records);
    };
    let all_counted = |n: i64| {
        let expected: HashMap<String, i64> = (0..KEYS).map(|i| (format!("k{i}"), n)).collect();
        let out = read_until(bootstrap, output, read_committed, WAIT, |r| {
            latest_counts(r) == expected
        });
        assert_eq!(latest_counts(&out), expected);
    };

    let added = streams.add_stream_thread().expect("a thread is added");
    assert_eq!(added, format!("{app}-stream-1"));
    // The new member sets off a rebalance: the instance says so at once, and runs again
    // once both threads have their tasks.
    assert_ne!(streams.state(), State::Running);
    assert!(streams.wait_for(State::Running, WAIT));
    send(1);
    all_counted(1);
    wait_until_committed(bootstrap, app, input, KEYS as i64);

    // The newest thread goes. The one left rebalances (eager: all its tasks revoked, then
    // all four assigned); the next round is sent once it has.
    let before = rebalances.load(Ordering::SeqCst);
    assert_eq!(
        streams
            .remove_stream_thread(WAIT)
            .expect("the thread stops"),
        Some(format!("{app}-stream-1"))
    );
    let deadline = Instant::now() + WAIT;
    while rebalances.load(Ordering::SeqCst) == before {
        assert!(Instant::now() < deadline, "no rebalance after the removal");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(streams.wait_for(State::Running, WAIT));
    send(2);
    all_counted(2);

    assert_eq!(
        streams
            .remove_stream_thread(WAIT)
            .expect("the thread stops"),
        Some(format!("{app}-stream-0"))
    );
    assert_eq!(streams.remove_stream_thread(WAIT).expect("none left"), None);
    assert!(streams.close(WAIT));
}

/// Waits until the offsets `group` committed on `topic` add up to `records`.
fn wait_until_committed(bootstrap: &str, group: &str, topic: &str, records: i64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .create()
        .expect("a consumer for the group's offsets");
    let mut partitions = TopicPartitionList::new();
    for p in 0..PARTITIONS {
        partitions.add_partition(topic, p);
    }
    let deadline = Instant::now() + WAIT;
    let mut committed = 0;
    while Instant::now() < deadline {
        // An error (an offset still in an open transaction) is asked again.
        if let Ok(offsets) = consumer.committed_offsets(partitions.clone(), Duration::from_secs(10))
        {
            committed = offsets
                .elements()
                .iter()
                .filter_map(|e| e.offset().to_raw())
                .filter(|o| *o >= 0)
                .sum();
            if committed >= records {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{committed} of {records} records of {topic} committed by {group}");
}
