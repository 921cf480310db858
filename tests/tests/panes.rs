//! Triggers and panes through the test driver: early panes (every update, every N records,
//! every processing-time interval), the on-time pane, late panes within grace, the closing
//! pane, retractions, pane info in record headers, restarts, and a property test of the last
//! panes against the naive window model.

use std::collections::BTreeMap;
use std::time::Duration;

use integration_tests::{s, time_windows_model};
use proptest::prelude::*;
use streams_dsl::prelude::*;
use streams_dsl::{
    PANE_INDEX_HEADER, PANE_LAST_HEADER, PANE_RETRACTION_HEADER, PANE_TIMING_HEADER,
};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `(key, window start, count, timing, index, last, retraction, record time)` of a pane.
type Row = (String, i64, i64, PaneTiming, u32, bool, bool, i64);

fn triggered(windows: TimeWindows, trigger: Trigger) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by(windows)
        .with_late_records_topic("late")
        .trigger(trigger)
        .count_with(Materialized::named("panes"))
        .to("out");
    TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("panes")).unwrap()
}

fn pipe_and_read(driver: &TopologyTestDriver, records: &[(&str, i64)]) -> Vec<Row> {
    let input = driver.input_topic::<String, String>("in").unwrap();
    for (key, t) in records {
        input.pipe_key_value_at(s(key), s("x"), *t).unwrap();
    }
    read(driver)
}

fn read(driver: &TopologyTestDriver) -> Vec<Row> {
    driver
        .output_topic::<Windowed<String>, Pane<i64>>("out")
        .unwrap()
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| {
            let (key, pane, time) = (r.key.unwrap(), r.value.unwrap(), r.timestamp.unwrap());
            let info = pane.info;
            let (start, value) = (key.window.start, pane.value);
            (
                key.key,
                start,
                value,
                info.timing,
                info.index,
                info.is_last,
                pane.retraction,
                time,
            )
        })
        .collect()
}

fn pane(
    key: &str,
    start: i64,
    count: i64,
    timing: PaneTiming,
    index: u32,
    last: bool,
    time: i64,
) -> Row {
    (s(key), start, count, timing, index, last, false, time)
}

fn retraction(key: &str, start: i64, count: i64, timing: PaneTiming, index: u32, time: i64) -> Row {
    (s(key), start, count, timing, index, false, true, time)
}

use PaneTiming::{Early, Late, OnTime};

#[test]
fn without_early_firings_and_grace_each_window_emits_one_on_time_pane_that_is_last() {
    let driver = triggered(
        TimeWindows::of_size_with_no_grace(ms(10)),
        Trigger::at_watermark(),
    );
    assert_eq!(
        pipe_and_read(&driver, &[("a", 1), ("a", 5), ("b", 7)]),
        vec![]
    );
    // Exactly at the window's end: the watermark reaches it.
    assert_eq!(
        pipe_and_read(&driver, &[("a", 10)]),
        vec![
            pane("a", 0, 2, OnTime, 0, true, 5),
            pane("b", 0, 1, OnTime, 0, true, 7)
        ]
    );
    // An empty window emits nothing: [10, 20) holds a; [20, 30) nothing.
    assert_eq!(
        pipe_and_read(&driver, &[("a", 35)]),
        vec![pane("a", 10, 1, OnTime, 0, true, 10)]
    );
}

#[test]
fn early_on_time_late_and_closing_panes_within_grace() {
    let driver = triggered(
        TimeWindows::of_size_and_grace(ms(10), ms(5)),
        Trigger::at_watermark().with_early_firings(EarlyFiring::EveryUpdate),
    );
    assert_eq!(
        pipe_and_read(&driver, &[("a", 1), ("a", 3)]),
        vec![
            pane("a", 0, 1, Early, 0, false, 1),
            pane("a", 0, 2, Early, 1, false, 3)
        ]
    );
    // The watermark reaches [0, 10)'s end: its on-time pane (not last: grace follows),
    // before the new record's early pane in [10, 20).
    assert_eq!(
        pipe_and_read(&driver, &[("b", 10)]),
        vec![
            pane("a", 0, 2, OnTime, 2, false, 3),
            pane("b", 10, 1, Early, 0, false, 10)
        ]
    );
    // Out of order within grace: a late pane.
    assert_eq!(
        pipe_and_read(&driver, &[("a", 4)]),
        vec![pane("a", 0, 3, Late, 3, false, 4)]
    );
    // The watermark reaches end + grace: the closing pane, last.
    assert_eq!(
        pipe_and_read(&driver, &[("b", 15)]),
        vec![
            pane("a", 0, 3, Late, 4, true, 4),
            pane("b", 10, 2, Early, 1, false, 15)
        ]
    );
    // Late beyond grace: dropped, counted and routed; no pane.
    assert_eq!(pipe_and_read(&driver, &[("a", 2)]), vec![]);
    assert_eq!(driver.metrics().dropped, 1);
    let late = driver.output_topic::<String, String>("late").unwrap();
    assert_eq!(
        late.read_key_values_to_list().unwrap(),
        vec![(s("a"), s("x"))]
    );
}

