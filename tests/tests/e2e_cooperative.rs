//! Cooperative rebalancing on Apache Kafka (started by `scripts/kafka.sh`, or
//! `STREAMS_TEST_BOOTSTRAP_SERVERS`), with KIP-848's consumer group protocol
//! (`GroupProtocol::Consumer`): a rebalance revokes only the partitions that move, so the
//! tasks that stay keep processing while an instance joins, and the broker's range assignor
//! keeps the same partition numbers of co-partitioned topics together.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use integration_tests::broker::Broker;
use integration_tests::init_tracing;
use integration_tests::kafka::{create_topics, produce, read_to_end, Sender};
use streams_core::TaskId;
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(120);
/// The bound on how long a record of a task that stays may wait while the group rebalances.
const COMMIT: Duration = Duration::from_millis(2000);
const PARTITIONS: i32 = 12;
const KEYS: usize = 120;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn config(app: &str, dir: &std::path::Path, protocol: GroupProtocol) -> StreamsConfig {
    StreamsConfig::new(app)
        .bootstrap_servers(Broker::shared().bootstrap_servers())
        .state_dir(dir)
        .commit_interval(COMMIT)
        // Every count goes out as its record is processed, not at the next commit.
        .cache_max_bytes(0)
        .group_protocol(protocol)
}

/// How many times an instance opened each task (initialized its processors).
type Openings = Arc<Mutex<HashMap<TaskId, usize>>>;

/// Passes records on unchanged, and counts the openings of its task.
struct CountOpenings(Openings);

impl FixedKeyProcessor<String, String> for CountOpenings {
    fn init(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, '_, String, String>,
    ) -> Result<(), ProcessorError> {
        let mut openings = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *openings.entry(ctx.task_id()).or_default() += 1;
        Ok(())
    }

    fn process(
        &mut self,
        record: FixedKeyRecord<String, String>,
        ctx: &mut FixedKeyProcessorContext<'_, '_, String, String>,
    ) -> Result<(), ProcessorError> {
        ctx.forward(record)
    }
}

/// Counts `input`'s records by key into `output` as `<count>,<sent>@<processed>`: the
/// count, when the last counted record was sent (its value), and when it was processed
/// (wall-clock ms). Each opening of a task is counted in `openings`.
fn stamped_counts(input: &str, output: &str, openings: Openings) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(input)
        .process_values(move || CountOpenings(openings.clone()), &[])
        .group_by_key()
        .aggregate(
            || "0,0".to_string(),
            |_, sent, counted| {
                let count: i64 = counted
                    .split(',')
                    .next()
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                format!("{},{sent}", count + 1)
            },
        )
        .to_stream()
        .map_values(|counted| format!("{}@{}", counted.unwrap_or_default(), now_ms()))
        .to(output);
    builder.build().expect("the topology builds")
}

