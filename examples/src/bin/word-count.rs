//! Word count, run on the test driver with its own input (the Kafka runtime is not built
//! yet): counts the words of the lines given as a file argument, or of a built-in text, and
//! prints the topology, every count update and the final table.
//!
//! `cargo run -p examples --bin word-count [-- FILE]`

use std::collections::BTreeMap;

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
    let lines: Vec<String> = match std::env::args().nth(1) {
        Some(path) => std::fs::read_to_string(&path)?
            .lines()
            .map(str::to_owned)
            .collect(),
        None => TEXT.iter().map(|l| (*l).to_owned()).collect(),
    };

    let topology = word_count("text-lines", "word-counts")?;
    println!("{}", topology.describe());
    let driver = TopologyTestDriver::new(topology, StreamsConfig::new("word-count"))?;
    let input = driver.input_topic::<(), String>("text-lines")?;
    let output = driver.output_topic::<String, i64>("word-counts")?;

    input.pipe_values(lines)?;
    let updates = output.read_key_values_to_list()?;
    println!("{} count updates, the last ten:", updates.len());
    for (word, count) in updates.iter().rev().take(10).rev() {
        println!("  {word} -> {count}");
    }

    let store = driver.key_value_store::<String, i64>("word-counts")?;
    let table: BTreeMap<String, i64> = store.all()?.into_iter().collect();
    println!("final counts ({} words):", table.len());
    for (word, count) in &table {
        println!("  {word:>10} {count}");
    }
    Ok(())
}
