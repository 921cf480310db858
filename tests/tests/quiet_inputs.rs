//! Event time on quiet inputs (issue 22) through the test driver: without a rule a quiet
//! input keeps its windows open forever (as Kafka Streams); the idle-partition timeout lets
//! a quiet task's watermark follow the busy ones, the wall-clock watermark lets it follow the
//! clock; both name themselves in pane info and late-record reasons.

use std::time::Duration;

use integration_tests::s;
use streams_dsl::prelude::*;
use streams_dsl::PANE_WATERMARK_HEADER;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `(key, window start, window end, count)` of every output record.
type Rows = Vec<(String, i64, i64, i64)>;

fn read_windows(driver: &TopologyTestDriver, topic: &str) -> Rows {
    driver
        .output_topic::<Windowed<String>, Option<i64>>(topic)
        .unwrap()
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .filter_map(|r| {
            let key = r.key.expect("a key");
            let value = r.value.flatten()?;
            Some((key.key, key.window.start, key.window.end, value))
        })
        .collect()
}

fn pipe(driver: &TopologyTestDriver, topic: &str, key: &str, t: i64) {
    let input = driver.input_topic::<String, String>(topic).unwrap();
    input.pipe_key_value_at(s(key), s("x"), t).unwrap();
}

/// Two inputs, each counted per 10 ms window with final results only (suppressed until the
/// window closes): `busy` to `busy-out`, `quiet` to `quiet-out`, whose records too late for
/// their windows go to `late`.
fn two_inputs(config: StreamsConfig) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    for (input, output) in [("busy", "busy-out"), ("quiet", "quiet-out")] {
        let windowed = builder
            .stream::<String, String>(input)
            .group_by_key()
            .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)));
        let windowed = if input == "quiet" {
            windowed.with_late_records_topic("late")
        } else {
            windowed
        };
        windowed
            .count()
            .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
            .to_stream()
            .to(output);
    }
    TopologyTestDriver::new(builder.build().unwrap(), config).unwrap()
}

#[test]
fn without_a_rule_a_quiet_input_keeps_its_windows_open() {
    let driver = two_inputs(StreamsConfig::new("quiet-off"));
    pipe(&driver, "quiet", "q", 1);
    pipe(&driver, "busy", "b", 1);
    driver
        .advance_wall_clock_time(Duration::from_secs(10))
        .unwrap();
    for t in [25, 100, 1_000] {
        pipe(&driver, "busy", "b", t);
        driver
            .advance_wall_clock_time(Duration::from_secs(3600))
            .unwrap();
    }
    assert_eq!(
        read_windows(&driver, "busy-out"),
        vec![
            (s("b"), 0, 10, 1),
            (s("b"), 20, 30, 1),
            (s("b"), 100, 110, 1)
        ]
    );
    assert_eq!(
        read_windows(&driver, "quiet-out"),
        vec![],
        "as Kafka Streams"
    );
}

#[test]
fn the_idle_partition_timeout_lets_a_quiet_input_follow_the_busy_one() {
    let config = StreamsConfig::new("quiet-idle").idle_partition_timeout(Duration::from_secs(5));
    let driver = two_inputs(config);
    pipe(&driver, "quiet", "q", 1);
    pipe(&driver, "busy", "b", 1);
    driver
        .advance_wall_clock_time(Duration::from_secs(2))
        .unwrap();
    pipe(&driver, "busy", "b", 25);
    assert_eq!(read_windows(&driver, "busy-out"), vec![(s("b"), 0, 10, 1)]);
    assert_eq!(
        read_windows(&driver, "quiet-out"),
        vec![],
        "quiet for 2 s of a 5 s timeout"
    );
    driver
        .advance_wall_clock_time(Duration::from_secs(3))
        .unwrap();
    assert_eq!(
        read_windows(&driver, "quiet-out"),
        vec![(s("q"), 0, 10, 1)],
        "quiet for 5 s while the busy input is at 25: the quiet one's window [0, 10) closed"
    );
    // A record of the quiet input behind the watermark it was given is late, and the reason
    // names the rule.
    driver
        .input_topic::<String, String>("quiet")
        .unwrap()
        .pipe_key_value_at(s("q"), s("behind"), 3)
        .unwrap();
    let late = driver
        .output_topic::<String, String>("late")
        .unwrap()
        .read_records_to_list()
        .unwrap();
    assert_eq!(late.len(), 1);
    let reason = late[0]
        .headers
        .last("streams.late.reason")
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .unwrap_or_default();
    assert!(
        reason.contains("watermark 25") && reason.contains("watermark set by IDLE_PARTITION"),
        "{reason}"
    );
    // The quiet input speaks again: its own records decide once they pass the watermark.
    pipe(&driver, "quiet", "q", 40);
    pipe(&driver, "busy", "b", 45);
    assert_eq!(read_windows(&driver, "quiet-out"), vec![]);
    pipe(&driver, "quiet", "q", 50);
    assert_eq!(
        read_windows(&driver, "quiet-out"),
        vec![(s("q"), 40, 50, 1)]
    );
}

