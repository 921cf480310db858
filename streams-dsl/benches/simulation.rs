//! The simulation driver's speed (issue 22): seeds per second for a windowed topology of
//! 10,000 records (tumbling 1 s count per key, 100 keys, a grace that makes nothing late) on
//! three partitions and two instances, with the default schedule (fetches and turns of up to
//! 8 records, a commit in 10 % of steps, crashes and rebalances). Each seed's final counts are
//! checked (every record counted once, every window present) before the `RESULT` line.
//!
//! `--memory` keeps the window store in memory instead of RocksDB (whose flush and new files
//! at every commit dominate the RocksDB variant). Commits are exactly-once;
//! `--at-least-once` runs at-least-once instead (every record counted at least once).
//!
//! Run: `cargo bench -p streams-dsl --bench simulation [-- --n 10000 --seeds 5 --memory]`.

mod common;

use common::peak_rss_mb;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use streams_core::{Schedule, SimulationDriver};
use streams_dsl::prelude::*;

fn topology(in_memory: bool) -> Topology {
    let builder = StreamsBuilder::new();
    let materialized = if in_memory {
        Materialized::named("counts").in_memory()
    } else {
        Materialized::named("counts")
    };
    builder
        .stream::<String, String>("events")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_secs(1),
            Duration::from_secs(3600),
        ))
        .count_with(materialized)
        .to_stream()
        .map(|k, v| (format!("{}@{}", k.key, k.window.start), v))
        .to("counts");
    builder.build().expect("the topology builds")
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (n, seeds) = (arg("--n", 10_000), arg("--seeds", 5));
    let in_memory = std::env::args().any(|a| a == "--memory");
    let at_least_once = std::env::args().any(|a| a == "--at-least-once");
    let guarantee = if at_least_once {
        ProcessingGuarantee::AtLeastOnce
    } else {
        ProcessingGuarantee::ExactlyOnce
    };
    let engine = if in_memory { "memory" } else { "rocksdb" };
    let started = Instant::now();
    let (mut steps, mut crashes, mut rebalances) = (0, 0, 0);
    let mut windows = 0;
    for seed in 0..seeds {
        let mut driver = SimulationDriver::new(
            topology(in_memory),
            StreamsConfig::new("sim-bench").processing_guarantee(guarantee),
            Schedule::default(),
            seed,
        )
        .expect("the simulation starts");
        for i in 0..n {
            let key = format!("k{}", (i * 7919) % 100);
            driver
                .pipe("events", &key, &String::new(), i as i64)
                .expect("piped");
        }
        let report = driver.run().expect("the run ends");
        let rows = driver.output::<String, i64>("counts").expect("readable");
        let mut latest = BTreeMap::new();
        for (key, value, _) in rows {
            if let (Some(key), Some(value)) = (key, value) {
                latest.insert(key, value);
            }
        }
        let total: i64 = latest.values().sum();
        if at_least_once {
            assert!(total >= n as i64, "seed {seed}: every record counted");
        } else {
            assert_eq!(total, n as i64, "seed {seed}: every record counted once");
        }
        // 100 keys, each in every 1 s window from 0 up to n ms.
        let expected_windows = n.div_ceil(1_000) * 100.min(n);
        assert_eq!(latest.len() as u64, expected_windows, "seed {seed}");
        windows = latest.len();
        steps += report.steps;
        crashes += report.crashes;
        rebalances += report.rebalances;
    }
    let run_s = started.elapsed().as_secs_f64();
    println!(
        "RESULT {{\"workload\":\"simulation-windowed\",\"n\":{n},\"variant\":\"3-partitions/2-instances/{engine}/{guarantee:?}\",\"seeds\":{seeds},\"run_s\":{run_s:.3},\"seeds_per_s\":{:.2},\"rec_per_s\":{:.0},\"steps\":{steps},\"crashes\":{crashes},\"rebalances\":{rebalances},\"windows\":{windows},\"peak_rss_mb\":{:.1}}}",
        seeds as f64 / run_s,
        (n * seeds) as f64 / run_s,
        peak_rss_mb()
    );
}
