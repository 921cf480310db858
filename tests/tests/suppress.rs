//! `suppress` through the test driver: final results when windows close (the same as emitting
//! on close, for every window type), rate limiting by a time limit, bounded buffers that emit
//! early or fail when full, and the build errors that guard the final-results promise.

use std::collections::BTreeSet;
use std::time::Duration;

use integration_tests::s;
use proptest::prelude::*;
use streams_dsl::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `(key, window start, window end, value, record time)` of every output record.
type Rows = Vec<(String, i64, i64, Option<i64>, i64)>;

fn read_windows(driver: &TopologyTestDriver, topic: &str) -> Rows {
    driver
        .output_topic::<Windowed<String>, Option<i64>>(topic)
        .unwrap()
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| {
            let key = r.key.expect("a key");
            let (value, time) = (r.value.expect("a value"), r.timestamp.expect("a time"));
            (key.key, key.window.start, key.window.end, value, time)
        })
        .collect()
}

fn pipe(driver: &TopologyTestDriver, records: &[(&str, i64)]) {
    let input = driver.input_topic::<String, String>("in").unwrap();
    for (key, t) in records {
        input.pipe_key_value_at(s(key), s("x"), *t).unwrap();
    }
}

#[test]
fn until_window_closes_emits_each_window_once_when_it_closes() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count()
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to("out");
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("s")).unwrap();
    pipe(
        &driver,
        &[("a", 1), ("a", 9), ("b", 10), ("a", 12), ("a", 3)],
    );
    assert_eq!(
        read_windows(&driver, "out"),
        vec![],
        "[0, 10) is open until 15"
    );
    pipe(&driver, &[("b", 15)]);
    assert_eq!(
        read_windows(&driver, "out"),
        vec![(s("a"), 0, 10, Some(3), 9)]
    );
    pipe(&driver, &[("b", 100)]);
    assert_eq!(
        read_windows(&driver, "out"),
        vec![(s("b"), 10, 20, Some(2), 15), (s("a"), 10, 20, Some(1), 12)]
    );
}

#[test]
fn until_time_limit_emits_the_latest_value_per_key_at_most_once_per_limit() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .count()
        .suppress(Suppressed::until_time_limit(
            ms(10),
            BufferConfig::unbounded(),
        ))
        .to_stream()
        .to("out");
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("s")).unwrap();
    let out = driver.output_topic::<String, Option<i64>>("out").unwrap();
    pipe(&driver, &[("a", 0), ("a", 4), ("b", 5), ("a", 9)]);
    assert!(out.is_empty());
    // Stream time 10: a's first waiting update (at 0) is due, with a's latest count.
    pipe(&driver, &[("c", 10)]);
    let first: Vec<_> = out
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| (r.key.unwrap(), r.value.unwrap(), r.timestamp.unwrap()))
        .collect();
    assert_eq!(first, vec![(s("a"), Some(3), 9)]);
    // Stream time 20: b (due at 15) and c (first waiting at 10); a waits from 11.
    pipe(&driver, &[("a", 11), ("c", 20)]);
    assert_eq!(
        out.read_key_values_to_list().unwrap(),
        vec![(s("b"), Some(1)), (s("c"), Some(2))]
    );
    pipe(&driver, &[("c", 21)]);
    assert_eq!(
        out.read_key_values_to_list().unwrap(),
        vec![(s("a"), Some(4))]
    );
}

#[test]
fn a_full_buffer_emits_the_longest_waiting_key_early() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .count()
        .suppress(Suppressed::until_time_limit(
            ms(1_000),
            BufferConfig::max_records(2),
        ))
        .to_stream()
        .to("out");
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("s")).unwrap();
    let out = driver.output_topic::<String, Option<i64>>("out").unwrap();
    pipe(&driver, &[("a", 0), ("b", 1), ("a", 2)]);
    assert!(out.is_empty(), "two keys fit");
    pipe(&driver, &[("c", 3)]);
    assert_eq!(
        out.read_key_values_to_list().unwrap(),
        vec![(s("a"), Some(2))]
    );
    pipe(&driver, &[("d", 4)]);
    assert_eq!(
        out.read_key_values_to_list().unwrap(),
        vec![(s("b"), Some(1))]
    );
}