/// One input counted per minute, final results only, with the driver's wall clock at `now`.
fn per_minute(config: StreamsConfig, now: i64) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
        .count()
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
        .to_stream()
        .to("out");
    TopologyTestDriver::with_wall_clock(builder.build().unwrap(), config, now).unwrap()
}

#[test]
fn the_wall_clock_watermark_emits_final_results_with_no_input_at_all() {
    let now = 1_000_000;
    let wall_clock = WallClockWatermark {
        idle: Duration::from_secs(1),
        max_lag: Duration::from_secs(5),
    };
    for on in [false, true] {
        let config = StreamsConfig::new("quiet-wall");
        let config = if on {
            config.wall_clock_watermark(wall_clock)
        } else {
            config
        };
        let driver = per_minute(config, now);
        // The window [960 000, 1 020 000): closes once the watermark reaches its end.
        pipe(&driver, "in", "a", now);
        pipe(&driver, "in", "a", now + 10_000);
        driver.advance_wall_clock_time(ms(24_999)).unwrap();
        assert_eq!(
            read_windows(&driver, "out"),
            vec![],
            "the watermark trails the clock by 5 s"
        );
        driver.advance_wall_clock_time(ms(1)).unwrap();
        let closed = vec![(s("a"), 960_000, 1_020_000, 2)];
        if on {
            assert_eq!(read_windows(&driver, "out"), closed, "end + lag reached");
        } else {
            driver
                .advance_wall_clock_time(Duration::from_secs(3600))
                .unwrap();
            assert_eq!(read_windows(&driver, "out"), vec![], "as Kafka Streams");
        }
    }
}

#[test]
fn the_wall_clock_waits_for_the_idle_period() {
    let now = 1_000_000;
    let config = StreamsConfig::new("quiet-wall-idle").wall_clock_watermark(WallClockWatermark {
        idle: Duration::from_secs(30),
        max_lag: Duration::ZERO,
    });
    let driver = per_minute(config, now);
    pipe(&driver, "in", "a", now);
    // 20 s of a 30 s idle period: the clock is past the window's end, but the input is not
    // quiet for long enough.
    driver
        .advance_wall_clock_time(Duration::from_secs(20))
        .unwrap();
    pipe(&driver, "in", "a", now + 10_000);
    driver
        .advance_wall_clock_time(Duration::from_secs(29))
        .unwrap();
    assert_eq!(read_windows(&driver, "out"), vec![]);
    driver
        .advance_wall_clock_time(Duration::from_secs(1))
        .unwrap();
    assert_eq!(
        read_windows(&driver, "out"),
        vec![(s("a"), 960_000, 1_020_000, 2)]
    );
}

/// `(count, timing, last, watermark source, watermark header)` of a pane.
type PaneRow<'a> = (i64, PaneTiming, bool, WatermarkSource, Option<&'a [u8]>);

