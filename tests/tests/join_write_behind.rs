//! Stream-stream joins keep each side's recent records in a typed in-memory buffer and write
//! them behind to the side's window store (and its changelog) at each commit; the store is
//! read only for what the buffer does not hold: after a restart, and what was spilled to
//! keep within the cache budget. None of that may change a join's output: a restart from the
//! changelogs mid-stream, a crash between a write-behind and its checkpoint, and any cache
//! budget give what an uninterrupted run with a large budget gives.

use std::path::Path;
use std::time::Duration;

use integration_tests::changelogs::Changelogs;
use streams_core::{Headers, RawRecord, StoreEngine, Task, Topology};
use streams_dsl::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Inner,
    Left,
    Outer,
}

fn show(v: Option<&String>) -> &str {
    v.map_or("null", String::as_str)
}

/// `left ⋈ right` within 20 ms, grace 10 ms, into `out`.
fn topology(kind: Kind, engine: StoreEngine) -> Topology {
    let builder = StreamsBuilder::new();
    let left = builder.stream::<String, String>("left");
    let right = builder.stream::<String, String>("right");
    let windows = JoinWindows::of_time_difference_and_grace(
        Duration::from_millis(20),
        Duration::from_millis(10),
    );
    let joined = StreamJoined::new()
        .with_store_name("wb")
        .with_store_engine(engine.clone());
    let out = match kind {
        Kind::Inner => left.join_with(&right, |l, r| format!("{l}+{r}"), windows, joined),
        Kind::Left => {
            left.left_join_with(&right, |l, r| format!("{l}+{}", show(r)), windows, joined)
        }
        Kind::Outer => left.outer_join_with(
            &right,
            |l, r| format!("{}+{}", show(l), show(r)),
            windows,
            joined,
        ),
    };
    out.to("out");
    builder.build().expect("builds")
}

/// One input record: `(to the left side, key, value, time)`.
type Input = (bool, String, String, i64);

/// `n` records alternating between the sides in runs, over 7 keys, about 3 ms apart and out
/// of order by up to 16 ms (so some are joined late within grace and some are too late
/// for the retention), with duplicates (the same key and time on one side).
fn input(n: i64) -> Vec<Input> {
    (0..n)
        .map(|i| {
            let left = (i / 3) % 2 == 0;
            let key = format!("k{}", (i * 5) % 7);
            let time = (3 * i - (i * 37 % 5) * 4).max(0);
            let time = if i % 11 == 0 {
                (time - 45).max(0)
            } else {
                time
            };
            let time = if i % 13 == 1 { 3 * (i - 1) } else { time };
            let value = format!("{}{i}", if left { "L" } else { "R" });
            (left, key, value, time)
        })
        .collect()
}

/// `(key, value, time)` of the join's output so far.
fn out(driver: &TopologyTestDriver) -> Vec<(String, String, i64)> {
    driver
        .output_topic::<String, String>("out")
        .expect("out")
        .read_records_to_list()
        .expect("reads")
        .into_iter()
        .map(|r| {
            (
                r.key.expect("a key"),
                r.value.expect("a value"),
                r.timestamp.expect("a time"),
            )
        })
        .collect()
}

fn pipe(driver: &TopologyTestDriver, records: &[Input]) {
    let left = driver.input_topic::<String, String>("left").expect("left");
    let right = driver
        .input_topic::<String, String>("right")
        .expect("right");
    for (to_left, key, value, time) in records {
        let topic = if *to_left { &left } else { &right };
        topic
            .pipe_key_value_at(key.clone(), value.clone(), *time)
            .expect("pipes");
    }
}

/// A driver on `topology` with a cache budget of `budget` bytes; with `commit_every`, the
/// caches are flushed (and the buffers written behind) only every that many records.
fn driver(topology: Topology, budget: usize, commit_every: Option<usize>) -> TopologyTestDriver {
    let config = StreamsConfig::new("join-write-behind").cache_max_bytes(budget);
    let driver = TopologyTestDriver::new(topology, config).expect("driver");
    driver.flush_caches_after_each_record(commit_every.is_none());
    driver
}

/// Pipes `records` in chunks of `commit_every` (all at once without), committing after
/// each chunk and restarting after the chunk that ends at `restart_at`.
fn run(
    driver: &TopologyTestDriver,
    records: &[Input],
    commit_every: Option<usize>,
    restart_at: Option<usize>,
) -> Vec<(String, String, i64)> {
    let chunk = commit_every.unwrap_or(1);
    let mut got = Vec::new();
    for (i, records) in records.chunks(chunk).enumerate() {
        pipe(driver, records);
        driver.commit().expect("commits");
        got.extend(out(driver));
        if restart_at == Some((i + 1) * chunk) {
            driver.restart().expect("restarts");
        }
    }
    got
}