#[test]
fn early_panes_every_n_records_in_overlapping_hopping_windows() {
    let driver = triggered(
        TimeWindows::of_size_with_no_grace(ms(10)).advance_by(ms(5)),
        Trigger::at_watermark().with_early_firings(EarlyFiring::EveryRecords(2)),
    );
    assert_eq!(pipe_and_read(&driver, &[("a", 6)]), vec![]);
    assert_eq!(
        pipe_and_read(&driver, &[("a", 7)]),
        vec![
            pane("a", 0, 2, Early, 0, false, 7),
            pane("a", 5, 2, Early, 0, false, 7)
        ]
    );
    assert_eq!(pipe_and_read(&driver, &[("a", 8)]), vec![]);
    assert_eq!(
        pipe_and_read(&driver, &[("a", 10)]),
        vec![
            pane("a", 0, 3, OnTime, 1, true, 8),
            pane("a", 5, 4, Early, 1, false, 10)
        ]
    );
}

#[test]
fn early_panes_every_processing_time_interval_for_updated_windows_only() {
    let driver = triggered(
        TimeWindows::of_size_with_no_grace(ms(10)),
        Trigger::at_watermark().with_early_firings(EarlyFiring::ProcessingTime(ms(100))),
    );
    assert_eq!(
        pipe_and_read(&driver, &[("a", 1), ("a", 2), ("b", 3)]),
        vec![]
    );
    driver.advance_wall_clock_time(ms(100)).unwrap();
    assert_eq!(
        read(&driver),
        vec![
            pane("a", 0, 2, Early, 0, false, 2),
            pane("b", 0, 1, Early, 0, false, 3)
        ]
    );
    driver.advance_wall_clock_time(ms(100)).unwrap();
    assert_eq!(read(&driver), vec![], "nothing new since the last panes");
    pipe_and_read(&driver, &[("a", 4)]);
    driver.advance_wall_clock_time(ms(100)).unwrap();
    assert_eq!(read(&driver), vec![pane("a", 0, 3, Early, 1, false, 4)]);
    assert_eq!(
        pipe_and_read(&driver, &[("c", 20)]),
        vec![
            pane("a", 0, 3, OnTime, 2, true, 4),
            pane("b", 0, 1, OnTime, 1, true, 3)
        ]
    );
}

#[test]
fn retracting_mode_retracts_the_previous_pane_before_each_new_one() {
    let driver = triggered(
        TimeWindows::of_size_with_no_grace(ms(10)),
        Trigger::at_watermark()
            .with_early_firings(EarlyFiring::EveryUpdate)
            .retracting(),
    );
    assert_eq!(
        pipe_and_read(&driver, &[("a", 1), ("a", 2), ("b", 10)]),
        vec![
            pane("a", 0, 1, Early, 0, false, 1),
            retraction("a", 0, 1, Early, 0, 2),
            pane("a", 0, 2, Early, 1, false, 2),
            retraction("a", 0, 2, Early, 1, 2),
            pane("a", 0, 2, OnTime, 2, true, 2),
            pane("b", 10, 1, Early, 0, false, 10),
        ]
    );
}

#[test]
fn sinks_write_the_pane_info_as_record_headers() {
    let driver = triggered(
        TimeWindows::of_size_with_no_grace(ms(10)),
        Trigger::at_watermark(),
    );
    let input = driver.input_topic::<String, String>("in").unwrap();
    input.pipe_key_value_at(s("a"), s("x"), 1).unwrap();
    input.pipe_key_value_at(s("a"), s("x"), 10).unwrap();
    // Read as plain counts: the pane info is in the headers only.
    let records = driver
        .output_topic::<Windowed<String>, i64>("out")
        .unwrap()
        .read_records_to_list()
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].value, Some(1));
    let header = |name: &str| records[0].headers.last(name).map(<[u8]>::to_vec);
    assert_eq!(header(PANE_TIMING_HEADER), Some(b"ON_TIME".to_vec()));
    assert_eq!(header(PANE_INDEX_HEADER), Some(b"0".to_vec()));
    assert_eq!(header(PANE_LAST_HEADER), Some(b"true".to_vec()));
    assert_eq!(header(PANE_RETRACTION_HEADER), Some(b"false".to_vec()));
}

