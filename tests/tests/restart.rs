//! Restart safety: a topology rebuilt from its changelogs mid-stream continues exactly as one
//! that never stopped (no double counting, no lost windows, no final result emitted twice),
//! for key-value, window and session stores, emitting on update and on close, on both
//! engines.

use std::time::Duration;

use streams_core::StoreEngine;
use streams_dsl::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn topology(engine: StoreEngine) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .count_with(Materialized::named("counts").with_store_engine(engine.clone()))
        .to_stream()
        .to("counts");
    builder
        .stream::<String, String>("in-windows")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count_with(Materialized::named("windows").with_store_engine(engine.clone()))
        .to_stream()
        .to("windows");
    builder
        .stream::<String, String>("in-sessions")
        .group_by_key()
        .windowed_by_sessions(SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(5)))
        .count_with(Materialized::named("sessions").with_store_engine(engine.clone()))
        .to_stream()
        .to("sessions");
    // The same, each window's final result only: the emitted windows must stay emitted.
    builder
        .stream::<String, String>("in-windows-closed")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)).advance_by(ms(5)))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count_with(Materialized::named("windows-closed").with_store_engine(engine.clone()))
        .to_stream()
        .to("windows-closed");
    builder
        .stream::<String, String>("in-sessions-closed")
        .group_by_key()
        .windowed_by_sessions(SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(5)))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count_with(Materialized::named("sessions-closed").with_store_engine(engine.clone()))
        .to_stream()
        .to("sessions-closed");
    // Final results through a suppression buffer, which must survive the restart too.
    builder
        .stream::<String, String>("in-windows-suppressed")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)).advance_by(ms(5)))
        .count_with(Materialized::named("windows-suppressed").with_store_engine(engine.clone()))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to("windows-suppressed");
    for emit in [EmitStrategy::OnWindowUpdate, EmitStrategy::OnWindowClose] {
        let name = format!("sliding-{emit:?}");
        builder
            .stream::<String, String>(&format!("in-{name}"))
            .group_by_key()
            .windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(ms(10), ms(5)))
            .emit_strategy(emit)
            .count_with(Materialized::named(name.as_str()).with_store_engine(engine.clone()))
            .to_stream()
            .to(&name);
    }
    builder.build().expect("builds")
}

/// A deterministic input with out-of-order and late records over three keys.
fn input() -> Vec<(String, i64)> {
    (0..120i64)
        .map(|i| (format!("k{}", i % 3), i * 2 - (i * 37 % 11)))
        .map(|(k, t)| (k, t.max(0)))
        .collect()
}

type Windows = Vec<(Windowed<String>, Option<i64>)>;

/// The windowed outputs, in the order of `run`'s result.
const WINDOWED: [&str; 7] = [
    "windows",
    "sessions",
    "windows-closed",
    "sessions-closed",
    "sliding-OnWindowUpdate",
    "sliding-OnWindowClose",
    "windows-suppressed",
];

fn run(
    engine: StoreEngine,
    restart_after: Option<usize>,
) -> (Vec<(String, Option<i64>)>, Vec<Windows>) {
    let driver = TopologyTestDriver::new(topology(engine), StreamsConfig::new("app")).unwrap();
    let topics: Vec<_> = std::iter::once("in".to_string())
        .chain(WINDOWED.iter().map(|name| format!("in-{name}")))
        .map(|t| driver.input_topic::<String, String>(&t).unwrap())
        .collect();
    for (i, (key, t)) in input().into_iter().enumerate() {
        if Some(i) == restart_after {
            driver.restart().unwrap();
        }
        for topic in &topics {
            topic.pipe_key_value_at(key.clone(), "x".into(), t).unwrap();
        }
    }
    let read = |topic: &str| {
        driver
            .output_topic::<Windowed<String>, Option<i64>>(topic)
            .unwrap()
            .read_key_values_to_list()
            .unwrap()
    };
    let counts = driver
        .output_topic::<String, Option<i64>>("counts")
        .unwrap()
        .read_key_values_to_list()
        .unwrap();
    (counts, WINDOWED.iter().map(|name| read(name)).collect())
}

#[test]
fn a_restart_from_the_changelogs_continues_as_if_nothing_happened() {
    for engine in [StoreEngine::RocksDb, StoreEngine::InMemory] {
        let uninterrupted = run(engine.clone(), None);
        assert!(uninterrupted.1.iter().all(|rows| !rows.is_empty()));
        for point in [1, 40, 77, 119] {
            let restarted = run(engine.clone(), Some(point));
            let at = format!("{engine:?}, restarted before record {point}");
            assert_eq!(restarted.0, uninterrupted.0, "{at}: counts");
            for (i, name) in WINDOWED.iter().enumerate() {
                assert_eq!(restarted.1[i], uninterrupted.1[i], "{at}: {name}");
            }
        }
    }
}
