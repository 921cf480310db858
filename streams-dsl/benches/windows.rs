//! WORKLOADS.md's windowed workloads on RocksDB stores, driven in process through the same
//! task code as the Kafka runtime (batches of 10,000 records, a commit every 100,000):
//!
//! - W3: tumbling 1 s count per key; W4: hopping 10 s / 1 s count; W5: session count, gap 30 s;
//! - `updates`: WORKLOADS.md's "updates": one result per input record per window it updates
//!   (`OnWindowUpdate` with caching off in `Materialized`, as Kafka Streams without a record
//!   cache); `closed`: each window's final count once the watermark closes it
//!   (`OnWindowClose`), no end-of-input flush.
//!
//! Input: record i has key `"k" + (i·7919 mod 10000)`, a 16-byte value (value, event time) and
//! event time i ms, read by a timestamp extractor. Each variant checks its rows, distinct
//! windows and counts against the closed forms of WORKLOADS.md before printing its `RESULT`.
//!
//! `--keys K` (default 10,000) draws keys from K instead (`"k" + (i·7919 mod K)`), to show
//! that memory follows the budgets, not the number of keys; W3 and W4 keep their closed forms
//! (any 10,000 consecutive records have distinct keys), W5's are checked at 10,000 keys only.
//!
//! Run: `cargo bench -p streams-dsl --bench windows [-- --n 1000000 --runs 3 --keys 10000]`.

mod common;

use common::{event_time, peak_rss_mb, workload_key, workload_value, WorkloadValue};

use std::collections::HashSet;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use streams_core::{Headers, RawRecord, StreamsConfig, Task};
use streams_dsl::prelude::*;

const BATCH: u64 = 10_000;
const COMMIT_EVERY: u64 = 100_000;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    W3,
    W4,
    W5,
}

fn topology(workload: Workload, emit: EmitStrategy) -> Topology {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream_with::<String, i64>(
            &["events"],
            Consumed::with(Serdes::string(), Arc::new(WorkloadValue))
                .with_timestamp_extractor(event_time),
        )
        .group_by_key();
    let s = Duration::from_secs;
    // Every update goes downstream on update; on close, caching is as by default.
    let materialized = || match emit {
        EmitStrategy::OnWindowUpdate => Materialized::new().with_caching_disabled(),
        EmitStrategy::OnWindowClose => Materialized::new(),
    };
    let counts = match workload {
        Workload::W3 => grouped
            .windowed_by(TimeWindows::of_size_with_no_grace(s(1)))
            .emit_strategy(emit)
            .count_with(materialized()),
        Workload::W4 => grouped
            .windowed_by(TimeWindows::of_size_with_no_grace(s(10)).advance_by(s(1)))
            .emit_strategy(emit)
            .count_with(materialized()),
        Workload::W5 => grouped
            .windowed_by_sessions(SessionWindows::of_inactivity_gap_with_no_grace(s(30)))
            .emit_strategy(emit)
            .count_with(materialized()),
    };
    counts.to_stream().to("counts");
    builder.build().expect("topology")
}

/// What the output says.
#[derive(Default)]
struct Tally {
    rows: u64,
    retractions: u64,
    sum: i64,
    max: i64,
    windows: HashSet<i64>,
}

fn drain(task: &mut Task, tally: &mut Tally) {
    task.drain_output_with(|r| {
        if r.topic != "counts" {
            return;
        }
        let Some(value) = r.value else {
            tally.retractions += 1;
            return;
        };
        let key = r.key.expect("windowed key");
        let start = i64::from_be_bytes(
            key[key.len() - 16..key.len() - 8]
                .try_into()
                .expect("8 bytes"),
        );
        let count = i64::from_be_bytes(value.try_into().expect("8 bytes"));
        tally.rows += 1;
        tally.sum += count;
        tally.max = tally.max.max(count);
        tally.windows.insert(start);
    });
}

