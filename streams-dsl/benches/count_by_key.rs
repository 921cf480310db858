//! Count by key on real stores: `group_by_key().count()` over N records, on RocksDB or in
//! memory, with the record cache on or off, driven in process through the same task code as
//! the Kafka runtime (batches of 10,000 records; a commit every 100,000 records, which flushes
//! caches, writes the stores' memtables and the checkpoint). Changelog records are produced
//! into the task's output buffer like any output.
//!
//! Run: `cargo bench -p streams-dsl --bench count_by_key [-- --n 1000000 --runs 3]`. Each of
//! the eight variants (engine × 10k or 1M keys × cache) runs in its own process and prints one
//! `RESULT` line, the median of its runs by processing time; the final table is checked (one
//! row per key, counts summing to N).

mod common;

use common::peak_rss_mb;

use std::process::Command;
use std::time::{Duration, Instant};

use streams_core::{Headers, RawRecord, StoreEngine, StreamsConfig};
use streams_dsl::prelude::*;

const BATCH: u64 = 10_000;
const COMMIT_EVERY: u64 = 100_000;

struct Variant {
    engine: StoreEngine,
    keys: u64,
    caching: bool,
}

impl Variant {
    fn label(&self) -> String {
        let engine = match self.engine {
            StoreEngine::RocksDb => "rocksdb",
            StoreEngine::InMemory => "in-memory",
            StoreEngine::Custom(_) => "custom",
        };
        let cache = if self.caching {
            "cache-on"
        } else {
            "cache-off"
        };
        format!("{engine}/{}k-keys/{cache}", self.keys / 1000)
    }

    fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('/');
        let engine = match parts.next()? {
            "rocksdb" => StoreEngine::RocksDb,
            "in-memory" => StoreEngine::InMemory,
            _ => return None,
        };
        let keys = parts.next()?.strip_suffix("k-keys")?.parse::<u64>().ok()? * 1000;
        let caching = parts.next()? == "cache-on";
        Some(Self {
            engine,
            keys,
            caching,
        })
    }
}

struct Outcome {
    busy: Duration,
    updates: u64,
    changelog: u64,
}

fn run(v: &Variant, n: u64) -> Outcome {
    let builder = StreamsBuilder::new();
    let mut materialized = Materialized::named("counts").with_store_engine(v.engine.clone());
    if !v.caching {
        materialized = materialized.with_caching_disabled();
    }
    builder
        .stream::<String, String>("events")
        .group_by_key()
        .count_with(materialized)
        .to_stream()
        .to("counts");
    let topology = builder.build().expect("topology");
    let dir = tempfile::tempdir().expect("state dir");
    let config = StreamsConfig::new("bench").state_dir(dir.path());
    let mut task = topology.create_task(0, 0, &config).expect("task");
    task.init().expect("init");

    let (mut busy, mut updates, mut changelog) = (Duration::ZERO, 0u64, 0u64);
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        let batch: Vec<RawRecord> = (i..end)
            .map(|j| RawRecord {
                offset: j as i64,
                timestamp: j as i64,
                key: Some(common::workload_key(j, v.keys).into_bytes()),
                value: Some(b"v".to_vec()),
                headers: Headers::new(),
            })
            .collect();
        let start = Instant::now();
        task.add_records("events", batch).expect("known topic");
        while task.process_next().expect("processing succeeds") {}
        if end.is_multiple_of(COMMIT_EVERY) || end == n {
            // The commit needs the changelog offsets, which the drained output gives.
            task.flush_caches().expect("flush");
            count_output(&mut task, &mut updates, &mut changelog);
            task.commit([("bench-counts-changelog".to_owned(), changelog as i64 - 1)])
                .expect("commit");
        }
        busy += start.elapsed();
        count_output(&mut task, &mut updates, &mut changelog);
        i = end;
    }
    let (mut rows, mut total) = (0u64, 0u64);
    task.store::<KeyValueStore<String, i64>>("counts")
        .expect("store")
        .for_each(|_, count| {
            rows += 1;
            total += count as u64;
            Ok::<(), StateError>(())
        })
        .expect("scan");
    assert_eq!(rows, v.keys.min(n), "one row per key");
    assert_eq!(total, n, "counts sum to N");
    Outcome {
        busy,
        updates,
        changelog,
    }
}

fn count_output(task: &mut streams_core::Task, updates: &mut u64, changelog: &mut u64) {
    task.drain_output_with(|r| {
        if r.topic == "counts" {
            *updates += 1;
        } else {
            *changelog += 1;
        }
    });
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
    if let Some(variant) = arg("--only") {
        let v = Variant::parse(&variant).expect("a known variant");
        let mut outcomes: Vec<Outcome> = (0..runs).map(|_| run(&v, n)).collect();
        outcomes.sort_by_key(|o| o.busy);
        let o = &outcomes[outcomes.len() / 2];
        println!(
            "RESULT {{\"workload\":\"count-by-key\",\"n\":{n},\"variant\":\"{}\",\"run_s\":{:.3},\"rec_per_s\":{:.0},\"peak_rss_mb\":{:.1},\"rows\":{},\"keys\":{},\"changelog_records\":{}}}",
            v.label(),
            o.busy.as_secs_f64(),
            n as f64 / o.busy.as_secs_f64(),
            peak_rss_mb(),
            o.updates,
            v.keys.min(n),
            o.changelog
        );
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    for engine in [StoreEngine::InMemory, StoreEngine::RocksDb] {
        for keys in [10_000, 1_000_000] {
            for caching in [false, true] {
                let label = Variant {
                    engine: engine.clone(),
                    keys,
                    caching,
                }
                .label();
                let status = Command::new(&exe)
                    .args([
                        "--only",
                        &label,
                        "--n",
                        &n.to_string(),
                        "--runs",
                        &runs.to_string(),
                    ])
                    .status()
                    .expect("run variant");
                assert!(status.success(), "variant {label} failed");
            }
        }
    }
}
