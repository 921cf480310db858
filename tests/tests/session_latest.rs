//! Session aggregations keep each key's latest session in memory, so that a record at or
//! after it merges without reading the store, within the cache budget. With no budget every
//! record reads the store, as before: the results, retractions included, and the sessions
//! stored must be the same either way, for shuffled, late and bridging records.

use std::time::Duration;

use proptest::prelude::*;
use streams_core::{SessionStore, ValueAndTimestamp};
use streams_dsl::prelude::*;

/// `(key, start, end, count or None for a retraction)`.
type Rows = Vec<(String, i64, i64, Option<i64>)>;

/// What a session count (gap and grace in ms, emitted as `emit` says, caching off on update)
/// emits for `records` with a cache budget of `budget` bytes, and the sessions it stores.
fn run(
    gap: u64,
    grace: u64,
    emit: EmitStrategy,
    budget: usize,
    records: &[(u8, i64)],
) -> (Rows, Vec<(String, i64, i64, i64)>) {
    let builder = StreamsBuilder::new();
    let materialized = Materialized::named("counts");
    let materialized = if emit == EmitStrategy::OnWindowUpdate {
        materialized.with_caching_disabled()
    } else {
        materialized
    };
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by_sessions(SessionWindows::of_inactivity_gap_and_grace(
            Duration::from_millis(gap),
            Duration::from_millis(grace),
        ))
        .emit_strategy(emit)
        .count_with(materialized)
        .to_stream()
        .to("out");
    let config = StreamsConfig::new("app")
        .cache_max_bytes(budget)
        .windowed_aggregation_emit_interval(Duration::ZERO);
    let driver = TopologyTestDriver::new(builder.build().unwrap(), config).unwrap();
    let input = driver.input_topic::<String, String>("in").unwrap();
    for (key, t) in records {
        input
            .pipe_key_value_at(format!("k{key}"), "x".into(), *t)
            .unwrap();
    }
    let rows = driver
        .output_topic::<Windowed<String>, i64>("out")
        .unwrap()
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| {
            let k = r.key.unwrap();
            (k.key, k.window.start, k.window.end, r.value)
        })
        .collect();
    let stored = driver
        .state_store::<SessionStore<String, ValueAndTimestamp<i64>>>("counts")
        .unwrap()
        .all()
        .unwrap()
        .into_iter()
        .map(|(key, start, end, v)| (key, start, end, v.value))
        .collect();
    (rows, stored)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn sessions_do_not_depend_on_whether_the_latest_is_kept_in_memory(
        gap in 1u64..15,
        grace in prop_oneof![Just(0u64), 1u64..10],
        on_close in any::<bool>(),
        steps in proptest::collection::vec((0u8..3, 0i64..12, prop::bool::weighted(0.25)), 1..60),
    ) {
        // Mostly in time order; a quarter of the records up to 20 ms late.
        let mut now = 0;
        let records: Vec<(u8, i64)> = steps
            .into_iter()
            .map(|(key, step, late)| {
                now += step;
                (key, if late { (now - 20).max(0) } else { now })
            })
            .collect();
        let emit = if on_close { EmitStrategy::OnWindowClose } else { EmitStrategy::OnWindowUpdate };
        let read_each_time = run(gap, grace, emit, 0, &records);
        let kept = run(gap, grace, emit, 10 << 20, &records);
        prop_assert_eq!(&kept.0, &read_each_time.0, "emitted");
        prop_assert_eq!(&kept.1, &read_each_time.1, "stored");
    }
}
