//! WORKLOADS.md's W2 (keyed running count, one update per record, 10,000 keys, the in-memory
//! store) with its
//! values in two encodings, side by side in one process: the plain 16 bytes (value, event
//! time, each 8 bytes big-endian) and an Avro record of the same two fields framed by the
//! registry serde (`AvroSerde`, the registry in process). Both decode every value into the
//! same struct before counting, so the difference is the Avro cost per record.
//!
//! Run: `cargo bench -p streams-avro --bench w2_avro [-- --n 1000000 --runs 3]`. Prints one
//! `RESULT` line per encoding (the median run by processing time) and the Avro cost per
//! record; the final table is checked (one row per key, counts summing to N).

use std::sync::Arc;
use std::time::{Duration, Instant};

use apache_avro::Schema;
use serde::{Deserialize, Serialize};
use streams_avro::registry_server::RegistryServer;
use streams_avro::{AvroSerde, AvroSerdeConfig, SchemaRegistryClient, SchemaRegistryConfig};
use streams_core::{
    Deserializer, Encoded, Headers, RawRecord, SerdeError, SerdeRef, Serializer, StoreEngine,
    StreamsConfig,
};
use streams_dsl::prelude::*;

/// [`Event`]'s Avro schema.
const EVENT: &str = r#"{"type":"record","name":"Event","namespace":"bench","fields":[
    {"name":"value","type":"long"},{"name":"time","type":"long"}]}"#;

const BATCH: u64 = 10_000;
const COMMIT_EVERY: u64 = 100_000;
const KEYS: u64 = 10_000;

/// A W2 record's value: the value and the event time.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct Event {
    value: i64,
    time: i64,
}

/// The plain encoding: 8 bytes big-endian value, then 8 bytes event time.
struct PlainEvent;

impl Serializer<Event> for PlainEvent {
    fn serialize(
        &self,
        _: &str,
        _: &mut Headers,
        e: &Event,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        out.extend_from_slice(&e.value.to_be_bytes());
        out.extend_from_slice(&e.time.to_be_bytes());
        Ok(Encoded::Bytes)
    }
}

impl Deserializer<Event> for PlainEvent {
    fn deserialize(&self, _: &str, _: &Headers, data: Option<&[u8]>) -> Result<Event, SerdeError> {
        let data = data.ok_or(SerdeError::UnexpectedNull)?;
        let field = |range: std::ops::Range<usize>| {
            data.get(range)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes)
                .ok_or(SerdeError::InvalidLength {
                    expected: 16,
                    actual: data.len(),
                })
        };
        Ok(Event {
            value: field(0..8)?,
            time: field(8..16)?,
        })
    }
}

fn key(i: u64) -> String {
    format!("k{}", (i * 7919) % KEYS)
}

fn run(serde: &SerdeRef<Event>, n: u64) -> Duration {
    let builder = StreamsBuilder::new();
    builder
        .stream_with("events", Consumed::with(Serdes::string(), serde.clone()))
        .group_by_key()
        .count_with(
            Materialized::named("counts")
                .with_store_engine(StoreEngine::InMemory)
                .with_caching_disabled(),
        )
        .to_stream()
        .to("counts");
    let topology = builder.build().expect("topology");
    let dir = tempfile::tempdir().expect("state dir");
    let config = StreamsConfig::new("bench").state_dir(dir.path());
    let mut task = topology.create_task(0, 0, &config).expect("task");
    task.init().expect("init");
    let (mut busy, mut changelog, mut updates) = (Duration::ZERO, 0u64, 0u64);
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        let batch: Vec<RawRecord> = (i..end)
            .map(|j| RawRecord {
                offset: j as i64,
                timestamp: j as i64,
                key: Some(key(j).into_bytes()),
                value: serde
                    .to_bytes(
                        "events",
                        &Event {
                            value: j as i64,
                            time: j as i64,
                        },
                    )
                    .expect("encodes"),
                headers: Headers::new(),
            })
            .collect();
        let start = Instant::now();
        task.add_records("events", batch).expect("known topic");
        while task.process_next().expect("processing succeeds") {}
        if end.is_multiple_of(COMMIT_EVERY) || end == n {
            task.flush_caches().expect("flush");
            drain(&mut task, &mut updates, &mut changelog);
            task.commit([("bench-counts-changelog".to_owned(), changelog as i64 - 1)])
                .expect("commit");
        }
        busy += start.elapsed();
        drain(&mut task, &mut updates, &mut changelog);
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
    assert_eq!(rows, KEYS.min(n), "one row per key");
    assert_eq!(total, n, "counts sum to N");
    assert_eq!(updates, n, "one update per record");
    busy
}

fn drain(task: &mut streams_core::Task, updates: &mut u64, changelog: &mut u64) {
    task.drain_output_with(|r| {
        if r.topic == "counts" {
            *updates += 1;
        } else {
            *changelog += 1;
        }
    });
}

fn median(serde: &SerdeRef<Event>, n: u64, runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs).map(|_| run(serde, n)).collect();
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    let n = arg("--n").unwrap_or(1_000_000);
    let runs = arg("--runs").unwrap_or(3).max(1) as usize;
    let registry = RegistryServer::start().expect("registry");
    let client = Arc::new(
        SchemaRegistryClient::new(SchemaRegistryConfig::new(registry.url())).expect("client"),
    );
    let plain: SerdeRef<Event> = Arc::new(PlainEvent);
    let avro: SerdeRef<Event> = Arc::new(AvroSerde::<Event>::new(
        client,
        Schema::parse_str(EVENT).expect("schema"),
        AvroSerdeConfig::value(),
    ));
    let mut per_record = Vec::new();
    for (label, serde) in [("plain", &plain), ("avro", &avro)] {
        let busy = median(serde, n, runs);
        let ns = busy.as_nanos() as f64 / n as f64;
        per_record.push(ns);
        println!(
            "RESULT {{\"workload\":\"W2\",\"values\":\"{label}\",\"n\":{n},\"run_s\":{:.3},\"rec_per_s\":{:.0},\"ns_per_record\":{ns:.0}}}",
            busy.as_secs_f64(),
            n as f64 / busy.as_secs_f64(),
        );
    }
    println!(
        "Avro cost: {:.0} ns per record, {:.2}x the plain W2 time per record",
        per_record[1] - per_record[0],
        per_record[1] / per_record[0]
    );
}
