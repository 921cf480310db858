//! Throughput of stateless chains driven in process through the same task code as the Kafka
//! runtime: raw records are added to a task in batches, processed, and the sink's output is
//! drained, as a stream thread does.
//!
//! Variants (each runs in its own child process so that its peak RSS is its own):
//! - `chain-json`: filter → map_values → flat_map_values → select_key → map, String keys and
//!   JSON values;
//! - `chain-u64`: the same chain over `u64` values;
//! - `w1`: WORKLOADS.md's W1 (filter(value % 3 != 0) → map(value * 2)) on its wire format, with
//!   the exact expected rows and sum checked.
//!
//! Run: `cargo bench -p streams-dsl --bench stateless_chain [-- --n 2000000 --runs 3]`; each
//! variant prints one `RESULT` line, the median of its runs by processing time.

mod common;

use common::{event_time, peak_rss_mb, WorkloadValue};

use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use streams_core::{Headers, OutputRecord, RawRecord, Serdes, StreamsConfig, Task, Topology};
use streams_dsl::prelude::*;

const BATCH: usize = 10_000;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Trade {
    id: u64,
    price: i64,
    qty: i64,
}

fn key(i: u64) -> String {
    common::workload_key(i, 10_000)
}

/// Feeds `n` records made by `make` through `task` in batches; returns the processing time
/// (record generation excluded) and what `tally` made of the output.
fn drive(
    task: &mut Task,
    topic: &str,
    n: u64,
    make: impl Fn(u64) -> RawRecord,
    mut tally: impl FnMut(OutputRecord<'_>),
) -> Duration {
    let mut busy = Duration::ZERO;
    let mut i = 0;
    while i < n {
        let end = (i + BATCH as u64).min(n);
        let batch: Vec<RawRecord> = (i..end).map(&make).collect();
        let start = Instant::now();
        task.add_records(topic, batch).expect("known topic");
        while task.process_next().expect("processing succeeds") {}
        busy += start.elapsed();
        // Reading the output stands for the producer's copy; it is not processing time.
        task.drain_output_with(&mut tally);
        i = end;
    }
    busy
}

fn task_of(topology: Topology) -> Task {
    let mut task = topology
        .create_task(0, 0, &StreamsConfig::new("bench"))
        .expect("task");
    task.init().expect("init");
    task
}

/// One run's figures.
struct Outcome {
    workload: &'static str,
    variant: &'static str,
    busy: Duration,
    rows: u64,
    sum: i128,
}

impl Outcome {
    fn report(&self, n: u64) {
        report(
            self.workload,
            self.variant,
            n,
            self.busy,
            self.rows,
            self.sum,
        );
    }
}

fn report(workload: &str, variant: &str, n: u64, busy: Duration, rows: u64, sum: i128) {
    let run_s = busy.as_secs_f64();
    println!(
        "RESULT {{\"workload\":\"{workload}\",\"n\":{n},\"variant\":\"{variant}\",\"run_s\":{run_s:.3},\"rec_per_s\":{:.0},\"peak_rss_mb\":{:.1},\"rows\":{rows},\"sum\":{sum}}}",
        n as f64 / run_s,
        peak_rss_mb()
    );
}

fn chain_json(n: u64) -> Outcome {
    let builder = StreamsBuilder::new().with_serde(Serdes::json::<Trade>());
    builder
        .stream::<String, Trade>("trades")
        .filter(|_, t| t.price % 3 != 0)
        .map_values(|t| Trade {
            price: t.price * 2,
            ..t
        })
        .flat_map_values(|t| [t])
        .select_key(|_, t| format!("s{}", t.id % 100))
        .map(|k, t| {
            (
                k,
                Trade {
                    qty: t.qty + 1,
                    ..t
                },
            )
        })
        .to("out");
    let mut task = task_of(builder.build().expect("topology"));
    let serde = Serdes::json::<Trade>();
    let (mut rows, mut sum) = (0u64, 0i128);
    let busy = drive(
        &mut task,
        "trades",
        n,
        |i| RawRecord {
            offset: i as i64,
            timestamp: i as i64,
            key: Some(key(i).into_bytes()),
            value: serde
                .to_bytes(
                    "trades",
                    &Trade {
                        id: i,
                        price: i as i64,
                        qty: 1,
                    },
                )
                .expect("json"),
            headers: Headers::new(),
        },
        |r| {
            let t: Trade = serde_json::from_slice(r.value.expect("value")).expect("json");
            rows += 1;
            sum += i128::from(t.price);
        },
    );
    Outcome {
        workload: "stateless-chain-5",
        variant: "json",
        busy,
        rows,
        sum,
    }
}

fn chain_u64(n: u64) -> Outcome {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, u64>("numbers")
        .filter(|_, v| v % 3 != 0)
        .map_values(|v| v * 2)
        .flat_map_values(|v| [v])
        .select_key(|k, _| k.clone())
        .map(|k, v| (k, v + 1))
        .to("out");
    let mut task = task_of(builder.build().expect("topology"));
    let (mut rows, mut sum) = (0u64, 0i128);
    let busy = drive(
        &mut task,
        "numbers",
        n,
        |i| RawRecord {
            offset: i as i64,
            timestamp: i as i64,
            key: Some(key(i).into_bytes()),
            value: Some(i.to_be_bytes().to_vec()),
            headers: Headers::new(),
        },
        |r| {
            let bytes: [u8; 8] = r.value.expect("value").try_into().expect("8 bytes");
            rows += 1;
            sum += i128::from(u64::from_be_bytes(bytes));
        },
    );
    Outcome {
        workload: "stateless-chain-5",
        variant: "u64",
        busy,
        rows,
        sum,
    }
}

fn w1(n: u64) -> Outcome {
    let builder = StreamsBuilder::new();
    builder
        .stream_with::<String, i64>(
            &["w1"],
            Consumed::with(Serdes::string(), std::sync::Arc::new(WorkloadValue))
                .with_timestamp_extractor(event_time),
        )
        .filter(|_, v| v % 3 != 0)
        .map_values(|v| v * 2)
        .to("out");
    let mut task = task_of(builder.build().expect("topology"));
    let (mut rows, mut sum) = (0u64, 0i128);
    let busy = drive(
        &mut task,
        "w1",
        n,
        |i| {
            let mut value = Vec::with_capacity(16);
            value.extend_from_slice(&(i as i64).to_be_bytes());
            value.extend_from_slice(&(i as i64).to_be_bytes());
            RawRecord {
                offset: i as i64,
                timestamp: 0,
                key: Some(key(i).into_bytes()),
                value: Some(value),
                headers: Headers::new(),
            }
        },
        |r| {
            let bytes: [u8; 8] = r.value.expect("value").try_into().expect("8 bytes");
            rows += 1;
            sum += i128::from(i64::from_be_bytes(bytes));
        },
    );
    let n128 = i128::from(n);
    let m = (n128 + 2) / 3;
    let expected_rows = n - m as u64;
    let expected_sum = 2 * (n128 * (n128 - 1) / 2 - 3 * m * (m - 1) / 2);
    assert_eq!(
        (rows, sum),
        (expected_rows, expected_sum),
        "W1 computed a wrong result"
    );
    Outcome {
        workload: "W1",
        variant: "in-process",
        busy,
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
    let run = |f: fn(u64) -> Outcome| {
        let mut outcomes: Vec<Outcome> = (0..runs).map(|_| f(n)).collect();
        outcomes.sort_by_key(|o| o.busy);
        outcomes.swap_remove(outcomes.len() / 2).report(n);
    };
    match arg("--only").as_deref() {
        Some("chain-json") => run(chain_json),
        Some("chain-u64") => run(chain_u64),
        Some("w1") => run(w1),
        Some(other) => panic!("unknown variant {other}"),
        None => {
            let exe = std::env::current_exe().expect("own path");
            for variant in ["chain-u64", "chain-json", "w1"] {
                let status = Command::new(&exe)
                    .args([
                        "--only",
                        variant,
                        "--n",
                        &n.to_string(),
                        "--runs",
                        &runs.to_string(),
                    ])
                    .status()
                    .expect("run variant");
                assert!(status.success(), "variant {variant} failed");
            }
        }
    }
}
