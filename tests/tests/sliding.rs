//! Sliding windows (Kafka Streams KIP-450) through the test driver: exact output for both
//! emit strategies, records on both window edges, out-of-order and late records, and a
//! property test against a naive model of the windows that the records define.

use std::collections::BTreeMap;
use std::time::Duration;

use integration_tests::{s, sliding_windows_model, sliding_without_partly_late};
use proptest::prelude::*;
use streams_dsl::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `(key, window start, window end, count, record time)` of every output record.
type Rows = Vec<(String, i64, i64, Option<i64>, i64)>;

fn sliding(windows: SlidingWindows, emit: EmitStrategy) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by_sliding(windows)
        .emit_strategy(emit)
        .with_late_records_topic("late")
        .count_with(Materialized::named("counts").with_caching_disabled())
        .to_stream()
        .to("out");
    TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("sliding")).unwrap()
}

fn pipe_and_read(driver: &TopologyTestDriver, records: &[(&str, i64)]) -> Rows {
    let input = driver.input_topic::<String, String>("in").unwrap();
    for (key, t) in records {
        input.pipe_key_value_at(s(key), s("x"), *t).unwrap();
    }
    driver
        .output_topic::<Windowed<String>, Option<i64>>("out")
        .unwrap()
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| {
            let key = r.key.expect("a key");
            let value = r.value.expect("a value");
            let time = r.timestamp.expect("a time");
            (key.key, key.window.start, key.window.end, value, time)
        })
        .collect()
}

fn row(
    key: &str,
    start: i64,
    end: i64,
    count: i64,
    time: i64,
) -> (String, i64, i64, Option<i64>, i64) {
    (s(key), start, end, Some(count), time)
}

#[test]
fn each_record_has_a_left_window_and_a_right_window_once_a_later_record_falls_in_it() {
    let driver = sliding(
        SlidingWindows::of_time_difference_with_no_grace(ms(10)),
        EmitStrategy::OnWindowUpdate,
    );
    assert_eq!(
        pipe_and_read(&driver, &[("a", 20), ("a", 25)]),
        vec![
            row("a", 10, 20, 1, 20),
            // The first record's right window holds only the second; the second's left
            // window (from the first's window) both. As Kafka Streams, the right window of
            // the record before comes first.
            row("a", 21, 31, 1, 25),
            row("a", 15, 25, 2, 25),
        ]
    );
    // On the end edge of [21, 31]: that window takes it (it is also the record's left
    // window), and the right window of 25 comes into being.
    assert_eq!(
        pipe_and_read(&driver, &[("a", 31)]),
        vec![row("a", 21, 31, 2, 31), row("a", 26, 36, 1, 31)]
    );
    // One ms past the end of [21, 31]: 31's right window is also its left window, which
    // Kafka Streams creates (and emits) twice.
    assert_eq!(
        pipe_and_read(&driver, &[("a", 42)]),
        vec![row("a", 32, 42, 1, 42), row("a", 32, 42, 1, 42)]
    );
    // Another key's windows are its own.
    assert_eq!(
        pipe_and_read(&driver, &[("b", 42)]),
        vec![row("b", 32, 42, 1, 42)]
    );
    // 20's windows all closed (the latest ends at 31, and the watermark is 42): dropped,
    // counted and sent to the late-records topic.
    assert_eq!(pipe_and_read(&driver, &[("a", 20)]), vec![]);
    assert_eq!(driver.metrics().dropped, 1);
    let late = driver.output_topic::<String, String>("late").unwrap();
    assert_eq!(
        late.read_key_values_to_list().unwrap(),
        vec![(s("a"), s("x"))]
    );
}

