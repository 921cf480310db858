//! Windowed aggregations through the test driver: tumbling and hopping windows, grace,
//! watermarks, late records, and both emit strategies, with exact expected output.

use std::time::Duration;

use integration_tests::s;
use streams_dsl::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `(key, window start, window end, value, record time)` of every output record.
type Rows = Vec<(String, i64, i64, i64, i64)>;

fn rows(driver: &TopologyTestDriver) -> Result<Rows, StreamsError> {
    Ok(driver
        .output_topic::<Windowed<String>, i64>("out")?
        .read_records_to_list()?
        .into_iter()
        .map(|r| {
            let key = r.key.expect("a key");
            (
                key.key,
                key.window.start,
                key.window.end,
                r.value.expect("a value"),
                r.timestamp.expect("a time"),
            )
        })
        .collect())
}

fn counting(
    windows: TimeWindows,
    emit: EmitStrategy,
    config: StreamsConfig,
) -> Result<TopologyTestDriver, StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by(windows)
        .emit_strategy(emit)
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to("out");
    TopologyTestDriver::new(builder.build()?, config)
}

fn pipe(driver: &TopologyTestDriver, records: &[(&str, i64)]) -> Result<(), StreamsError> {
    let input = driver.input_topic::<String, String>("in")?;
    for (key, t) in records {
        input.pipe_key_value_at(s(key), s("x"), *t)?;
    }
    Ok(())
}

#[test]
fn tumbling_windows_count_every_update_and_drop_late_records() -> Result<(), StreamsError> {
    let windows = TimeWindows::of_size_with_no_grace(ms(10));
    let driver = counting(
        windows,
        EmitStrategy::OnWindowUpdate,
        StreamsConfig::new("app"),
    )?;
    // 10 is the first time of the second window; b@3 arrives after [0, 10) closed.
    pipe(
        &driver,
        &[("a", 0), ("a", 5), ("a", 9), ("a", 10), ("b", 3)],
    )?;
    assert_eq!(
        rows(&driver)?,
        vec![
            (s("a"), 0, 10, 1, 0),
            (s("a"), 0, 10, 2, 5),
            (s("a"), 0, 10, 3, 9),
            (s("a"), 10, 20, 1, 10),
        ]
    );
    assert_eq!(driver.metrics().dropped, 1);
    Ok(())
}

#[test]
fn grace_keeps_a_window_open_for_out_of_order_records() -> Result<(), StreamsError> {
    let windows = TimeWindows::of_size_and_grace(ms(10), ms(5));
    let driver = counting(
        windows,
        EmitStrategy::OnWindowUpdate,
        StreamsConfig::new("app"),
    )?;
    // At 12 the window [0, 10) is still open (12 < 10 + 5); at 16 it is closed.
    pipe(&driver, &[("a", 12), ("a", 3), ("a", 16), ("a", 4)])?;
    assert_eq!(
        rows(&driver)?,
        vec![
            (s("a"), 10, 20, 1, 12),
            (s("a"), 0, 10, 1, 3),
            (s("a"), 10, 20, 2, 16)
        ]
    );
    assert_eq!(driver.metrics().dropped, 1);
    Ok(())
}

#[test]
fn hopping_windows_update_every_window_of_a_record_in_start_order() -> Result<(), StreamsError> {
    let windows = TimeWindows::of_size_with_no_grace(ms(10)).advance_by(ms(5));
    let driver = counting(
        windows,
        EmitStrategy::OnWindowUpdate,
        StreamsConfig::new("app"),
    )?;
    pipe(&driver, &[("a", 7), ("a", 12)])?;
    assert_eq!(
        rows(&driver)?,
        vec![
            (s("a"), 0, 10, 1, 7),
            (s("a"), 5, 15, 1, 7),
            (s("a"), 5, 15, 2, 12),
            (s("a"), 10, 20, 1, 12),
        ]
    );
    Ok(())
}

#[test]
fn on_window_close_emits_each_final_result_once_in_window_order() -> Result<(), StreamsError> {
    let windows = TimeWindows::of_size_with_no_grace(ms(10));
    let driver = counting(
        windows,
        EmitStrategy::OnWindowClose,
        StreamsConfig::new("app"),
    )?;
    pipe(&driver, &[("b", 1), ("a", 2), ("b", 5)])?;
    assert!(
        rows(&driver)?.is_empty(),
        "nothing before the window closes"
    );
    pipe(&driver, &[("a", 12)])?; // the watermark reaches 10: [0, 10) closes
    assert_eq!(
        rows(&driver)?,
        vec![(s("a"), 0, 10, 1, 2), (s("b"), 0, 10, 2, 5)]
    );
    pipe(&driver, &[("a", 35)])?; // [10, 20) closes; [20, 30) had no records: nothing
    assert_eq!(rows(&driver)?, vec![(s("a"), 10, 20, 1, 12)]);
    pipe(&driver, &[("a", 3)])?; // too late: dropped, never re-emitted
    assert!(rows(&driver)?.is_empty());
    assert_eq!(driver.metrics().dropped, 1);
    Ok(())
}