#[test]
fn a_restart_from_the_changelogs_mid_stream_continues_exactly() {
    let records = input(400);
    for engine in [StoreEngine::RocksDb, StoreEngine::InMemory] {
        for kind in [Kind::Inner, Kind::Left, Kind::Outer] {
            for commit_every in [None, Some(25)] {
                let at = format!("{kind:?} on {engine:?}, commit every {commit_every:?}");
                let expected = run(
                    &driver(topology(kind, engine.clone()), 10 << 20, commit_every),
                    &records,
                    commit_every,
                    None,
                );
                assert!(expected.len() > 40, "{at}: {}", expected.len());
                for restart_at in [50, 175, 300] {
                    let restarted = run(
                        &driver(topology(kind, engine.clone()), 10 << 20, commit_every),
                        &records,
                        commit_every,
                        Some(restart_at),
                    );
                    assert_eq!(restarted, expected, "{at}, restarted after {restart_at}");
                }
            }
        }
    }
}

#[test]
fn results_do_not_depend_on_how_much_of_the_buffers_the_budget_keeps_in_memory() {
    let records = input(500);
    for engine in [StoreEngine::RocksDb, StoreEngine::InMemory] {
        for kind in [Kind::Inner, Kind::Left, Kind::Outer] {
            let mut outcomes = Vec::new();
            for budget in [0, 200, 1_500, 10 << 20] {
                let driver = driver(topology(kind, engine.clone()), budget, Some(40));
                outcomes.push((budget, run(&driver, &records, Some(40), None)));
            }
            let (_, expected) = &outcomes[outcomes.len() - 1];
            assert!(expected.len() > 40, "{kind:?}: {}", expected.len());
            for (budget, got) in &outcomes {
                assert_eq!(got, expected, "{kind:?} on {engine:?}, budget {budget}");
            }
        }
    }
}

/// What a task produced: the joined rows, and the changelog records by topic.
#[derive(Default)]
struct Produced {
    rows: Vec<(String, String, i64)>,
    changelogs: Changelogs,
}

impl Produced {
    fn drain(&mut self, task: &mut Task) {
        task.drain_output_with(|r| {
            let text = |b: &[u8]| String::from_utf8(b.to_vec()).expect("utf-8");
            if r.topic == "out" {
                self.rows.push((
                    text(r.key.expect("a key")),
                    text(r.value.expect("a value")),
                    r.timestamp,
                ));
            } else {
                self.changelogs.keep(&r);
            }
        });
    }

    /// The offset of the last record of each changelog topic: what a commit covers.
    fn offsets(&self) -> Vec<(String, i64)> {
        self.changelogs.offsets()
    }
}

/// A task of `topology` on the state in `dir`, restored as the runtime restores: each
/// changelog from just after the checkpoint on.
fn open(topology: &Topology, dir: &Path, produced: &Produced, budget: usize) -> Task {
    let config = StreamsConfig::new("join-write-behind")
        .state_dir(dir)
        .cache_max_bytes(budget);
    let mut task = topology.create_task(0, 0, &config).expect("task");
    produced.changelogs.restore(&mut task);
    task
}

fn raw(records: &[Input], left: bool) -> Vec<RawRecord> {
    records
        .iter()
        .enumerate()
        .filter(|(_, r)| r.0 == left)
        .map(|(offset, (_, key, value, time))| RawRecord {
            offset: offset as i64,
            timestamp: *time,
            key: Some(key.clone().into_bytes()),
            value: Some(value.clone().into_bytes()),
            headers: Headers::new(),
        })
        .collect()
}

fn process(task: &mut Task, records: &[Input], produced: &mut Produced) {
    task.add_records("left", raw(records, true)).expect("left");
    task.add_records("right", raw(records, false))
        .expect("right");
    while task.process_next().expect("processes") {}
    produced.drain(task);
}

#[test]
fn a_crash_between_the_write_behind_and_the_checkpoint_loses_and_doubles_nothing() {
    let records = input(450);
    let batches = [&records[..150], &records[150..300], &records[300..]];
    for kind in [Kind::Inner, Kind::Left, Kind::Outer] {
        for budget in [10 << 20, 300] {
            let at = format!("{kind:?}, budget {budget}");
            let topology = topology(kind, StoreEngine::RocksDb);

            // Uninterrupted: three batches, a commit after each.
            let dir = tempfile::tempdir().unwrap();
            let mut whole = Produced::default();
            let mut task = open(&topology, dir.path(), &whole, budget);
            for batch in batches {
                process(&mut task, batch, &mut whole);
                task.commit([]).unwrap();
                whole.drain(&mut task);
            }
            task.close();
            assert!(whole.rows.len() > 40, "{at}: {}", whole.rows.len());

            // Interrupted: the second batch is written behind (buffers flushed, changelog
            // records sent) but the task dies before its checkpoint.
            let dir = tempfile::tempdir().unwrap();
            let mut produced = Produced::default();
            let mut task = open(&topology, dir.path(), &produced, budget);
            process(&mut task, batches[0], &mut produced);
            task.flush_caches().unwrap();
            produced.drain(&mut task);
            task.commit(produced.offsets()).unwrap();
            process(&mut task, batches[1], &mut produced);
            task.prepare_commit([]).unwrap();
            produced.drain(&mut task);
            drop(task);

            // Reopened on the same local state, restored from the checkpoint on: the input up
            // to the write-behind was processed, the next records follow it.
            let mut task = open(&topology, dir.path(), &produced, budget);
            process(&mut task, batches[2], &mut produced);
            task.commit([]).unwrap();
            produced.drain(&mut task);
            assert_eq!(produced.rows, whole.rows, "{at}: everything emitted");
        }
    }
}