#[test]
fn a_restart_from_the_changelogs_continues_every_window_s_panes() {
    let input: Vec<(String, i64)> = (0..90i64)
        .map(|i| (format!("k{}", i % 3), (i * 2 - (i * 37 % 11)).max(0)))
        .collect();
    let run = |restart_at: Option<usize>| {
        let driver = triggered(
            TimeWindows::of_size_and_grace(ms(10), ms(5)).advance_by(ms(5)),
            Trigger::at_watermark()
                .with_early_firings(EarlyFiring::EveryRecords(2))
                .retracting(),
        );
        let topic = driver.input_topic::<String, String>("in").unwrap();
        for (i, (key, t)) in input.iter().enumerate() {
            if Some(i) == restart_at {
                driver.restart().unwrap();
            }
            topic.pipe_key_value_at(key.clone(), s("x"), *t).unwrap();
        }
        read(&driver)
    };
    let uninterrupted = run(None);
    assert!(uninterrupted.iter().any(|r| r.3 == Late));
    for point in [1, 33, 89] {
        assert_eq!(
            run(Some(point)),
            uninterrupted,
            "restarted before record {point}"
        );
    }
}

fn window_specs() -> impl Strategy<Value = TimeWindows> {
    (1u64..20, 1u64..20, prop_oneof![Just(0u64), 1u64..15]).prop_map(|(size, advance, grace)| {
        TimeWindows::of_size_and_grace(ms(size), ms(grace)).advance_by(ms(advance.min(size)))
    })
}

fn triggers() -> impl Strategy<Value = Trigger> {
    let early = prop_oneof![
        Just(EarlyFiring::Never),
        Just(EarlyFiring::EveryUpdate),
        (1u32..4).prop_map(EarlyFiring::EveryRecords),
    ];
    (early, any::<bool>()).prop_map(|(early, retracting)| {
        let trigger = Trigger::at_watermark().with_early_firings(early);
        if retracting {
            trigger.retracting()
        } else {
            trigger
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Each window's panes are numbered from 0 without gaps, exactly one is last and it is
    /// the final one, it carries the naive model's count, and in retracting mode every pane
    /// after the first is preceded by the retraction of the one before.
    #[test]
    fn every_window_ends_with_one_last_pane_holding_the_model_s_result(
        windows in window_specs(),
        trigger in triggers(),
        raw in proptest::collection::vec((0u8..3, 0i64..60, 0i64..25), 1..40),
    ) {
        let mut base = 0;
        let records: Vec<(u8, i64)> = raw
            .into_iter()
            .map(|(key, step, back)| {
                base += step / 6;
                (key, (base - back).max(0))
            })
            .collect();
        let driver = triggered(windows, trigger);
        let mut input: Vec<(String, i64)> =
            records.iter().map(|(k, t)| (format!("k{k}"), *t)).collect();
        input.push((s("end"), 1_000_000));
        let borrowed: Vec<(&str, i64)> = input.iter().map(|(k, t)| (k.as_str(), *t)).collect();
        let mut panes: BTreeMap<(i64, String), Vec<Row>> = BTreeMap::new();
        // The record that closes every window opens one of its own, which stays open.
        for row in pipe_and_read(&driver, &borrowed).into_iter().filter(|r| r.0 != "end") {
            panes.entry((row.1, row.0.clone())).or_default().push(row);
        }
        let mut finals = BTreeMap::new();
        for (window, rows) in &panes {
            let emitted: Vec<&Row> = rows.iter().filter(|r| !r.6).collect();
            for (i, row) in emitted.iter().enumerate() {
                prop_assert_eq!(row.4 as usize, i, "pane indices of {:?}", window);
                prop_assert_eq!(row.5, i + 1 == emitted.len(), "only the final pane is last");
            }
            if trigger.accumulation() == Accumulation::Retracting {
                let retractions = rows.len() - emitted.len();
                prop_assert_eq!(retractions, emitted.len() - 1);
            }
            finals.insert(window.clone(), emitted.last().map(|r| r.2).unwrap_or_default());
        }
        let mut expected = time_windows_model(windows, &records);
        expected.retain(|_, count| *count > 0);
        prop_assert_eq!(finals, expected);
    }
}