#[test]
fn out_of_order_records_within_grace_join_every_window_that_holds_them() {
    let driver = sliding(
        SlidingWindows::of_time_difference_and_grace(ms(10), ms(20)),
        EmitStrategy::OnWindowUpdate,
    );
    pipe_and_read(&driver, &[("a", 20), ("a", 25)]);
    // 21 sits on the start edge of 20's right window [21, 31]. As Kafka Streams: the
    // windows that hold it newest first, then its left window (from [10, 20]), then its
    // right window (a copy of [21, 31] before 21).
    assert_eq!(
        pipe_and_read(&driver, &[("a", 21)]),
        vec![
            row("a", 21, 31, 2, 25),
            row("a", 15, 25, 3, 25),
            row("a", 11, 21, 2, 21),
            row("a", 22, 32, 1, 25),
        ]
    );
    // A duplicate of 25 joins the windows that hold 25 and creates none.
    assert_eq!(
        pipe_and_read(&driver, &[("a", 25)]),
        vec![
            row("a", 22, 32, 2, 25),
            row("a", 21, 31, 3, 25),
            row("a", 15, 25, 4, 25),
        ]
    );
}

#[test]
fn a_record_late_for_some_windows_joins_the_ones_still_open() {
    // Watermark 40 after the second record: windows ending before 40 have closed.
    let driver = sliding(
        SlidingWindows::of_time_difference_with_no_grace(ms(10)),
        EmitStrategy::OnWindowUpdate,
    );
    pipe_and_read(&driver, &[("a", 30), ("a", 40)]);
    // 35: its left window [25, 35] has closed; the windows ending at 40 or later take it,
    // and its right window comes into being.
    assert_eq!(
        pipe_and_read(&driver, &[("a", 35)]),
        vec![
            row("a", 31, 41, 2, 40),
            row("a", 30, 40, 3, 40),
            row("a", 36, 46, 1, 40),
        ]
    );
    assert_eq!(
        driver.metrics().dropped,
        1,
        "one window missed: its left window"
    );
}

#[test]
fn on_window_close_emits_each_window_once_in_window_order() {
    let driver = sliding(
        SlidingWindows::of_time_difference_and_grace(ms(10), ms(5)),
        EmitStrategy::OnWindowClose,
    );
    assert_eq!(
        pipe_and_read(&driver, &[("a", 20), ("b", 22), ("a", 25)]),
        vec![]
    );
    // [10, 20] closes when the watermark reaches 20 + 1 + 5.
    assert_eq!(pipe_and_read(&driver, &[("c", 25)]), vec![]);
    assert_eq!(
        pipe_and_read(&driver, &[("c", 26)]),
        vec![row("a", 10, 20, 1, 20)]
    );
    // 42 closes [26, 36] while the store still retains every window (2 d + grace back
    // from the latest start, 32).
    assert_eq!(
        pipe_and_read(&driver, &[("c", 42)]),
        vec![
            row("b", 12, 22, 1, 22),
            row("a", 15, 25, 2, 25),
            row("c", 15, 25, 1, 25),
            row("c", 16, 26, 2, 26),
            row("a", 21, 31, 1, 25),
            row("c", 26, 36, 1, 26),
        ]
    );
}

#[test]
fn sliding_windows_reduce_and_aggregate_in_time_order() {
    let builder = StreamsBuilder::new();
    let input = builder.stream::<String, String>("in");
    input
        .group_by_key()
        .windowed_by_sliding(SlidingWindows::of_time_difference_with_no_grace(ms(10)))
        .reduce(|a, b| format!("{a}{b}"))
        .to_stream()
        .to("reduced");
    input
        .group_by_key()
        .windowed_by_sliding(SlidingWindows::of_time_difference_with_no_grace(ms(10)))
        .aggregate(|| 0i64, |_, v, total| total + v.len() as i64)
        .to_stream()
        .to("aggregated");
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("r")).unwrap();
    let input = driver.input_topic::<String, String>("in").unwrap();
    input.pipe_key_value_at(s("k"), s("a"), 10).unwrap();
    input.pipe_key_value_at(s("k"), s("bb"), 15).unwrap();
    let reduced = driver
        .output_topic::<Windowed<String>, String>("reduced")
        .unwrap();
    let last: BTreeMap<i64, String> = reduced
        .read_key_values_to_list()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.window.start, v))
        .collect();
    assert_eq!(
        last,
        BTreeMap::from([(0, s("a")), (5, s("abb")), (11, s("bb"))])
    );
    let aggregated = driver
        .output_topic::<Windowed<String>, i64>("aggregated")
        .unwrap();
    let last: BTreeMap<i64, i64> = aggregated
        .read_key_values_to_list()
        .unwrap()
        .into_iter()
        .map(|(k, v)| (k.window.start, v))
        .collect();
    assert_eq!(last, BTreeMap::from([(0, 1), (5, 3), (11, 2)]));
}

