//! Task and store metrics on the test driver: the counters move with the records that cause
//! them (a late record is dropped, a repeated key hits the cache, a write reaches RocksDB's
//! memtable).

use std::time::Duration;

use integration_tests::s;
use streams_core::{EngineMetrics, TaskId};
use streams_dsl::prelude::*;

fn windowed_counts() -> Result<TopologyTestDriver, StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
        .count()
        .to_stream()
        .map(|k, v| (k.key, v))
        .to("out");
    TopologyTestDriver::new(builder.build()?, StreamsConfig::new("app"))
}

#[test]
fn a_late_record_moves_the_task_s_dropped_records() -> Result<(), StreamsError> {
    let driver = windowed_counts()?;
    let input = driver.input_topic::<String, i64>("in")?;
    input.pipe_key_value_at(s("a"), 1, 1_000)?;
    input.pipe_key_value_at(s("a"), 1, 25_000)?;
    let before = driver.task_metrics();
    assert_eq!(before.len(), 1);
    let (task, counters) = before[0];
    assert_eq!(
        task,
        TaskId {
            subtopology: 0,
            partition: 0
        }
    );
    assert_eq!((counters.processed, counters.dropped), (2, 0));
    // Its window [0, 10 s) closed when stream time reached 25 s.
    input.pipe_key_value_at(s("a"), 1, 2_000)?;
    let (_, counters) = driver.task_metrics()[0];
    assert_eq!((counters.processed, counters.dropped), (3, 1));
    Ok(())
}

fn counts(materialized: Materialized<String, i64>) -> Result<TopologyTestDriver, StreamsError> {
    counts_with(materialized, StreamsConfig::new("app"))
}

fn counts_with(
    materialized: Materialized<String, i64>,
    config: StreamsConfig,
) -> Result<TopologyTestDriver, StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .group_by_key()
        .count_with(materialized)
        .to_stream()
        .to("out");
    TopologyTestDriver::new(builder.build()?, config)
}

#[test]
fn a_repeated_key_moves_the_cache_hit_ratio() -> Result<(), StreamsError> {
    let driver = counts(Materialized::named("counts"))?;
    let input = driver.input_topic::<String, i64>("in")?;
    input.pipe_key_value(s("a"), 1)?;
    let metrics = driver.store_metrics("counts");
    assert_eq!(metrics.len(), 1);
    let first = metrics[0].1;
    // The first read of a key misses.
    assert_eq!((first.cache_hits, first.cache_misses), (0, 1));
    assert_eq!(first.cache_hit_ratio(), Some(0.0));
    input.pipe_key_value(s("a"), 1)?;
    input.pipe_key_value(s("a"), 1)?;
    let later = driver.store_metrics("counts")[0].1;
    assert_eq!((later.cache_hits, later.cache_misses), (2, 1));
    assert!((later.cache_hit_ratio().unwrap_or_default() - 2.0 / 3.0).abs() < 1e-9);
    Ok(())
}

#[test]
fn a_rocksdb_store_reports_its_memtable_and_block_cache() -> Result<(), StreamsError> {
    let driver = counts(Materialized::named("counts"))?;
    let input = driver.input_topic::<String, i64>("in")?;
    let empty = driver.store_metrics("counts")[0].1.engine;
    assert_eq!(empty.pending_compaction_bytes, Some(0));
    assert!(empty.block_cache_usage.is_some());
    let before = empty.memtable_bytes.unwrap_or_default();
    for i in 0..200 {
        input.pipe_key_value(format!("key-{i}"), i)?;
    }
    // The driver commits after each record: the counts have reached the engine.
    let after = driver.store_metrics("counts")[0].1.engine;
    assert!(
        after.memtable_bytes.unwrap_or_default() > before,
        "{before} -> {after:?}"
    );
    // An in-memory store has no engine figures.
    let driver = counts(Materialized::named("counts").in_memory())?;
    driver
        .input_topic::<String, i64>("in")?
        .pipe_key_value(s("a"), 1)?;
    assert_eq!(
        driver.store_metrics("counts")[0].1.engine,
        EngineMetrics::default()
    );
    Ok(())
}

