//! Session windows through the test driver: merges of two and three sessions with their
//! retractions, late records, emit on close, and a property test against a naive model.

use std::collections::BTreeMap;
use std::time::Duration;

use integration_tests::{s, session_windows_model};
use proptest::prelude::*;
use streams_dsl::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn sessions(windows: SessionWindows, emit: EmitStrategy) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by_sessions(windows)
        .emit_strategy(emit)
        .count()
        .to_stream()
        .to("out");
    TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("app")).unwrap()
}

/// `(key, start, end, count or None for a retraction, record time)`.
type Rows = Vec<(String, i64, i64, Option<i64>, i64)>;

fn pipe_and_read(driver: &TopologyTestDriver, records: &[(&str, i64)]) -> Rows {
    let input = driver.input_topic::<String, String>("in").unwrap();
    for (key, t) in records {
        input.pipe_key_value_at(s(key), s("x"), *t).unwrap();
    }
    driver
        .output_topic::<Windowed<String>, i64>("out")
        .unwrap()
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| {
            let k = r.key.unwrap();
            (
                k.key,
                k.window.start,
                k.window.end,
                r.value,
                r.timestamp.unwrap(),
            )
        })
        .collect()
}

#[test]
fn merges_retract_the_sessions_they_replace() {
    // A grace period of 10 keeps [0, 5] (retention: gap + grace) for the three-way merge.
    let windows = SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(10));
    let driver = sessions(windows, EmitStrategy::OnWindowUpdate);
    let rows = pipe_and_read(
        &driver,
        &[("a", 0), ("a", 5), ("a", 22), ("a", 13), ("b", 1)],
    );
    assert_eq!(
        rows,
        vec![
            (s("a"), 0, 0, Some(1), 0),
            // 5 joins [0, 0]: the old session is retracted (at its end), the merged one
            // emitted.
            (s("a"), 0, 0, None, 0),
            (s("a"), 0, 5, Some(2), 5),
            (s("a"), 22, 22, Some(1), 22),
            // 13 bridges [0, 5] and [22, 22]: three sessions become one.
            (s("a"), 0, 5, None, 5),
            (s("a"), 22, 22, None, 22),
            (s("a"), 0, 22, Some(4), 22),
        ]
    );
    // b@1 came after its session could have closed (1 < watermark 22 - gap 10 - grace 10).
    assert_eq!(driver.metrics().dropped, 1);
}

#[test]
fn a_record_inside_a_session_updates_it_without_a_retraction() {
    let driver = sessions(
        SessionWindows::of_inactivity_gap_with_no_grace(ms(10)),
        EmitStrategy::OnWindowUpdate,
    );
    let rows = pipe_and_read(&driver, &[("a", 0), ("a", 8), ("a", 4)]);
    assert_eq!(rows[3..], [(s("a"), 0, 8, Some(3), 8)]);
}

#[test]
fn grace_accepts_out_of_order_records_for_open_sessions() {
    let windows = SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(5));
    let driver = sessions(windows, EmitStrategy::OnWindowUpdate);
    let rows = pipe_and_read(&driver, &[("a", 0), ("b", 4), ("a", 8)]);
    assert_eq!(rows.len(), 4);
    // 4 >= watermark 8 - gap 10 - grace 5: b's late record still joins its session.
    let rows = pipe_and_read(&driver, &[("b", 3)]);
    assert_eq!(
        rows,
        vec![(s("b"), 4, 4, None, 4), (s("b"), 3, 4, Some(2), 4)]
    );
    let rows = pipe_and_read(&driver, &[("a", 30), ("b", 10)]);
    assert_eq!(
        rows,
        vec![(s("a"), 30, 30, Some(1), 30)],
        "b@10 would end at 10 < 30 - 10 - 5"
    );
    assert_eq!(driver.metrics().dropped, 1);
}

#[test]
fn on_window_close_emits_each_session_once_when_no_record_can_reach_it() {
    let driver = sessions(
        SessionWindows::of_inactivity_gap_with_no_grace(ms(10)),
        EmitStrategy::OnWindowClose,
    );
    assert!(pipe_and_read(&driver, &[("a", 0), ("b", 3), ("a", 5)]).is_empty());
    // Watermark 30: sessions ending before 30 - 10 are final.
    assert_eq!(
        pipe_and_read(&driver, &[("a", 30)]),
        vec![(s("b"), 3, 3, Some(1), 3), (s("a"), 0, 5, Some(2), 5)]
    );
    assert_eq!(
        pipe_and_read(&driver, &[("a", 41)]),
        vec![(s("a"), 30, 30, Some(1), 30)]
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn final_sessions_match_a_naive_model(
        gap in 1i64..15,
        grace in prop_oneof![Just(0i64), 1i64..10, 1i64..10],
        raw in proptest::collection::vec((0u8..3, 0i64..40, 0i64..20), 1..40),
    ) {
        let mut base = 0;
        let records: Vec<(u8, i64)> = raw
            .into_iter()
            .map(|(key, step, back)| {
                base += step / 5;
                (key, (base - back).max(0))
            })
            .collect();
        let driver = sessions(
            SessionWindows::of_inactivity_gap_and_grace(Duration::from_millis(gap as u64), Duration::from_millis(grace as u64)),
            EmitStrategy::OnWindowClose,
        );
        let mut input: Vec<(String, i64)> = records.iter().map(|(k, t)| (format!("k{k}"), *t)).collect();
        input.push((s("end"), 1_000_000));
        let borrowed: Vec<(&str, i64)> = input.iter().map(|(k, t)| (k.as_str(), *t)).collect();
        let mut got = BTreeMap::new();
        for (key, start, end, count, _) in pipe_and_read(&driver, &borrowed) {
            let previous = got.insert((key, start, end), count.expect("finals only"));
            prop_assert!(previous.is_none(), "a session emitted twice");
        }
        prop_assert_eq!(got, session_windows_model(gap, grace, &records));
    }
}
