//! Property test: for random, shuffled, late and duplicate input, the final result of every
//! window (`on_window_close`) equals a naive model computed from all the records, for tumbling
//! and hopping windows, with and without grace.

use std::collections::BTreeMap;
use std::time::Duration;

use integration_tests::time_windows_model;
use proptest::prelude::*;
use streams_dsl::prelude::*;

fn finals(windows: TimeWindows, records: &[(u8, i64)]) -> BTreeMap<(i64, String), i64> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by(windows)
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count()
        .to_stream()
        .to("out");
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("model")).unwrap();
    let input = driver.input_topic::<String, String>("in").unwrap();
    for (key, t) in records {
        input
            .pipe_key_value_at(format!("k{key}"), "x".into(), *t)
            .unwrap();
    }
    // A record far ahead closes every window of the input.
    input
        .pipe_key_value_at("end".into(), "x".into(), 1_000_000)
        .unwrap();
    let mut finals = BTreeMap::new();
    let mut order = Vec::new();
    for (key, count) in driver
        .output_topic::<Windowed<String>, i64>("out")
        .unwrap()
        .read_key_values_to_list()
        .unwrap()
    {
        order.push(key.window.start);
        let previous = finals.insert((key.window.start, key.key), count);
        assert!(previous.is_none(), "a window emitted twice");
    }
    assert!(
        order.windows(2).all(|w| w[0] <= w[1]),
        "windows emitted out of order: {order:?}"
    );
    finals
}

fn window_specs() -> impl Strategy<Value = TimeWindows> {
    // Grace 0 (Kafka Streams' default) in a third of the cases, > 0 in the rest.
    let grace = prop_oneof![Just(0u64), 1u64..15, 1u64..15];
    (1u64..20, 1u64..20, grace).prop_map(|(size, advance, grace)| {
        TimeWindows::of_size_and_grace(Duration::from_millis(size), Duration::from_millis(grace))
            .advance_by(Duration::from_millis(advance.min(size)))
    })
}

fn records() -> impl Strategy<Value = Vec<(u8, i64)>> {
    // Mostly increasing times with jitter (out of order, late) and repeats (duplicates).
    proptest::collection::vec((0u8..3, 0i64..60, 0i64..25), 1..40).prop_map(|raw| {
        let mut base = 0;
        raw.into_iter()
            .map(|(key, step, back)| {
                base += step / 6;
                (key, (base - back).max(0))
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn final_results_match_a_naive_model(windows in window_specs(), records in records()) {
        let expected = time_windows_model(windows, &records);
        let got = finals(windows, &records);
        prop_assert_eq!(got, expected);
    }
}