#[test]
fn the_watermark_trails_stream_time_by_the_allowed_out_of_orderness() -> Result<(), StreamsError> {
    let windows = TimeWindows::of_size_with_no_grace(ms(10));
    let config = StreamsConfig::new("app").max_out_of_orderness(ms(5));
    let driver = counting(windows, EmitStrategy::OnWindowClose, config)?;
    // Stream time 12 puts the watermark at 7: [0, 10) stays open for the record at 9.
    pipe(&driver, &[("a", 8), ("a", 12), ("a", 9)])?;
    assert!(rows(&driver)?.is_empty());
    pipe(&driver, &[("a", 16), ("a", 9)])?; // watermark 11: closed, the second 9 is late
    assert_eq!(rows(&driver)?, vec![(s("a"), 0, 10, 2, 9)]);
    assert_eq!(driver.metrics().dropped, 1);
    Ok(())
}

#[test]
fn windowed_reduce_and_aggregate() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let grouped = builder.stream::<String, i64>("in").group_by_key();
    let windows = TimeWindows::of_size_with_no_grace(ms(10));
    grouped
        .windowed_by(windows)
        .reduce(|a, b| a.max(b))
        .to_stream()
        .to("max");
    builder
        .stream::<String, i64>("in2")
        .group_by_key()
        .windowed_by(windows)
        .aggregate(|| 0i64, |_, v, sum| sum + v)
        .to_stream()
        .to("sum");
    let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("app"))?;
    let (a, b) = (
        driver.input_topic::<String, i64>("in")?,
        driver.input_topic::<String, i64>("in2")?,
    );
    for (v, t) in [(3, 1), (7, 2), (5, 11)] {
        a.pipe_key_value_at(s("k"), v, t)?;
        b.pipe_key_value_at(s("k"), v, t)?;
    }
    let values = |topic: &str| -> Result<Vec<i64>, StreamsError> {
        driver
            .output_topic::<Windowed<String>, i64>(topic)?
            .read_values_to_list()
    };
    assert_eq!(values("max")?, vec![3, 7, 5]);
    assert_eq!(values("sum")?, vec![3, 10, 5]);
    Ok(())
}

#[test]
fn window_results_live_in_a_window_store() -> Result<(), StreamsError> {
    let windows = TimeWindows::of_size_with_no_grace(ms(10));
    let driver = counting(
        windows,
        EmitStrategy::OnWindowUpdate,
        StreamsConfig::new("app"),
    )?;
    pipe(&driver, &[("a", 1), ("a", 2), ("a", 15)])?;
    let store = driver
        .state_store::<streams_core::WindowStore<String, streams_core::ValueAndTimestamp<i64>>>(
            "counts",
        )?;
    let windows: Vec<(i64, i64, i64)> = store
        .fetch_range(&s("a"), 0, 100)?
        .into_iter()
        .map(|(start, v)| (start, v.value, v.timestamp))
        .collect();
    assert_eq!(windows, vec![(0, 2, 2), (10, 1, 15)]);
    Ok(())
}

