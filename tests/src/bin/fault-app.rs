//! The application that the fault-injection suite kills and restarts: counts records per key
//! of `--input` into `--output`, committing often, until it is killed (or its standard input
//! closes, for a clean stop). Prints `RUNNING` once it has its tasks, and on a clean stop its
//! store's table as `COUNT key n` lines, then `END`.
//!
//! `fault-app --bootstrap-servers HOST:PORT --state-dir DIR --input T --output T
//!  [--application-id ID] [--exactly-once] [--cache-max-bytes N] [--transaction-timeout-ms MS]`
//!
//! With `--cache-max-bytes 0` every input record gives one output record (its key's new
//! count), so the output of an exactly-once run holds 1, 2, ..., n for each key, exactly.

use std::io::{BufRead, Write};
use std::time::Duration;

use streams_dsl::prelude::*;

fn arg(name: &str) -> Result<String, String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .ok_or_else(|| format!("missing {name}"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>(&arg("--input")?)
        .group_by_key()
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to(&arg("--output")?);
    let guarantee = if std::env::args().any(|a| a == "--exactly-once") {
        ProcessingGuarantee::ExactlyOnce
    } else {
        ProcessingGuarantee::AtLeastOnce
    };
    let application_id = arg("--application-id").unwrap_or_else(|_| "fault-app".to_owned());
    let mut config = StreamsConfig::new(application_id)
        .bootstrap_servers(arg("--bootstrap-servers")?)
        .state_dir(arg("--state-dir")?)
        .processing_guarantee(guarantee)
        .commit_interval(Duration::from_millis(200))
        .consumer_property("session.timeout.ms", "6000")
        .consumer_property("max.poll.interval.ms", "7000")
        .consumer_property("heartbeat.interval.ms", "1000");
    if let Ok(bytes) = arg("--cache-max-bytes") {
        config = config.cache_max_bytes(bytes.parse()?);
    }
    if let Ok(ms) = arg("--transaction-timeout-ms") {
        config = config.producer_property("transaction.timeout.ms", ms);
    }
    let streams = KafkaStreams::new(builder.build()?, config);
    streams.start()?;
    if streams.wait_for(State::Running, Duration::from_secs(120)) {
        println!("RUNNING");
        std::io::stdout().flush()?;
    }
    // Runs until killed, or until standard input closes (a clean stop), then prints its
    // store's table: the counts themselves, which a zombie's late output records cannot hide.
    for _ in std::io::stdin().lock().lines() {}
    let mut out = std::io::stdout().lock();
    for part in streams.query("counts", |s: &ReadOnlyKeyValueStore<String, i64>| s.all())? {
        for (key, count) in part {
            writeln!(out, "COUNT {key} {count}")?;
        }
    }
    writeln!(out, "END")?;
    out.flush()?;
    streams.close(Duration::from_secs(30));
    Ok(())
}
