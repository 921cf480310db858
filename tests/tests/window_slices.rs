//! Hopping windows counted on close are kept by slices (each record folded once, into its
//! slice; a window's count merged from its slices when it closes), while an `aggregate`
//! that counts the same way, having no merge, keeps each window. Both must give the same
//! results, store the same windows (what queries and a restore from the changelog see), and
//! carry on alike after a restart from the changelog, whatever the order of the records, the
//! grace, the commits and the cache budget (which, when the slices outgrow it, moves their
//! windows to the per-window state).

use std::path::Path;
use std::time::Duration;

use integration_tests::changelogs::Changelogs;
use proptest::prelude::*;
use streams_core::{
    Headers, RawRecord, StreamsConfig, Task, Topology, ValueAndTimestamp, WindowStore,
};
use streams_dsl::prelude::*;

/// Counts per key in `windows`, emitted on close, on RocksDB: by `count` (sliced), or by an
/// `aggregate` that counts (per window); stored for 1 s with `long_retention` (else as long
/// as windows stay open).
fn topology(windows: TimeWindows, sliced: bool, long_retention: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let windowed = builder
        .stream::<String, String>("words")
        .group_by_key()
        .windowed_by(windows)
        .emit_strategy(EmitStrategy::OnWindowClose);
    let materialized = || {
        let materialized = Materialized::named("counts");
        if long_retention {
            materialized.with_retention(Duration::from_secs(1))
        } else {
            materialized
        }
    };
    let counts = if sliced {
        windowed.count_with(materialized())
    } else {
        windowed.aggregate_with(|| 0i64, |_, _, n| n + 1, materialized())
    };
    counts
        .to_stream()
        .map(|k, v| (format!("{}@{}", k.key, k.window.start), v))
        .to("counts-out");
    builder.build().expect("builds")
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

/// The task of `topology` in `dir`, restored from `produced`'s changelogs after the
/// checkpoint, with a cache budget of `budget` bytes.
fn open(topology: &Topology, dir: &Path, produced: &Produced, budget: usize) -> Task {
    let config = StreamsConfig::new("app")
        .state_dir(dir)
        .cache_max_bytes(budget)
        .windowed_aggregation_emit_interval(Duration::ZERO);
    let mut task = topology.create_task(0, 0, &config).expect("task");
    produced.changelogs.restore(&mut task);
    task
}

/// Every window the store holds: (key, start, count).
fn stored(task: &Task) -> Vec<(String, i64, i64)> {
    task.store::<WindowStore<String, ValueAndTimestamp<i64>>>("counts")
        .expect("store")
        .all()
        .expect("scan")
        .into_iter()
        .map(|(key, start, v)| (key, start, v.value))
        .collect()
}

/// How a run goes: the records (key, time), after which records to commit, and after which
/// commit to crash and restart from the changelog.
#[derive(Clone, Debug)]
struct Run {
    windows: TimeWindows,
    records: Vec<(u8, i64)>,
    commit_every: usize,
    restart_after: Option<usize>,
    budget: usize,
    long_retention: bool,
}

/// The rows emitted, and the stored windows after each commit.
type Outcome = (Vec<(String, i64)>, Vec<Vec<(String, i64, i64)>>);

fn outcome(run: &Run, sliced: bool) -> Outcome {
    let topology = topology(run.windows, sliced, run.long_retention);
    let dir = tempfile::tempdir().unwrap();
    let mut produced = Produced::default();
    let mut task = open(&topology, dir.path(), &produced, run.budget);
    let mut snapshots = Vec::new();
    let chunks: Vec<&[(u8, i64)]> = run.records.chunks(run.commit_every).collect();
    let mut offset = 0;
    for (i, chunk) in chunks.iter().enumerate() {
        let batch: Vec<RawRecord> = chunk
            .iter()
            .map(|&(key, t)| {
                offset += 1;
                RawRecord {
                    offset,
                    timestamp: t,
                    key: Some(format!("k{key}").into_bytes()),
                    value: Some(b"x".to_vec()),
                    headers: Headers::new(),
                }
            })
            .collect();
        task.add_records("words", batch).expect("known topic");
        while task.process_next().expect("processes") {}
        task.flush_caches().unwrap();
        produced.drain(&mut task);
        task.commit(produced.offsets()).unwrap();
        produced.drain(&mut task);
        snapshots.push(stored(&task));
        if run.restart_after == Some(i) {
            drop(task);
            task = open(&topology, dir.path(), &produced, run.budget);
            assert_eq!(
                stored(&task),
                snapshots[snapshots.len() - 1],
                "restored as committed"
            );
        }
    }
    (produced.rows, snapshots)
}

fn runs() -> impl Strategy<Value = Run> {
    let windows = (2u64..12, 1u64..6, prop_oneof![Just(0u64), 1u64..10]).prop_map(
        |(size, advance, grace)| {
            TimeWindows::of_size_and_grace(
                Duration::from_millis(size),
                Duration::from_millis(grace),
            )
            .advance_by(Duration::from_millis(advance.min(size - 1)))
        },
    );
    // Mostly in time order, some records late by up to 15 ms.
    let records = prop::collection::vec((0u8..4, 0i64..8, prop::bool::weighted(0.2)), 1..120)
        .prop_map(|steps| {
            let mut now = 0;
            steps
                .into_iter()
                .map(|(key, step, late)| {
                    now += step;
                    (key, if late { (now - 15).max(0) } else { now })
                })
                .collect()
        });
    (
        windows,
        records,
        1usize..40,
        prop::option::of(0usize..4),
        prop_oneof![Just(0usize), Just(700), Just(10 << 20)],
        any::<bool>(),
    )
        .prop_map(
            |(windows, records, commit_every, restart_after, budget, long_retention)| Run {
                windows,
                records,
                commit_every,
                restart_after,
                budget,
                long_retention,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sliced_counts_emit_and_store_what_per_window_counts_do(run in runs()) {
        let per_window = outcome(&run, false);
        let sliced = outcome(&run, true);
        prop_assert_eq!(&sliced.0, &per_window.0, "emitted rows");
        prop_assert_eq!(&sliced.1, &per_window.1, "stored windows after each commit");
    }
}

#[test]
fn hopping_counts_on_close_are_their_windows_records_and_stay_queryable_after_close() {
    // 10 ms windows hopping by 4 ms (slices of 2 ms), records in time order with one late.
    let windows = TimeWindows::of_size_and_grace(Duration::from_millis(10), Duration::ZERO)
        .advance_by(Duration::from_millis(4));
    let run = Run {
        windows,
        records: vec![(0, 1), (1, 3), (0, 5), (0, 9), (1, 13), (0, 2), (1, 30)],
        commit_every: 100,
        restart_after: None,
        budget: 10 << 20,
        long_retention: true,
    };
    let (rows, snapshots) = outcome(&run, true);
    // At 13, window 0 closes (end + grace <= 13): the record at 2 that follows is too late
    // for it, its only window. At 30 windows 4, 8, 12, 16 and 20 close (16 and 20 empty).
    let expected: Vec<(String, i64)> = [
        ("k0@0", 3),
        ("k1@0", 1),
        ("k0@4", 2),
        ("k1@4", 1),
        ("k0@8", 1),
        ("k1@8", 1),
        ("k1@12", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_owned(), n))
    .collect();
    assert_eq!(rows, expected);
    // The store answers for closed windows as for open ones.
    let store = &snapshots[0];
    assert!(store.contains(&("k0".to_owned(), 0, 3)), "{store:?}");
    assert!(store.contains(&("k1".to_owned(), 12, 1)), "{store:?}");
    assert!(
        store.contains(&("k1".to_owned(), 24, 1)),
        "open window: {store:?}"
    );
}
