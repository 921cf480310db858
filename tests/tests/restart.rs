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
        .count_with(Materialized::named("counts").with_store_engine(engine))
        .to_stream()
        .to("counts");
    builder
        .stream::<String, String>("in-windows")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count_with(Materialized::named("windows").with_store_engine(engine))
        .to_stream()
        .to("windows");
    builder
        .stream::<String, String>("in-sessions")
        .group_by_key()
        .windowed_by_sessions(SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(5)))
        .count_with(Materialized::named("sessions").with_store_engine(engine))
        .to_stream()
        .to("sessions");
    // The same, each window's final result only: the emitted windows must stay emitted.
    builder
        .stream::<String, String>("in-windows-closed")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)).advance_by(ms(5)))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count_with(Materialized::named("windows-closed").with_store_engine(engine))
        .to_stream()
        .to("windows-closed");
    builder
        .stream::<String, String>("in-sessions-closed")
        .group_by_key()
        .windowed_by_sessions(SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(5)))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count_with(Materialized::named("sessions-closed").with_store_engine(engine))
        .to_stream()
        .to("sessions-closed");
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
type Outputs = (
    Vec<(String, Option<i64>)>,
    Windows,
    Windows,
    Windows,
    Windows,
);

fn run(engine: StoreEngine, restart_after: Option<usize>) -> Outputs {
    let driver = TopologyTestDriver::new(topology(engine), StreamsConfig::new("app")).unwrap();
    let topics = [
        "in",
        "in-windows",
        "in-sessions",
        "in-windows-closed",
        "in-sessions-closed",
    ]
    .map(|t| driver.input_topic::<String, String>(t).unwrap());
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
    (
        counts,
        read("windows"),
        read("sessions"),
        read("windows-closed"),
        read("sessions-closed"),
    )
}

#[test]
fn a_restart_from_the_changelogs_continues_as_if_nothing_happened() {
    for engine in [StoreEngine::RocksDb, StoreEngine::InMemory] {
        let uninterrupted = run(engine, None);
        assert!(!uninterrupted.1.is_empty() && !uninterrupted.2.is_empty());
        assert!(!uninterrupted.3.is_empty() && !uninterrupted.4.is_empty());
        for point in [1, 40, 77, 119] {
            let restarted = run(engine, Some(point));
            let at = format!("{engine:?}, restarted before record {point}");
            assert_eq!(restarted.0, uninterrupted.0, "{at}: counts");
            assert_eq!(restarted.1, uninterrupted.1, "{at}: windows");
            assert_eq!(restarted.2, uninterrupted.2, "{at}: sessions");
            assert_eq!(restarted.3, uninterrupted.3, "{at}: windows on close");
            assert_eq!(restarted.4, uninterrupted.4, "{at}: sessions on close");
        }
    }
}