/// Which instance runs each task, once every one of the `tasks` tasks runs on exactly one.
fn settled_owners(instances: &[&KafkaStreams], tasks: usize) -> BTreeMap<TaskId, usize> {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut owners = BTreeMap::new();
        let mut runs = 0;
        for (i, streams) in instances.iter().enumerate() {
            for task in streams.metrics().tasks {
                owners.insert(task.task_id, i);
                runs += 1;
            }
        }
        let all_ready = instances.iter().all(|s| s.state() == State::Running);
        if all_ready && owners.len() == tasks && runs == tasks {
            return owners;
        }
        assert!(
            Instant::now() < deadline,
            "tasks never settled: {owners:?} ({runs} runs)"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends rounds of one record per key to `input` every 50 ms until `stop`; counts them.
fn keep_sending(input: String, stop: Arc<AtomicBool>, rounds: Arc<AtomicUsize>) {
    let sender = Sender::new(Broker::shared().bootstrap_servers());
    let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();
    while !stop.load(Ordering::SeqCst) {
        let sent = now_ms().to_string();
        let records: Vec<_> = keys
            .iter()
            .map(|k| (Some(k.as_bytes()), sent.as_bytes(), None))
            .collect();
        sender.send_all(&input, &records);
        rounds.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// An output record: partition, key, count, when its last record was sent and when it was
/// processed.
struct Stamped {
    partition: i32,
    key: String,
    count: i64,
    sent: i64,
    at: i64,
}

fn stamped(output: &str) -> Vec<Stamped> {
    read_to_end(Broker::shared().bootstrap_servers(), output, false, WAIT)
        .into_iter()
        .map(|(partition, key, value)| {
            let value = String::from_utf8(value).expect("UTF-8");
            let (counted, at) = value.split_once('@').expect("<count>,<sent>@<processed>");
            let (count, sent) = counted.split_once(',').expect("<count>,<sent>");
            Stamped {
                partition,
                key: String::from_utf8(key).expect("UTF-8"),
                count: count.parse().expect("a count"),
                sent: sent.parse().expect("a time"),
                at: at.parse().expect("a time"),
            }
        })
        .collect()
}

/// The highest count of each key.
fn final_counts(outputs: &[Stamped]) -> HashMap<&str, i64> {
    let mut counts: HashMap<&str, i64> = HashMap::new();
    for o in outputs {
        let count = counts.entry(&o.key).or_default();
        *count = (*count).max(o.count);
    }
    counts
}

/// The longest a record of `partition` sent within `from..=to` (ms) waited to be processed:
/// a task that stops processing shows as records that wait, whereas a pause of the input
/// does not.
fn longest_wait(outputs: &[Stamped], partition: i32, from: i64, to: i64) -> i64 {
    outputs
        .iter()
        .filter(|o| o.partition == partition && (from..=to).contains(&o.sent))
        .map(|o| o.at - o.sent)
        .max()
        .unwrap_or(0)
}

#[test]
fn tasks_that_stay_keep_processing_while_a_fourth_instance_joins() {
    init_tracing();
    let broker = Broker::shared();
    let (app, input, output) = (
        broker.name("coop"),
        broker.name("coop-input"),
        broker.name("coop-counts"),
    );
    create_topics(
        broker.bootstrap_servers(),
        &[(&input, PARTITIONS), (&output, PARTITIONS)],
    );
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let openings: Vec<Openings> = (0..4).map(|_| Openings::default()).collect();
    let opened = |instance: usize, task: &TaskId| {
        let openings = openings[instance].lock().unwrap_or_else(|e| e.into_inner());
        openings.get(task).copied().unwrap_or(0)
    };
    let start = |i: usize| {
        let config = config(&app, dirs[i].path(), GroupProtocol::Consumer);
        let topology = stamped_counts(&input, &output, openings[i].clone());
        let streams = KafkaStreams::new(topology, config);
        streams.start().expect("the instance starts");
        streams
    };
    let first: Vec<KafkaStreams> = (0..3).map(start).collect();
    let three: Vec<&KafkaStreams> = first.iter().collect();
    settled_owners(&three, PARTITIONS as usize);

    let (stop, rounds) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicUsize::new(0)),
    );
    let sender = {
        let (input, stop, rounds) = (input.clone(), stop.clone(), rounds.clone());
        std::thread::spawn(move || keep_sending(input, stop, rounds))
    };
    std::thread::sleep(Duration::from_secs(3));
    let before = settled_owners(&three, PARTITIONS as usize);
    let opened_before: BTreeMap<TaskId, usize> = before
        .iter()
        .map(|(task, &owner)| (*task, opened(owner, task)))
        .collect();
    let joining = now_ms();
    let fourth = start(3);
    let mut four = three.clone();
    four.push(&fourth);
    let after = settled_owners(&four, PARTITIONS as usize);
    let settled = now_ms();
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, Ordering::SeqCst);
    sender.join().expect("the sender");
    let sent = rounds.load(Ordering::SeqCst) as i64;

    // Every key's count reaches the rounds sent: nothing lost.
    let deadline = Instant::now() + WAIT;
    let outputs = loop {
        let outputs = stamped(&output);
        let counts = final_counts(&outputs);
        let done = counts.len() == KEYS && counts.values().all(|&c| c >= sent);
        if done || Instant::now() > deadline {
            break outputs;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let short: Vec<_> = final_counts(&outputs)
        .into_iter()
        .filter(|&(_, c)| c < sent)
        .collect();
    assert!(short.is_empty(), "keys counted short of {sent}: {short:?}");
    for instance in four {
        assert!(instance.close(WAIT));
    }

    let stayed: Vec<i32> = after
        .iter()
        .filter(|(task, owner)| before.get(task) == Some(owner))
        .map(|(task, _)| task.partition)
        .collect();
    let moved: Vec<i32> = after
        .iter()
        .filter(|(task, owner)| before.get(task) != Some(owner))
        .map(|(task, _)| task.partition)
        .collect();
    assert!(
        after.values().any(|&owner| owner == 3),
        "the fourth instance got no task: {after:?}"
    );
    assert!(
        !stayed.is_empty(),
        "no task stayed: {before:?} -> {after:?}"
    );
    // The tasks that stayed were never closed: the rebalance revoked only what moved.
    for (task, owner) in after.iter().filter(|(t, o)| before.get(t) == Some(o)) {
        assert_eq!(
            opened(*owner, task),
            opened_before[task],
            "task {task} stayed on instance {owner} but was closed and opened again"
        );
    }
    let (from, to) = (joining - 1000, settled + 1000);
    let gaps = |partitions: &[i32]| -> Vec<(i32, i64)> {
        partitions
            .iter()
            .map(|p| (*p, longest_wait(&outputs, *p, from, to)))
            .collect()
    };
    let (stayed_gaps, moved_gaps) = (gaps(&stayed), gaps(&moved));
    let steady = (0..PARTITIONS)
        .map(|p| longest_wait(&outputs, p, joining - 3000, joining - 1000))
        .max()
        .unwrap_or(0);
    eprintln!("longest wait before the fourth joined: {steady} ms");
    eprintln!(
        "fourth joined in {} ms; longest waits (ms) of records of tasks that stayed \
         {stayed_gaps:?}, of tasks that moved {moved_gaps:?}",
        settled - joining
    );
    for (partition, gap) in stayed_gaps {
        assert!(
            gap < COMMIT.as_millis() as i64,
            "task 0_{partition} stayed but a record waited {gap} ms (commit interval {COMMIT:?})"
        );
    }
}

#[test]
fn co_partitioned_inputs_stay_together_as_instances_join() {
    init_tracing();
    let broker = Broker::shared();
    let (app, orders, prices, output) = (
        broker.name("coop-join"),
        broker.name("coop-orders"),
        broker.name("coop-prices"),
        broker.name("coop-priced"),
    );
    let partitions = 6;
    create_topics(
        broker.bootstrap_servers(),
        &[
            (&orders, partitions),
            (&prices, partitions),
            (&output, partitions),
        ],
    );
    let keys: Vec<String> = (0..60).map(|i| format!("item{i}")).collect();
    let price_values: Vec<String> = (0..60).map(|i| format!("p{i}")).collect();
    let records: Vec<(Option<&[u8]>, &[u8])> = keys
        .iter()
        .zip(&price_values)
        .map(|(k, v)| (Some(k.as_bytes()), v.as_bytes()))
        .collect();
    produce(broker.bootstrap_servers(), &prices, &records);

    let topology = || {
        let builder = StreamsBuilder::new();
        let prices = builder.table::<String, String>(&prices);
        builder
            .stream::<String, String>(&orders)
            .join_table(&prices, |order, price| format!("{order}={price}"))
            .to(&output);
        builder.build().expect("the topology builds")
    };
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut instances = Vec::new();
    let mut sent = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let streams = KafkaStreams::new(
            topology(),
            config(&app, dir.path(), GroupProtocol::Consumer),
        );
        streams.start().expect("the instance starts");
        instances.push(streams);
        // Orders flow while the group takes the new member in.
        for round in 0..5 {
            let order = format!("o{i}-{round}");
            let records: Vec<(Option<&[u8]>, &[u8])> = keys
                .iter()
                .map(|k| (Some(k.as_bytes()), order.as_bytes()))
                .collect();
            produce(broker.bootstrap_servers(), &orders, &records);
            sent.extend(keys.iter().map(|k| (k.clone(), order.clone())));
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    let all: Vec<&KafkaStreams> = instances.iter().collect();
    let owners = settled_owners(&all, partitions as usize);
    assert_eq!(
        owners.values().collect::<HashSet<_>>().len(),
        3,
        "every instance runs tasks: {owners:?}"
    );

    // Each order is joined with its item's price: a task that ran without its partition of
    // the prices would drop its orders (an inner join), or join them with no price.
    let expected: HashSet<(String, String)> = sent
        .iter()
        .map(|(k, order)| {
            let i: usize = k.trim_start_matches("item").parse().unwrap();
            (k.clone(), format!("{order}=p{i}"))
        })
        .collect();
    let deadline = Instant::now() + WAIT;
    let joined = loop {
        let joined: HashSet<(String, String)> =
            read_to_end(broker.bootstrap_servers(), &output, false, WAIT)
                .into_iter()
                .map(|(_, k, v)| (String::from_utf8(k).unwrap(), String::from_utf8(v).unwrap()))
                .collect();
        if joined.is_superset(&expected) || Instant::now() > deadline {
            break joined;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let missing: Vec<_> = expected.difference(&joined).take(5).collect();
    assert!(
        missing.is_empty(),
        "orders not joined with their price: {missing:?}"
    );
    assert!(
        joined.is_subset(&expected),
        "a join result with the wrong price"
    );
    for instance in &instances {
        assert!(instance.close(WAIT));
    }
}