#[test]
fn a_full_buffer_that_must_not_emit_early_fails_the_task() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .count()
        .suppress(Suppressed::until_window_closes(
            BufferConfig::max_bytes(1 << 20)
                .with_max_records(1)
                .shut_down_when_full(),
        ))
        .to_stream()
        .to("out");
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("s")).unwrap();
    let input = driver.input_topic::<String, String>("in").unwrap();
    input.pipe_key_value_at(s("a"), s("x"), 1).unwrap();
    let error = input
        .pipe_key_value_at(s("b"), s("x"), 2)
        .expect_err("a second key overflows the buffer");
    assert!(error.to_string().contains("is full (2 keys"), "{error}");
}

#[test]
fn until_window_closes_refuses_a_buffer_that_would_emit_early() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .count()
        .suppress(Suppressed::until_window_closes(BufferConfig::max_records(
            5,
        )))
        .to_stream()
        .to("out");
    let error = builder
        .build()
        .expect_err("an eager buffer cannot give final results");
    assert!(error.to_string().contains("shut down when full"), "{error}");
}

#[test]
fn until_window_closes_needs_a_windowed_aggregation() {
    let builder =
        StreamsBuilder::new().with_serde::<Windowed<String>>(Windowed::<String>::default_serde());
    builder
        .table::<Windowed<String>, i64>("windows")
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to("out");
    let error = builder
        .build()
        .expect_err("a table read from a topic has no windows to close");
    assert!(
        error.to_string().contains("windowed aggregation"),
        "{error}"
    );
}

#[test]
fn until_window_closes_on_sliding_windows_and_sessions() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(ms(10), ms(2)))
        .count()
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to("sliding");
    builder
        .stream::<String, String>("sessions-in")
        .group_by_key()
        .windowed_by_sessions(SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(2)))
        .count()
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to("sessions");
    let driver =
        TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("s")).unwrap();
    for topic in ["in", "sessions-in"] {
        let input = driver.input_topic::<String, String>(topic).unwrap();
        for (key, t) in [
            ("a", 20),
            ("a", 25),
            ("b", 32),
            ("b", 34),
            ("a", 38),
            ("b", 60),
        ] {
            input.pipe_key_value_at(s(key), s("x"), t).unwrap();
        }
    }
    // Sliding: [10, 20] closes at 20 + 1 + 2 = 23, [15, 25] at 28, [21, 31] at 34, [22, 32]
    // (b's left window at 32) at 35, [24, 34] at 37, [28, 38] at 41, [33, 43] (32's right
    // window) at 46; each once, when due. 25 has no right window: 38 is past [26, 36].
    assert_eq!(
        read_windows(&driver, "sliding"),
        vec![
            (s("a"), 10, 20, Some(1), 20),
            (s("a"), 15, 25, Some(2), 25),
            (s("a"), 21, 31, Some(1), 25),
            (s("b"), 22, 32, Some(1), 32),
            (s("b"), 24, 34, Some(2), 34),
            (s("a"), 28, 38, Some(1), 38),
            (s("b"), 33, 43, Some(1), 34),
        ]
    );
    // Sessions close once no record can reach them, at end + gap + grace + 1: [20, 25] at
    // 38 (38 itself is more than the gap after 25: a session of its own), [32, 34] at 47,
    // [38, 38] at 51.
    assert_eq!(
        read_windows(&driver, "sessions"),
        vec![
            (s("a"), 20, 25, Some(2), 25),
            (s("b"), 32, 34, Some(2), 34),
            (s("a"), 38, 38, Some(1), 38),
        ]
    );
}