#[test]
fn panes_and_sessions_that_a_rule_closed_say_so() {
    let now = 1_000_000;
    let builder = StreamsBuilder::new();
    let input = builder.stream::<String, String>("in");
    input
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
        .trigger(Trigger::at_watermark().with_early_firings(EarlyFiring::EveryUpdate))
        .count()
        .to("panes");
    input
        .group_by_key()
        .windowed_by_sessions(SessionWindows::of_inactivity_gap_with_no_grace(
            Duration::from_secs(10),
        ))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count()
        .to_stream()
        .to("sessions");
    let config = StreamsConfig::new("quiet-panes").wall_clock_watermark(WallClockWatermark {
        idle: Duration::from_secs(1),
        max_lag: Duration::ZERO,
    });
    let driver =
        TopologyTestDriver::with_wall_clock(builder.build().unwrap(), config, now).unwrap();
    pipe(&driver, "in", "a", now + 5_000);
    // The session [1 005 000, 1 005 000] closes when the watermark passes its end by the gap.
    driver
        .advance_wall_clock_time(Duration::from_secs(15))
        .unwrap();
    assert_eq!(read_windows(&driver, "sessions"), vec![]);
    driver.advance_wall_clock_time(ms(1)).unwrap();
    assert_eq!(
        read_windows(&driver, "sessions"),
        vec![(s("a"), 1_005_000, 1_005_000, 1)]
    );
    driver
        .advance_wall_clock_time(Duration::from_secs(10))
        .unwrap();
    let panes = driver
        .output_topic::<Windowed<String>, Pane<i64>>("panes")
        .unwrap()
        .read_records_to_list()
        .unwrap();
    let seen: Vec<PaneRow<'_>> = panes
        .iter()
        .map(|r| {
            let pane = r.value.as_ref().expect("a pane");
            (
                pane.value,
                pane.info.timing,
                pane.info.is_last,
                pane.info.watermark_source,
                r.headers.last(PANE_WATERMARK_HEADER),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            (1, PaneTiming::Early, false, WatermarkSource::Records, None),
            (
                1,
                PaneTiming::OnTime,
                true,
                WatermarkSource::WallClock,
                Some(&b"WALL_CLOCK"[..])
            ),
        ]
    );
}

/// A left join's record without a partner comes out once its window closes; with no more
/// input that happens only when the wall-clock watermark moves the join's time on.
#[test]
fn the_wall_clock_watermark_releases_a_left_join_s_unmatched_record() {
    let now = 1_000_000;
    for on in [false, true] {
        let config = StreamsConfig::new("quiet-join");
        let config = if on {
            config.wall_clock_watermark(WallClockWatermark {
                idle: Duration::from_secs(1),
                max_lag: Duration::ZERO,
            })
        } else {
            config
        };
        let builder = StreamsBuilder::new();
        let left = builder.stream::<String, String>("left");
        let right = builder.stream::<String, String>("right");
        left.left_join(
            &right,
            |l, r: Option<&String>| format!("{l}+{}", r.map_or("null", String::as_str)),
            JoinWindows::of_time_difference_with_no_grace(ms(100)),
        )
        .to("joined");
        let driver =
            TopologyTestDriver::with_wall_clock(builder.build().unwrap(), config, now).unwrap();
        driver
            .input_topic::<String, String>("left")
            .unwrap()
            .pipe_key_value_at(s("a"), s("x"), now)
            .unwrap();
        driver
            .advance_wall_clock_time(Duration::from_secs(2))
            .unwrap();
        let joined = driver
            .output_topic::<String, String>("joined")
            .unwrap()
            .read_key_values_to_list()
            .unwrap();
        let expected = if on {
            vec![(s("a"), s("x+null"))]
        } else {
            vec![]
        };
        assert_eq!(joined, expected, "wall-clock watermark on: {on}");
    }
}

/// A record too late for its session because the wall-clock watermark closed it names the
/// rule in its late reason, as time windows do.
#[test]
fn a_session_s_late_record_names_the_rule_that_closed_it() {
    let now = 1_000_000;
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by_sessions(SessionWindows::of_inactivity_gap_with_no_grace(
            Duration::from_secs(10),
        ))
        .with_late_records_topic("late")
        .count()
        .to_stream()
        .to("sessions");
    let config =
        StreamsConfig::new("quiet-session-late").wall_clock_watermark(WallClockWatermark {
            idle: Duration::from_secs(1),
            max_lag: Duration::ZERO,
        });
    let driver =
        TopologyTestDriver::with_wall_clock(builder.build().unwrap(), config, now).unwrap();
    pipe(&driver, "in", "a", now);
    driver
        .advance_wall_clock_time(Duration::from_secs(30))
        .unwrap();
    // Stream time is still `now`; the wall clock put the watermark 30 s past it.
    pipe(&driver, "in", "a", now);
    let late = driver
        .output_topic::<String, String>("late")
        .unwrap()
        .read_records_to_list()
        .unwrap();
    assert_eq!(late.len(), 1);
    let reason = late[0]
        .headers
        .last("streams.late.reason")
        .map(|r| String::from_utf8_lossy(r).into_owned())
        .unwrap_or_default();
    assert!(reason.contains("watermark set by WALL_CLOCK"), "{reason}");
}
