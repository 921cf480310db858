//! Triggers and panes through the test driver, for time, sliding and session windows: early
//! panes (every update, every N records, every processing-time interval), the on-time pane,
//! late panes within grace, the closing pane, retractions, session merges, pane info in record
//! headers, restarts, and property tests of the last panes against the naive window models.

use std::collections::BTreeMap;
use std::time::Duration;

use integration_tests::{
    s, session_windows_model, sliding_windows_model, sliding_without_partly_late,
    time_windows_model,
};
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

/// Sliding or session windows (the time-window tests use `triggered`).
#[derive(Clone, Copy, Debug)]
enum Spec {
    Sliding(SlidingWindows),
    Session(SessionWindows),
}

fn triggered_any(spec: Spec, trigger: Trigger) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    let grouped = builder.stream::<String, String>("in").group_by_key();
    let panes = match spec {
        Spec::Sliding(w) => grouped.windowed_by_sliding(w).trigger(trigger).count(),
        Spec::Session(w) => grouped.windowed_by_sessions(w).trigger(trigger).count(),
    };
    panes.to("out");
    TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("any")).unwrap()
}

/// `(key, window start, window end, count, timing, index, last, retraction, record time)`
/// of a pane.
type WindowRow = (String, i64, i64, i64, PaneTiming, u32, bool, bool, i64);

fn pipe_and_read_windows(driver: &TopologyTestDriver, records: &[(&str, i64)]) -> Vec<WindowRow> {
    let input = driver.input_topic::<String, String>("in").unwrap();
    for (key, t) in records {
        input.pipe_key_value_at(s(key), s("x"), *t).unwrap();
    }
    driver
        .output_topic::<Windowed<String>, Pane<i64>>("out")
        .unwrap()
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| {
            let (key, pane, time) = (r.key.unwrap(), r.value.unwrap(), r.timestamp.unwrap());
            let info = pane.info;
            let window = key.window;
            (
                key.key,
                window.start,
                window.end,
                pane.value,
                info.timing,
                info.index,
                info.is_last,
                pane.retraction,
                time,
            )
        })
        .collect()
}

fn w(
    key: &str,
    (start, end): (i64, i64),
    count: i64,
    timing: PaneTiming,
    (index, last): (u32, bool),
    time: i64,
) -> WindowRow {
    (s(key), start, end, count, timing, index, last, false, time)
}

fn wr(
    key: &str,
    (start, end): (i64, i64),
    count: i64,
    timing: PaneTiming,
    index: u32,
    time: i64,
) -> WindowRow {
    (s(key), start, end, count, timing, index, false, true, time)
}

#[test]
fn sliding_windows_are_on_time_one_ms_after_their_inclusive_end() {
    let driver = triggered_any(
        Spec::Sliding(SlidingWindows::of_time_difference_with_no_grace(ms(10))),
        Trigger::at_watermark(),
    );
    assert_eq!(pipe_and_read_windows(&driver, &[("a", 20)]), vec![]);
    // [10, 20] is on time at 21.
    assert_eq!(
        pipe_and_read_windows(&driver, &[("b", 21)]),
        vec![w("a", (10, 20), 1, OnTime, (0, true), 20)]
    );
    assert_eq!(
        pipe_and_read_windows(&driver, &[("a", 25)]),
        vec![w("b", (11, 21), 1, OnTime, (0, true), 21)]
    );
    assert_eq!(
        pipe_and_read_windows(&driver, &[("b", 26)]),
        vec![w("a", (15, 25), 2, OnTime, (0, true), 25)]
    );
    // Panes fall due in the order of their windows' ends, whatever the key.
    assert_eq!(
        pipe_and_read_windows(&driver, &[("b", 32)]),
        vec![
            w("b", (16, 26), 2, OnTime, (0, true), 26),
            w("a", (21, 31), 1, OnTime, (0, true), 25)
        ]
    );
}

