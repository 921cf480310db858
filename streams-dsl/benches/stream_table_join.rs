//! W6, stream-table enrichment (see WORKLOADS.md): a 10,000-row `customers` table (key
//! `k<j>`, value `1000·j`, all at time 0) is loaded first, then N stream records are joined
//! with it (inner join on the key, joined value = stream value + table value), on RocksDB,
//! driven in process through the same task code as the Kafka runtime (batches of 10,000
//! records; a commit every 100,000 records). The table load is not timed.
//!
//! Run: `cargo bench -p streams-dsl --bench stream_table_join [-- --n 2000000 --runs 3]`.
//! Prints one `RESULT` line, the median of the runs by processing time, after checking the
//! exact row count and sum.

mod common;

use common::{event_time, peak_rss_mb, thread_cpu, workload_key, workload_value, WorkloadValue};

use std::sync::Arc;
use std::time::{Duration, Instant};

use streams_core::{Headers, RawRecord, StreamsConfig};
use streams_dsl::prelude::*;

const BATCH: u64 = 10_000;
const COMMIT_EVERY: u64 = 100_000;
const TABLE_ROWS: u64 = 10_000;

struct Outcome {
    busy: Duration,
    /// The CPU time of the same spans (see `thread_cpu`).
    cpu: Duration,
    rows: u64,
    sum: i128,
}

fn run(n: u64) -> Outcome {
    let builder = StreamsBuilder::new();
    let customers = builder.table_with(
        "customers",
        Consumed::with(Serdes::string(), Serdes::i64()),
        Materialized::named("customers"),
    );
    builder
        .stream_with(
            ["events"],
            Consumed::with(Serdes::string(), Arc::new(WorkloadValue))
                .with_timestamp_extractor(event_time),
        )
        .join_table(&customers, |value, row| value + row)
        .to_with("enriched", Produced::with(Serdes::string(), Serdes::i64()));
    let topology = builder.build().expect("topology");
    let dir = tempfile::tempdir().expect("state dir");
    let config = StreamsConfig::new("bench").state_dir(dir.path());
    let mut task = topology.create_task(0, 0, &config).expect("task");
    task.init().expect("init");

    let table: Vec<RawRecord> = (0..TABLE_ROWS)
        .map(|j| RawRecord {
            offset: j as i64,
            timestamp: 0,
            key: Some(format!("k{j}").into_bytes()),
            value: Some((1000 * j as i64).to_be_bytes().to_vec()),
            headers: Headers::new(),
        })
        .collect();
    task.add_records("customers", table).expect("known topic");
    while task.process_next().expect("loading the table") {}
    task.flush_caches().expect("flush");
    task.drain_output_with(|_| {});

    let (mut busy, mut cpu, mut rows, mut sum) = (Duration::ZERO, Duration::ZERO, 0u64, 0i128);
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        let batch: Vec<RawRecord> = (i..end)
            .map(|j| RawRecord {
                offset: j as i64,
                timestamp: j as i64,
                key: Some(workload_key(j, 10_000).into_bytes()),
                value: Some(workload_value(j)),
                headers: Headers::new(),
            })
            .collect();
        let (start, cpu_start) = (Instant::now(), thread_cpu());
        task.add_records("events", batch).expect("known topic");
        while task.process_next().expect("processing succeeds") {}
        if end.is_multiple_of(COMMIT_EVERY) || end == n {
            task.flush_caches().expect("flush");
            task.commit([(
                "bench-customers-changelog".to_owned(),
                TABLE_ROWS as i64 - 1,
            )])
            .expect("commit");
        }
        task.drain_output_with(|r| {
            if r.topic == "enriched" {
                rows += 1;
                let value = r
                    .value
                    .and_then(|v| v.try_into().ok())
                    .map(i64::from_be_bytes);
                sum += i128::from(value.expect("an 8-byte joined value"));
            }
        });
        busy += start.elapsed();
        cpu += thread_cpu().saturating_sub(cpu_start);
        i = end;
    }
    Outcome {
        busy,
        cpu,
        rows,
        sum,
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
    let mut outcomes: Vec<Outcome> = (0..runs).map(|_| run(n)).collect();
    outcomes.sort_by_key(|o| o.busy);
    let o = &outcomes[outcomes.len() / 2];
    // WORKLOADS.md: rows = N, sum = N(N-1)/2 + 1000 · Σ_i ((i·7919) mod 10000).
    let residues: i128 = (0..n).map(|i| i128::from((i * 7919) % 10_000)).sum();
    let expected_sum = i128::from(n) * (i128::from(n) - 1) / 2 + 1000 * residues;
    assert_eq!(o.rows, n, "one joined row per stream record");
    assert_eq!(o.sum, expected_sum, "the joined values' sum");
    println!(
        "RESULT {{\"workload\":\"W6\",\"n\":{n},\"variant\":\"rocksdb\",\"run_s\":{:.3},\"rec_per_s\":{:.0},\"peak_rss_mb\":{:.1},\"rows\":{},\"sum\":{},\"keys\":{TABLE_ROWS},\"cpu_s\":{:.3},\"rec_per_cpu_s\":{:.0}}}",
        o.busy.as_secs_f64(),
        n as f64 / o.busy.as_secs_f64(),
        peak_rss_mb(),
        o.rows,
        o.sum,
        o.cpu.as_secs_f64(),
        n as f64 / o.cpu.as_secs_f64(),
    );
}