#[test]
fn late_records_go_unchanged_to_the_late_records_topic_with_the_reason() -> Result<(), StreamsError>
{
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .with_late_records_topic("late")
        .count()
        .to_stream()
        .to("out");
    builder
        .stream::<String, String>("sessions-in")
        .group_by_key()
        .windowed_by_sessions(SessionWindows::of_inactivity_gap_with_no_grace(ms(10)))
        .with_late_records_topic("late-sessions")
        .count()
        .to_stream()
        .to("sessions-out");
    let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("app"))?;
    let input = driver.input_topic::<String, String>("in")?;
    input.pipe_key_value_at(s("a"), s("on time"), 15)?;
    input.pipe_record(
        TestRecord::new(s("a"), s("late"))
            .at(3)
            .with_headers(Headers::new().with("trace", "t1")),
    )?;
    let late = driver
        .output_topic::<String, String>("late")?
        .read_records_to_list()?;
    assert_eq!(late.len(), 1);
    assert_eq!(
        (
            late[0].key.as_deref(),
            late[0].value.as_deref(),
            late[0].timestamp
        ),
        (Some("a"), Some("late"), Some(3))
    );
    assert_eq!(
        late[0].headers.last("trace"),
        Some(&b"t1"[..]),
        "the record is sent unchanged"
    );
    let reason = String::from_utf8(
        late[0]
            .headers
            .last("streams.late.reason")
            .unwrap_or_default()
            .to_vec(),
    )
    .unwrap_or_default();
    assert_eq!(reason, "too late for 1 of 1 windows: watermark 15, grace 0");

    let sessions = driver.input_topic::<String, String>("sessions-in")?;
    sessions.pipe_key_value_at(s("b"), s("x"), 40)?;
    sessions.pipe_key_value_at(s("b"), s("y"), 5)?;
    let late = driver
        .output_topic::<String, String>("late-sessions")?
        .read_key_values_to_list()?;
    assert_eq!(late, vec![(s("b"), s("y"))]);
    assert_eq!(driver.metrics().dropped, 2);
    Ok(())
}

/// Logs what reaches it (final window counts) and, on each stream-time punctuation, the
/// stream time and watermark it sees.
struct Ticker;

impl Processor<Windowed<String>, Option<i64>, String, String> for Ticker {
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessorError> {
        ctx.schedule(ms(10), PunctuationType::StreamTime);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<Windowed<String>, Option<i64>>,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessorError> {
        let line = format!(
            "window {} [{}, {}) = {:?}",
            r.key.key, r.key.window.start, r.key.window.end, r.value
        );
        ctx.forward(Record::new(r.key.key, line, r.timestamp))
    }

    fn punctuate(
        &mut self,
        p: streams_core::Punctuation,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessorError> {
        let line = format!("tick at {} (watermark {})", p.timestamp, ctx.watermark());
        ctx.forward(Record::new(s("tick"), line, p.timestamp))
    }
}

#[test]
fn stream_time_punctuation_interleaves_with_window_closing_by_the_same_record(
) -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(2)))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count()
        .to_stream()
        .process(|| Ticker, &[])
        .to("log");
    let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("app"))?;
    let log = driver.output_topic::<String, String>("log")?;
    // The first record fires the stream-time schedule (which starts at 0).
    pipe(&driver, &[("a", 1), ("a", 9)])?;
    assert_eq!(
        log.read_values_to_list()?,
        vec![s("tick at 1 (watermark 1)")]
    );
    // Stream time 10 reaches the next tick, but [0, 10) stays open for its grace.
    pipe(&driver, &[("b", 10), ("a", 11)])?;
    assert_eq!(
        log.read_values_to_list()?,
        vec![s("tick at 10 (watermark 10)")]
    );
    // One record closes [0, 10) and [10, 20) and crosses two tick boundaries: the final
    // results first (emitted while the record is processed, in window order, then key
    // order), then a single tick.
    pipe(&driver, &[("b", 31)])?;
    assert_eq!(
        log.read_values_to_list()?,
        vec![
            s("window a [0, 10) = Some(2)"),
            s("window a [10, 20) = Some(1)"),
            s("window b [10, 20) = Some(1)"),
            s("tick at 31 (watermark 31)"),
        ]
    );
    // A late record moves neither stream time nor the punctuation.
    pipe(&driver, &[("a", 5)])?;
    assert!(log.is_empty());
    assert_eq!(driver.metrics().dropped, 1);
    Ok(())
}

#[test]
fn overlapping_hopping_windows_emit_their_final_results_in_window_order() -> Result<(), StreamsError>
{
    let windows = TimeWindows::of_size_with_no_grace(ms(10)).advance_by(ms(5));
    let driver = counting(
        windows,
        EmitStrategy::OnWindowClose,
        StreamsConfig::new("app"),
    )?;
    // Windows never start before 0: 3 is in [0, 10) only, 7 in [0, 10) and [5, 15).
    pipe(&driver, &[("a", 3), ("a", 7)])?;
    assert!(rows(&driver)?.is_empty());
    // Exactly at [0, 10)'s end.
    pipe(&driver, &[("b", 10)])?;
    assert_eq!(rows(&driver)?, vec![(s("a"), 0, 10, 2, 7)]);
    pipe(&driver, &[("a", 21)])?;
    assert_eq!(
        rows(&driver)?,
        vec![
            (s("a"), 5, 15, 1, 7),
            (s("b"), 5, 15, 1, 10),
            (s("b"), 10, 20, 1, 10),
        ]
    );
    Ok(())
}