/// Builds, for `spec`, the same count twice: emitting on close, and emitting every update
/// through `suppress(until_window_closes)`.
fn both_ways(spec: u8, a: i64, grace: i64) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    let (a_ms, grace_ms) = (ms(a as u64), ms(grace as u64));
    let input = builder.stream::<String, String>("in");
    for (out, emit) in [
        ("closed", EmitStrategy::OnWindowClose),
        ("suppressed", EmitStrategy::OnWindowUpdate),
    ] {
        let grouped = input.group_by_key();
        let table = match spec {
            0 => grouped
                .windowed_by(TimeWindows::of_size_and_grace(a_ms * 2, grace_ms).advance_by(a_ms))
                .emit_strategy(emit)
                .count(),
            1 => grouped
                .windowed_by_sessions(SessionWindows::of_inactivity_gap_and_grace(a_ms, grace_ms))
                .emit_strategy(emit)
                .count(),
            // On close, Kafka Streams emits only the sliding windows its store still retains
            // (2 d + grace behind the newest): a retention past the input's last jump keeps
            // them all, as the suppression buffer does.
            _ => grouped
                .windowed_by_sliding(SlidingWindows::of_time_difference_and_grace(a_ms, grace_ms))
                .emit_strategy(emit)
                .count_with(Materialized::new().with_retention(Duration::from_secs(3_600))),
        };
        let table = if emit == EmitStrategy::OnWindowUpdate {
            table.suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        } else {
            table
        };
        table.to_stream().to(out);
    }
    TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("both")).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn until_window_closes_gives_what_emitting_on_close_gives(
        spec in 0u8..3,
        a in 1i64..10,
        grace in prop_oneof![Just(0i64), 1i64..10],
        raw in proptest::collection::vec((0u8..3, 0i64..30, 0i64..15), 1..40),
    ) {
        let driver = both_ways(spec, a, grace);
        let mut base = 0;
        let input = driver.input_topic::<String, String>("in").unwrap();
        for (key, step, back) in raw {
            base += step / 5;
            input.pipe_key_value_at(format!("k{key}"), s("x"), (base - back).max(0)).unwrap();
        }
        input.pipe_key_value_at(s("end"), s("x"), 1_000_000).unwrap();
        let closed: BTreeSet<_> = read_windows(&driver, "closed").into_iter().collect();
        let suppressed = read_windows(&driver, "suppressed");
        prop_assert!(!closed.is_empty());
        prop_assert_eq!(suppressed.len(), closed.len(), "each window once");
        prop_assert_eq!(suppressed.into_iter().collect::<BTreeSet<_>>(), closed);
    }
}

/// A time-limited suppression named `limit`, its buffer's logging set by `logging`.
fn limited(logging: fn(Suppressed<String>) -> Suppressed<String>) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .count()
        .suppress(logging(
            Suppressed::until_time_limit(ms(10), BufferConfig::unbounded()).with_name("limit"),
        ))
        .to_stream()
        .to("out");
    builder.build().unwrap()
}

/// Every changelog of the topology, with the topic configs the user gave it.
fn changelogs(topology: &Topology) -> Vec<(String, Vec<(String, String)>)> {
    topology
        .subtopology_ids()
        .into_iter()
        .flat_map(|id| topology.subtopology_changelogs(id, "s"))
        .map(|c| (c.name, c.configs))
        .collect()
}

#[test]
fn the_buffer_s_changelog_has_the_configs_suppressed_gives_and_restores_what_waits() {
    let topology = limited(|s| s.with_logging_enabled([("segment.bytes", "1048576")]));
    let buffer = changelogs(&topology)
        .into_iter()
        .find(|(name, _)| name == "s-limit-store-changelog")
        .expect("the buffer is logged");
    assert_eq!(buffer.1, vec![(s("segment.bytes"), s("1048576"))]);
    let driver = TopologyTestDriver::new(topology, StreamsConfig::new("s")).unwrap();
    let out = driver.output_topic::<String, Option<i64>>("out").unwrap();
    pipe(&driver, &[("a", 0), ("a", 4)]);
    let logged = driver
        .output_topic::<Vec<u8>, Vec<u8>>("s-limit-store-changelog")
        .unwrap();
    assert!(!logged.is_empty(), "the waiting update is in the changelog");
    driver.restart().unwrap();
    // a's update waited in the buffer across the restart and is due at stream time 10.
    pipe(&driver, &[("b", 10)]);
    assert_eq!(
        out.read_key_values_to_list().unwrap(),
        vec![(s("a"), Some(2))]
    );
}

#[test]
fn a_buffer_without_logging_has_no_changelog_and_loses_what_waits_on_a_restart() {
    let topology = limited(Suppressed::with_logging_disabled);
    let names: Vec<String> = changelogs(&topology).into_iter().map(|(n, _)| n).collect();
    assert!(
        !names.iter().any(|n| n.contains("limit-store")),
        "{names:?}"
    );
    assert!(
        !names.is_empty(),
        "the count's store is still logged: {names:?}"
    );
    let driver = TopologyTestDriver::new(topology, StreamsConfig::new("s")).unwrap();
    let out = driver.output_topic::<String, Option<i64>>("out").unwrap();
    pipe(&driver, &[("a", 0), ("a", 4)]);
    driver.restart().unwrap();
    pipe(&driver, &[("b", 10)]);
    assert!(
        out.is_empty(),
        "a's waiting update was lost with the buffer"
    );
    // The count itself was restored from its own changelog.
    pipe(&driver, &[("a", 11), ("c", 25)]);
    let rows = out.read_key_values_to_list().unwrap();
    assert!(rows.contains(&(s("a"), Some(3))), "{rows:?}");
}