fn run(workload: Workload, emit: EmitStrategy, n: u64, keys: u64) -> (Duration, Tally) {
    let dir = tempfile::tempdir().expect("state dir");
    // Closed windows are looked for on every record (as Kafka's test driver does): the
    // task's wall clock does not move here, so a throttle of it would never look again.
    let config = StreamsConfig::new("bench")
        .state_dir(dir.path())
        .windowed_aggregation_emit_interval(Duration::ZERO);
    let mut task = topology(workload, emit)
        .create_task(0, 0, &config)
        .expect("task");
    task.init().expect("init");
    let (mut busy, mut tally) = (Duration::ZERO, Tally::default());
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        let batch: Vec<RawRecord> = (i..end)
            .map(|j| RawRecord {
                offset: j as i64,
                timestamp: 0,
                key: Some(workload_key(j, keys).into_bytes()),
                value: Some(workload_value(j)),
                headers: Headers::new(),
            })
            .collect();
        let start = Instant::now();
        task.add_records("events", batch).expect("known topic");
        while task.process_next().expect("processing succeeds") {}
        if end.is_multiple_of(COMMIT_EVERY) || end == n {
            task.flush_caches().expect("flush");
            drain(&mut task, &mut tally);
            task.commit([]).expect("commit");
        }
        busy += start.elapsed();
        drain(&mut task, &mut tally);
        i = end;
    }
    (busy, tally)
}

/// WORKLOADS.md's expected (rows, distinct windows) for N records.
fn expected(workload: Workload, emit: EmitStrategy, n: u64) -> (u64, u64) {
    let closed = emit == EmitStrategy::OnWindowClose;
    match (workload, closed) {
        (Workload::W3, false) => (n, n.div_ceil(1000)),
        (Workload::W3, true) => {
            let windows = n.saturating_sub(1) / 1000;
            (windows * 1000, windows)
        }
        (Workload::W4, false) => (10 * n - 45_000, (n - 1) / 1000 + 1),
        (Workload::W4, true) => {
            let windows = ((n - 1) / 1000).saturating_sub(9);
            (windows * 10_000, windows)
        }
        // Every record extends its key's one session: one update per record.
        (Workload::W5, false) => (n, 1),
        (Workload::W5, true) => (0, 0),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let n: u64 = arg("--n").and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let runs: usize = arg("--runs").and_then(|v| v.parse().ok()).unwrap_or(3);
    let keys: u64 = arg("--keys").and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let variants = [
        ("W3", Workload::W3),
        ("W4", Workload::W4),
        ("W5", Workload::W5),
    ];
    if let Some(only) = arg("--only") {
        let (name, mode) = only.split_once('/').expect("WORKLOAD/MODE");
        let workload = variants
            .iter()
            .find(|(w, _)| *w == name)
            .expect("a workload")
            .1;
        let emit = if mode == "closed" {
            EmitStrategy::OnWindowClose
        } else {
            EmitStrategy::OnWindowUpdate
        };
        let mut outcomes: Vec<(Duration, Tally)> =
            (0..runs).map(|_| run(workload, emit, n, keys)).collect();
        outcomes.sort_by_key(|(busy, _)| *busy);
        let (busy, tally) = &outcomes[outcomes.len() / 2];
        let (rows, windows) = expected(workload, emit, n);
        if workload != Workload::W5 || keys == 10_000 {
            assert_eq!(tally.rows, rows, "{only}: rows");
        }
        // Sessions start at each key's first record: their starts are no check.
        if workload != Workload::W5 {
            assert_eq!(tally.windows.len() as u64, windows, "{only}: windows");
            assert_eq!(tally.sum as u64, tally.rows, "{only}: every count is 1");
        }
        println!(
            "RESULT {{\"workload\":\"{name}\",\"n\":{n},\"variant\":\"{mode}/rocksdb\",\"keys\":{keys},\"run_s\":{:.3},\"rec_per_s\":{:.0},\"peak_rss_mb\":{:.1},\"rows\":{},\"sum\":{},\"max\":{},\"windows\":{},\"retractions\":{}}}",
            busy.as_secs_f64(),
            n as f64 / busy.as_secs_f64(),
            peak_rss_mb(),
            tally.rows,
            tally.sum,
            tally.max,
            tally.windows.len(),
            tally.retractions
        );
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    for (name, _) in variants {
        for mode in ["updates", "closed"] {
            let variant = format!("{name}/{mode}");
            let status = Command::new(&exe)
                .args([
                    "--only",
                    &variant,
                    "--n",
                    &n.to_string(),
                    "--runs",
                    &runs.to_string(),
                    "--keys",
                    &keys.to_string(),
                ])
                .status()
                .expect("run variant");
            assert!(status.success(), "variant {variant} failed");
        }
    }
}
