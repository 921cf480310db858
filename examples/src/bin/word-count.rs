//! Word count on Kafka: starts an embedded Kafka cluster (or uses the one given with
//! `--bootstrap-servers HOST:PORT`), writes lines of text to `text-lines`, runs the word-count
//! application on them, and prints the counts it writes to `word-counts`.
//!
//! `cargo run --release -p examples --bin word-count [-- --bootstrap-servers HOST:PORT]`

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use examples::cluster::Cluster;
use examples::word_count;
use streams_dsl::prelude::*;

const TEXT: &[&str] = &[
    "All streams flow to the sea,",
    "yet the sea is not full;",
    "to the place the streams come from,",
    "there they return again.",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let cluster = Cluster::from_args()?;
    cluster.create_topics(&[("text-lines", 4), ("word-counts", 4)])?;

    let topology = word_count("text-lines", "word-counts")?;
    println!("{}", topology.describe());
    let state_dir = tempfile::tempdir()?;
    let config = StreamsConfig::new("word-count")
        .state_dir(state_dir.path())
        .commit_interval(Duration::from_millis(500))
        .consumer_property("session.timeout.ms", "6000");
    let streams = std::sync::Arc::new(cluster.streams(topology, config));
    examples::shutdown::close_on_ctrl_c(std::sync::Arc::clone(&streams))?;
    let started = Instant::now();
    streams.start()?;

    let lines: Vec<(Option<Vec<u8>>, Vec<u8>)> =
        TEXT.iter().map(|l| (None, l.as_bytes().to_vec())).collect();
    cluster.produce("text-lines", &lines)?;
    println!("wrote {} lines to text-lines", lines.len());

    // What the application must arrive at.
    let mut expected: BTreeMap<String, i64> = BTreeMap::new();
    for word in TEXT
        .iter()
        .flat_map(|l| l.split(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
    {
        *expected.entry(word.to_lowercase()).or_default() += 1;
    }
    let counts = cluster.read_table(
        "word-counts",
        |k| String::from_utf8(k.to_vec()).ok(),
        |v| v.try_into().ok().map(i64::from_be_bytes),
        Duration::from_secs(60),
        |table| *table == expected,
    )?;
    println!(
        "word-counts after {:.1} s ({} words, state {:?}):",
        started.elapsed().as_secs_f64(),
        counts.len(),
        streams.state()
    );
    for (word, count) in &counts {
        println!("  {word:>10} {count}");
    }
    streams.close(Duration::from_secs(30));
    if counts != expected {
        return Err("the counts did not arrive within 60 s".into());
    }
    Ok(())
}