#[test]
fn session_merges_of_two_and_three_sessions_retract_the_replaced_sessions_panes() {
    let driver = triggered_any(
        Spec::Session(SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(10))),
        Trigger::at_watermark()
            .with_early_firings(EarlyFiring::EveryUpdate)
            .retracting(),
    );
    // Two sessions merge: [0, 0]'s pane is retracted; [0, 5] starts its own panes.
    assert_eq!(
        pipe_and_read_windows(&driver, &[("a", 0), ("a", 5)]),
        vec![
            w("a", (0, 0), 1, Early, (0, false), 0),
            wr("a", (0, 0), 1, Early, 0, 0),
            w("a", (0, 5), 2, Early, (0, false), 5),
        ]
    );
    // [0, 5] is on time at 16 (no in-order record can reach it) and closes at 26: at 40
    // both at once, so its on-time pane is its last.
    assert_eq!(
        pipe_and_read_windows(&driver, &[("a", 40)]),
        vec![
            wr("a", (0, 5), 2, Early, 0, 5),
            w("a", (0, 5), 2, OnTime, (1, true), 5),
            w("a", (40, 40), 1, Early, (0, false), 40),
        ]
    );
    // [40, 40] is on time at 51, and open for 10 more.
    assert_eq!(
        pipe_and_read_windows(&driver, &[("a", 52)]),
        vec![
            wr("a", (40, 40), 1, Early, 0, 40),
            w("a", (40, 40), 1, OnTime, (1, false), 40),
            w("a", (52, 52), 1, Early, (0, false), 52),
        ]
    );
    // Three sessions merge: 46 bridges [40, 40] and [52, 52].
    assert_eq!(
        pipe_and_read_windows(&driver, &[("a", 46)]),
        vec![
            wr("a", (40, 40), 1, OnTime, 1, 40),
            wr("a", (52, 52), 1, Early, 0, 52),
            w("a", (40, 52), 3, Early, (0, false), 52),
        ]
    );
    assert_eq!(
        pipe_and_read_windows(&driver, &[("b", 80)]),
        vec![
            wr("a", (40, 52), 3, Early, 0, 52),
            w("a", (40, 52), 3, OnTime, (1, true), 52),
            w("b", (80, 80), 1, Early, (0, false), 80),
        ]
    );
}

/// Checks every window's panes: indices from 0 without gaps, at most one last pane and only
/// as the final one, and in retracting mode a retraction before every pane after the first.
/// Returns the value of each window's last pane, by (key, start, end).
fn last_panes(
    rows: Vec<WindowRow>,
    retracting: bool,
) -> Result<BTreeMap<(String, i64, i64), i64>, TestCaseError> {
    let mut by_window: BTreeMap<(String, i64, i64), Vec<WindowRow>> = BTreeMap::new();
    for row in rows.into_iter().filter(|r| r.0 != "end") {
        by_window
            .entry((row.0.clone(), row.1, row.2))
            .or_default()
            .push(row);
    }
    let mut finals = BTreeMap::new();
    for (window, rows) in by_window {
        let emitted: Vec<&WindowRow> = rows.iter().filter(|r| !r.7).collect();
        for (i, row) in emitted.iter().enumerate() {
            prop_assert_eq!(row.5 as usize, i, "pane indices of {:?}", window);
            prop_assert!(
                !row.6 || i + 1 == emitted.len(),
                "a last pane is the final one"
            );
        }
        if retracting {
            let retractions = rows.len() - emitted.len();
            // A session replaced by a merge also retracts its final pane.
            prop_assert!(retractions + 1 >= emitted.len() && retractions <= emitted.len());
        }
        if let Some(last) = emitted.last().filter(|r| r.6) {
            finals.insert(window, last.3);
        }
    }
    Ok(finals)
}

fn records() -> impl Strategy<Value = Vec<(u8, i64)>> {
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

fn run_to_the_end(driver: &TopologyTestDriver, records: &[(u8, i64)]) -> Vec<WindowRow> {
    let mut input: Vec<(String, i64)> =
        records.iter().map(|(k, t)| (format!("k{k}"), *t)).collect();
    input.push((s("end"), 1_000_000));
    let borrowed: Vec<(&str, i64)> = input.iter().map(|(k, t)| (k.as_str(), *t)).collect();
    pipe_and_read_windows(driver, &borrowed)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_sliding_window_s_last_pane_holds_the_model_s_result(
        d in 0i64..15,
        grace in prop_oneof![Just(0i64), 1i64..12],
        trigger in triggers(),
        records in records(),
    ) {
        let records = sliding_without_partly_late(d, grace, &records);
        let windows = SlidingWindows::of_time_difference_and_grace(ms(d as u64), ms(grace as u64));
        let driver = triggered_any(Spec::Sliding(windows), trigger);
        let rows = run_to_the_end(&driver, &records);
        let retracting = trigger.accumulation() == Accumulation::Retracting;
        let finals: BTreeMap<(String, i64), i64> = last_panes(rows, retracting)?
            .into_iter()
            .map(|((key, start, _), count)| ((key, start), count))
            .collect();
        let input: Vec<(String, i64)> = records.iter().map(|(k, t)| (format!("k{k}"), *t)).collect();
        let expected: BTreeMap<(String, i64), i64> = sliding_windows_model(d, grace, &input)
            .into_iter()
            .map(|(window, (count, _))| (window, count))
            .collect();
        prop_assert_eq!(finals, expected);
    }

    #[test]
    fn every_session_s_last_pane_holds_the_model_s_result(
        gap in 1i64..15,
        grace in prop_oneof![Just(0i64), 1i64..10],
        trigger in triggers(),
        records in records(),
    ) {
        let windows = SessionWindows::of_inactivity_gap_and_grace(ms(gap as u64), ms(grace as u64));
        let driver = triggered_any(Spec::Session(windows), trigger);
        let rows = run_to_the_end(&driver, &records);
        let retracting = trigger.accumulation() == Accumulation::Retracting;
        prop_assert_eq!(last_panes(rows, retracting)?, session_windows_model(gap, grace, &records));
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
