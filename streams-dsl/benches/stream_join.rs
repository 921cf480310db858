//! W7 of WORKLOADS.md: a stream-stream windowed inner join. Left: record i at time i, key
//! `k<i·7919 mod 10000>`, value i. Right: the same keys and values at time i + 500. Window 1 s
//! before and after, no grace; joined value = left + right. Both sides' records are handed to
//! the task in batches of 10,000 each and processed in timestamp order across the two topics,
//! as a task picks them, through the same task code as the Kafka runtime, with both join
//! buffers in real stores (a commit every 100,000 records of each side).
//!
//! Run: `cargo bench -p streams-dsl --bench stream_join [-- --n 2000000 --runs 3]`. Each engine
//! runs in its own process and prints one `RESULT` line (the median run by processing time)
//! whose rows and sum are checked against the exact expected values: N rows summing to N(N-1).

mod common;

use common::{peak_rss_mb, thread_cpu, workload_key, workload_value, WorkloadValue};

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use streams_core::{Headers, RawRecord, StoreEngine, StreamsConfig};
use streams_dsl::prelude::*;

const BATCH: u64 = 10_000;
const COMMIT_EVERY: u64 = 100_000;
const KEYS: u64 = 10_000;
const RIGHT_DELAY: i64 = 500;

struct Outcome {
    busy: Duration,
    /// The CPU time of the same spans (see `thread_cpu`).
    cpu: Duration,
    rows: u64,
    sum: i128,
}

fn records(from: u64, to: u64, delay: i64) -> Vec<RawRecord> {
    (from..to)
        .map(|i| RawRecord {
            offset: i as i64,
            timestamp: i as i64 + delay,
            key: Some(workload_key(i, KEYS).into_bytes()),
            value: Some(workload_value(i)),
            headers: Headers::new(),
        })
        .collect()
}

fn run(engine: StoreEngine, n: u64) -> Outcome {
    let builder = StreamsBuilder::new();
    let consumed = || Consumed::with(Serdes::string(), Arc::new(WorkloadValue));
    let left = builder.stream_with::<String, i64>(&["left"], consumed());
    let right = builder.stream_with::<String, i64>(&["right"], consumed());
    left.join_with(
        &right,
        |l, r| l + r,
        JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(1)),
        StreamJoined::new()
            .with_store_name("w7")
            .with_store_engine(engine),
    )
    .to("joined");
    let topology = builder.build().expect("topology");
    let dir = tempfile::tempdir().expect("state dir");
    let config = StreamsConfig::new("bench").state_dir(dir.path());
    let mut task = topology.create_task(0, 0, &config).expect("task");
    task.init().expect("init");

    let mut outcome = Outcome {
        busy: Duration::ZERO,
        cpu: Duration::ZERO,
        rows: 0,
        sum: 0,
    };
    let mut changelogs: Vec<(String, i64)> = Vec::new();
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        let (left, right) = (records(i, end, 0), records(i, end, RIGHT_DELAY));
        let (start, cpu_start) = (Instant::now(), thread_cpu());
        task.add_records("left", left).expect("known topic");
        task.add_records("right", right).expect("known topic");
        while task.process_next().expect("processing succeeds") {}
        if end.is_multiple_of(COMMIT_EVERY) || end == n {
            drain(&mut task, &mut outcome, &mut changelogs);
            task.commit(changelogs.clone()).expect("commit");
        }
        outcome.busy += start.elapsed();
        outcome.cpu += thread_cpu().saturating_sub(cpu_start);
        drain(&mut task, &mut outcome, &mut changelogs);
        i = end;
    }
    outcome
}

/// Counts and sums the joined records, and tracks the last offset of each changelog.
fn drain(
    task: &mut streams_core::Task,
    outcome: &mut Outcome,
    changelogs: &mut Vec<(String, i64)>,
) {
    task.drain_output_with(|r| {
        if r.topic == "joined" {
            let value = r
                .value
                .and_then(|v| v.get(..8))
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes)
                .expect("an 8-byte joined value");
            outcome.rows += 1;
            outcome.sum += i128::from(value);
        } else {
            match changelogs.iter_mut().find(|(t, _)| t == r.topic) {
                Some((_, offset)) => *offset += 1,
                None => changelogs.push((r.topic.to_owned(), 0)),
            }
        }
    });
}

fn label(engine: &StoreEngine) -> &'static str {
    match engine {
        StoreEngine::RocksDb => "rocksdb",
        StoreEngine::InMemory => "in-memory",
        StoreEngine::Custom(_) => "custom",
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
    let n: u64 = arg("--n").and_then(|v| v.parse().ok()).unwrap_or(2_000_000);
    let runs: usize = arg("--runs").and_then(|v| v.parse().ok()).unwrap_or(3);
    if let Some(only) = arg("--only") {
        let engine = match only.as_str() {
            "rocksdb" => StoreEngine::RocksDb,
            "in-memory" => StoreEngine::InMemory,
            other => panic!("unknown engine {other}"),
        };
        let mut outcomes: Vec<Outcome> = (0..runs).map(|_| run(engine.clone(), n)).collect();
        outcomes.sort_by_key(|o| o.busy);
        let o = &outcomes[outcomes.len() / 2];
        let expected_sum = i128::from(n) * (i128::from(n) - 1);
        assert_eq!(
            o.rows, n,
            "every left record joins exactly one right record"
        );
        assert_eq!(o.sum, expected_sum, "the joined values sum to N(N-1)");
        println!(
            "RESULT {{\"workload\":\"W7\",\"n\":{n},\"variant\":\"{}\",\"run_s\":{:.3},\"rec_per_s\":{:.0},\"peak_rss_mb\":{:.1},\"rows\":{},\"sum\":{},\"cpu_s\":{:.3},\"rec_per_cpu_s\":{:.0}}}",
            label(&engine),
            o.busy.as_secs_f64(),
            (2 * n) as f64 / o.busy.as_secs_f64(),
            peak_rss_mb(),
            o.rows,
            o.sum,
            o.cpu.as_secs_f64(),
            (2 * n) as f64 / o.cpu.as_secs_f64(),
        );
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    for engine in [StoreEngine::RocksDb, StoreEngine::InMemory] {
        let status = Command::new(&exe)
            .args([
                "--only",
                label(&engine),
                "--n",
                &n.to_string(),
                "--runs",
                &runs.to_string(),
            ])
            .status()
            .expect("run variant");
        assert!(status.success(), "variant {} failed", label(&engine));
    }
}