fn records() -> impl Strategy<Value = Vec<(u8, i64)>> {
    // Mostly increasing times with jitter (out of order, late) and repeats (duplicates).
    proptest::collection::vec((0u8..3, 0i64..40, 0i64..20), 1..40).prop_map(|raw| {
        let mut base = 0;
        raw.into_iter()
            .map(|(key, step, back)| {
                base += step / 5;
                (key, (base - back).max(0))
            })
            .collect()
    })
}

fn grace() -> impl Strategy<Value = i64> {
    prop_oneof![Just(0i64), 1i64..12]
}

fn input(records: &[(u8, i64)]) -> Vec<(String, i64)> {
    records.iter().map(|(k, t)| (format!("k{k}"), *t)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn final_sliding_windows_match_a_naive_model(
        d in 0i64..15,
        grace in grace(),
        records in records(),
    ) {
        let records = sliding_without_partly_late(d, grace, &records);
        let driver = sliding(
            SlidingWindows::of_time_difference_and_grace(ms(d as u64), ms(grace as u64)),
            EmitStrategy::OnWindowClose,
        );
        let mut input = input(&records);
        // Records of another key, a ms apart, close every window of the input (one far
        // ahead would push them out of the store's retention first, as in Kafka Streams).
        let last = records.iter().map(|(_, t)| *t).max().unwrap_or(0).max(d);
        input.extend((last..=last + 2 * d + grace + 2).map(|t| (s("end"), t)));
        let borrowed: Vec<(&str, i64)> = input.iter().map(|(k, t)| (k.as_str(), *t)).collect();
        let mut got = BTreeMap::new();
        let mut order = Vec::new();
        for (key, start, end, count, _) in pipe_and_read(&driver, &borrowed) {
            prop_assert_eq!(end - start, d);
            order.push(start);
            if key != "end" {
                let previous = got.insert((key, start), count.expect("finals only"));
                prop_assert!(previous.is_none(), "a window emitted twice");
            }
        }
        prop_assert!(order.windows(2).all(|w| w[0] <= w[1]), "out of window order: {:?}", order);
        let expected: BTreeMap<_, _> = sliding_windows_model(d, grace, &input)
            .into_iter()
            .filter(|((key, _), (_, emitted))| key != "end" && *emitted)
            .map(|(window, (count, _))| (window, count))
            .collect();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn the_last_update_of_every_sliding_window_matches_a_naive_model(
        d in 0i64..15,
        grace in grace(),
        records in records(),
    ) {
        let records = sliding_without_partly_late(d, grace, &records);
        let driver = sliding(
            SlidingWindows::of_time_difference_and_grace(ms(d as u64), ms(grace as u64)),
            EmitStrategy::OnWindowUpdate,
        );
        let input = input(&records);
        let borrowed: Vec<(&str, i64)> = input.iter().map(|(k, t)| (k.as_str(), *t)).collect();
        let mut got = BTreeMap::new();
        for (key, start, _, count, _) in pipe_and_read(&driver, &borrowed) {
            got.insert((key, start), count.expect("no deletes"));
        }
        let expected: BTreeMap<_, _> = sliding_windows_model(d, grace, &input)
            .into_iter()
            .map(|(window, (count, _))| (window, count))
            .collect();
        prop_assert_eq!(got, expected);
    }
}