/// At the `Debug` recording level each engine operation is timed. An aggregation's store
/// keeps a write cache either way, so only the first read of each of the 3 keys reaches the
/// engine, and the driver commits after every record, so each of the 10 updates is written.
/// With caching on, each flush also reads the value it replaces (it forwards it as the old
/// value): 10 more reads.
#[test]
fn the_debug_level_times_each_store_operation() -> Result<(), StreamsError> {
    let debug = StreamsConfig::new("app").metrics_recording_level(MetricsRecordingLevel::Debug);
    for (materialized, gets) in [
        (Materialized::named("counts").with_caching_disabled(), 3),
        (Materialized::named("counts"), 13),
    ] {
        let driver = counts_with(materialized, debug.clone())?;
        let input = driver.input_topic::<String, i64>("in")?;
        for i in 0..10 {
            input.pipe_key_value(format!("key-{}", i % 3), i)?;
        }
        let operations = driver.store_metrics("counts")[0]
            .1
            .engine
            .operations
            .expect("timed at the debug level");
        assert_eq!(
            (
                operations.get.count,
                operations.put.count,
                operations.delete.count,
                operations.range.count
            ),
            (gets, 10, 0, 0)
        );
        assert!(operations.put.max <= operations.put.total);
    }
    // The default level times nothing.
    let driver = counts(Materialized::named("counts"))?;
    driver
        .input_topic::<String, i64>("in")?
        .pipe_key_value(s("a"), 1)?;
    assert_eq!(driver.store_metrics("counts")[0].1.engine.operations, None);
    Ok(())
}

/// Each processor node counts the records it processed: all 5 reach the filter, the 2 it
/// keeps reach the value mapper.
#[test]
fn each_processor_node_counts_its_records() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .filter(|_, v| *v % 2 == 0)
        .map_values(|v| v * 10)
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("app"))?;
    let input = driver.input_topic::<String, i64>("in")?;
    for v in 1..=5 {
        input.pipe_key_value(s("k"), v)?;
    }
    let nodes = driver.node_metrics();
    let records = |kind: &str| {
        nodes
            .iter()
            .filter(|(_, node, _)| node.contains(kind))
            .map(|(_, _, records)| *records)
            .sum::<u64>()
    };
    assert_eq!(
        (records("FILTER"), records("MAPVALUES")),
        (5, 2),
        "{nodes:?}"
    );
    Ok(())
}

/// Window stores are timed too (the windowed count's writes reach its engine), and report
/// RocksDB's figures.
#[test]
fn the_debug_level_times_window_store_operations() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
        .count_with(Materialized::named("per-window"))
        .to_stream()
        .map(|k, v| (k.key, v))
        .to("out");
    let config = StreamsConfig::new("app").metrics_recording_level(MetricsRecordingLevel::Debug);
    let driver = TopologyTestDriver::new(builder.build()?, config)?;
    let input = driver.input_topic::<String, i64>("in")?;
    for (i, t) in [1_000, 12_000, 25_000].into_iter().enumerate() {
        input.pipe_key_value_at(format!("k{i}"), 1, t)?;
    }
    let operations = driver.store_metrics("per-window")[0]
        .1
        .engine
        .operations
        .expect("timed at the debug level");
    // Each of the three windows was written (the driver commits after every record).
    assert!(operations.put.count >= 3, "{operations:?}");
    // A RocksDB window store reports its engine's figures as a key-value store does.
    let engine = driver.store_metrics("per-window")[0].1.engine;
    assert!(engine.memtable_bytes.is_some_and(|b| b > 0), "{engine:?}");
    assert!(engine.block_cache_usage.is_some());
    Ok(())
}
