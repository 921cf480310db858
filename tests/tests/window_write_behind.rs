//! Time-window aggregations keep their open windows in memory and write them behind to the
//! window store (and its changelog) at each commit. A crash between that write-behind and
//! the checkpoint leaves a RocksDB store ahead of its checkpoint: reopened and restored from
//! the checkpoint on, it must hold exactly what was written, and records that follow must
//! fold into the windows read back from it, as in a run that never stopped.

use std::path::Path;
use std::time::Duration;

use integration_tests::changelogs::Changelogs;
use streams_core::{
    Headers, RawRecord, StreamsConfig, Task, Topology, ValueAndTimestamp, WindowStore,
};
use streams_dsl::prelude::*;

/// Counts per key in tumbling 100 ms windows (emitted as `emit` says, caching as
/// `caching`), on RocksDB.
fn topology(emit: EmitStrategy, caching: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let materialized = Materialized::named("counts");
    let materialized = if caching {
        materialized
    } else {
        materialized.with_caching_disabled()
    };
    builder
        .stream::<String, String>("words")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_millis(
            100,
        )))
        .emit_strategy(emit)
        .count_with(materialized)
        .to_stream()
        .map(|k, v| (format!("{}@{}", k.key, k.window.start), v))
        .to("counts-out");
    builder.build().expect("builds")
}

/// Records `from..to`: key `k{i % 7}` at time `10 i` ms, so each 100 ms window holds ten
/// records over seven keys, and the windows of a batch carry on into the next.
fn batch(from: i64, to: i64) -> Vec<RawRecord> {
    (from..to)
        .map(|i| RawRecord {
            offset: i,
            timestamp: 10 * i,
            key: Some(format!("k{}", i % 7).into_bytes()),
            value: Some(b"x".to_vec()),
            headers: Headers::new(),
        })
        .collect()
}

/// What a task produced: the output rows, and the changelog records by topic.
#[derive(Default)]
struct Produced {
    rows: Vec<(String, i64)>,
    changelogs: Changelogs,
}

impl Produced {
    fn drain(&mut self, task: &mut Task) {
        task.drain_output_with(|r| {
            if r.topic == "counts-out" {
                let key = String::from_utf8(r.key.expect("a key").to_vec()).expect("utf-8");
                let value: [u8; 8] = r.value.expect("a count").try_into().expect("8 bytes");
                self.rows.push((key, i64::from_be_bytes(value)));
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

fn open(topology: &Topology, dir: &Path, produced: &Produced) -> Task {
    // The task's wall clock stays at 0 here: look for closed windows on every record, as
    // Kafka's test driver does, not once per second of wall-clock time.
    let config = StreamsConfig::new("app")
        .state_dir(dir)
        .windowed_aggregation_emit_interval(std::time::Duration::ZERO);
    let mut task = topology.create_task(0, 0, &config).expect("task");
    produced.changelogs.restore(&mut task);
    task
}

fn process(task: &mut Task, records: Vec<RawRecord>, produced: &mut Produced) {
    task.add_records("words", records).expect("known topic");
    while task.process_next().expect("processes") {}
    produced.drain(task);
}

fn windows(task: &Task) -> Vec<(String, i64, i64)> {
    task.store::<WindowStore<String, ValueAndTimestamp<i64>>>("counts")
        .expect("store")
        .all()
        .expect("scan")
        .into_iter()
        .map(|(key, start, v)| (key, start, v.value))
        .collect()
}

#[test]
fn a_crash_between_the_write_behind_and_the_checkpoint_loses_and_doubles_nothing() {
    for (emit, caching) in [
        (EmitStrategy::OnWindowUpdate, false),
        (EmitStrategy::OnWindowUpdate, true),
        (EmitStrategy::OnWindowClose, true),
    ] {
        let at = format!("{emit:?}, caching {caching}");
        let topology = topology(emit, caching);

        // Uninterrupted: three batches, a commit after each.
        let dir = tempfile::tempdir().unwrap();
        let mut whole = Produced::default();
        let mut task = open(&topology, dir.path(), &whole);
        for (from, to) in [(0, 25), (25, 55), (55, 90)] {
            process(&mut task, batch(from, to), &mut whole);
            task.commit([]).unwrap();
            whole.drain(&mut task);
        }
        let expected = windows(&task);
        task.close();

        // Interrupted: the second batch is written behind (stores flushed, changelog
        // records sent) but the task dies before its checkpoint.
        let dir = tempfile::tempdir().unwrap();
        let mut produced = Produced::default();
        let mut task = open(&topology, dir.path(), &produced);
        process(&mut task, batch(0, 25), &mut produced);
        task.flush_caches().unwrap();
        produced.drain(&mut task);
        task.commit(produced.offsets()).unwrap();
        process(&mut task, batch(25, 55), &mut produced);
        task.prepare_commit([]).unwrap();
        produced.drain(&mut task);
        let written = windows(&task);
        drop(task);

        let mut task = open(&topology, dir.path(), &produced);
        assert_eq!(windows(&task), written, "{at}: the store as written behind");
        // The input up to the write-behind was processed: the next records follow it.
        let before = produced.rows.len();
        process(&mut task, batch(55, 90), &mut produced);
        task.commit([]).unwrap();
        produced.drain(&mut task);
        assert_eq!(windows(&task), expected, "{at}: the store");
        let restarted_rows = &produced.rows[before..];
        let whole_rows = &whole.rows[whole.rows.len() - restarted_rows.len()..];
        assert_eq!(
            restarted_rows, whole_rows,
            "{at}: what the last batch emits"
        );
        assert_eq!(produced.rows, whole.rows, "{at}: everything emitted");
    }
}

#[test]
fn results_do_not_depend_on_how_many_windows_the_budget_keeps_in_memory() {
    for emit in [EmitStrategy::OnWindowUpdate, EmitStrategy::OnWindowClose] {
        // Caching off on update, so that every update is emitted whatever the budget.
        let topology = topology(emit, emit == EmitStrategy::OnWindowClose);
        let mut outcomes = Vec::new();
        for budget in [0, 600, 3_000, 10 << 20] {
            let dir = tempfile::tempdir().unwrap();
            let config = StreamsConfig::new("app")
                .state_dir(dir.path())
                .cache_max_bytes(budget)
                .windowed_aggregation_emit_interval(std::time::Duration::ZERO);
            let mut task = topology.create_task(0, 0, &config).expect("task");
            task.init().expect("init");
            let mut produced = Produced::default();
            // Out of order by up to 40 ms, so that some records fold into older windows
            // (read back from the store when spilled) and some are too late.
            let records = batch(0, 300).into_iter().map(|mut r| {
                r.timestamp = (r.timestamp - (r.offset * 37 % 5) * 10).max(0);
                r
            });
            for (i, record) in records.enumerate() {
                process(&mut task, vec![record], &mut produced);
                if i % 40 == 39 {
                    task.commit([]).unwrap();
                    produced.drain(&mut task);
                }
            }
            task.commit([]).unwrap();
            produced.drain(&mut task);
            outcomes.push((budget, produced.rows, windows(&task)));
        }
        let (_, rows, stored) = &outcomes[outcomes.len() - 1];
        assert!(!rows.is_empty());
        for (budget, r, s) in &outcomes {
            assert_eq!(r, rows, "{emit:?}, budget {budget}: emitted");
            assert_eq!(s, stored, "{emit:?}, budget {budget}: stored");
        }
    }
}
