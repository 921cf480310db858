//! Results that must equal Kafka Streams 4.x's own, record for record: which windows, values
//! and timestamps an aggregation emits where our earlier rules differed (issue 15).

use std::time::Duration;

use integration_tests::{drive, s};
use streams_dsl::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `(key, start, end, value or None for a tombstone, record time)`.
type Rows<V> = Vec<(String, i64, i64, Option<V>, i64)>;

fn pipe<V: DefaultSerde>(driver: &TopologyTestDriver, records: &[(&str, &str, i64)]) -> Rows<V> {
    let input = driver.input_topic::<String, String>("in").unwrap();
    for (key, value, t) in records {
        input.pipe_key_value_at(s(key), s(value), *t).unwrap();
    }
    driver
        .output_topic::<Windowed<String>, V>("out")
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

/// Sessions of `windows` over topic `in`, aggregated by `aggregate` into topic `out`, every
/// update forwarded (caching off).
fn sessions<VA: DefaultSerde + Clone>(
    windows: SessionWindows,
    aggregate: impl FnOnce(SessionWindowedKStream<String, String>) -> KTable<Windowed<String>, VA>,
) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    let windowed = builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by_sessions(windows);
    aggregate(windowed).to_stream().to("out");
    drive(builder)
}

/// Concatenates a session's values after an initializer "i"; merging joins with "+".
fn concatenated(
    windowed: SessionWindowedKStream<String, String>,
) -> KTable<Windowed<String>, String> {
    windowed.aggregate_with(
        || s("i"),
        |_, value, aggregate| aggregate + &value,
        |_, a, b| format!("{a}+{b}"),
        Materialized::new().with_caching_disabled(),
    )
}

#[test]
fn a_merged_session_folds_the_sessions_it_absorbs_into_the_initializer_in_store_order() {
    let windows = SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(20));
    let driver = sessions(windows, concatenated);
    let rows = pipe::<String>(&driver, &[("a", "x", 0), ("a", "y", 20), ("a", "z", 10)]);
    assert_eq!(
        rows,
        vec![
            (s("a"), 0, 0, Some(s("ix")), 0),
            (s("a"), 20, 20, Some(s("iy")), 20),
            // Each absorbed session's tombstone carries that session's end.
            (s("a"), 0, 0, None, 0),
            (s("a"), 20, 20, None, 20),
            // merger(merger(init, [0, 0]), [20, 20]), then the record.
            (s("a"), 0, 20, Some(s("i+ix+iyz")), 20),
        ]
    );
}

#[test]
fn a_record_inside_a_session_retracts_and_rewrites_it() {
    let windows = SessionWindows::of_inactivity_gap_with_no_grace(ms(10));
    let driver = sessions(windows, concatenated);
    let rows = pipe::<String>(&driver, &[("a", "x", 0), ("a", "y", 8), ("a", "z", 4)]);
    assert_eq!(
        rows,
        vec![
            (s("a"), 0, 0, Some(s("ix")), 0),
            (s("a"), 0, 0, None, 0),
            (s("a"), 0, 8, Some(s("i+ixy")), 8),
            // 4 lies inside [0, 8]: the session is still removed and written back.
            (s("a"), 0, 8, None, 8),
            (s("a"), 0, 8, Some(s("i+i+ixyz")), 8),
        ]
    );
    // A record at the very time of a one-record session needs no rewrite.
    let rows = pipe::<String>(&driver, &[("b", "x", 30), ("b", "y", 30)]);
    assert_eq!(
        rows,
        vec![
            (s("b"), 30, 30, Some(s("ix")), 30),
            (s("b"), 30, 30, Some(s("i+ixy")), 30),
        ]
    );
}

#[test]
fn a_session_closes_once_stream_time_passes_its_end_by_gap_and_grace() {
    let windows = SessionWindows::of_inactivity_gap_with_no_grace(ms(10));
    let driver = sessions(windows, |w| {
        w.count_with(Materialized::new().with_caching_disabled())
    });
    // Stream time 17: sessions ending before 17 - 10 are closed.
    let records = [
        ("a", "x", 0),
        ("a", "x", 8),
        ("b", "x", 17),
        ("a", "x", 12),
        ("c", "x", 6),
    ];
    assert_eq!(
        pipe::<i64>(&driver, &records),
        vec![
            (s("a"), 0, 0, Some(1), 0),
            (s("a"), 0, 0, None, 0),
            (s("a"), 0, 8, Some(2), 8),
            (s("b"), 17, 17, Some(1), 17),
            // The merged session [0, 12] ends at 12 >= 7: accepted, as Kafka Streams does.
            (s("a"), 0, 8, None, 8),
            (s("a"), 0, 12, Some(3), 12),
        ]
    );
    // c@6 would be the session [6, 6], closed since 6 < 7.
    assert_eq!(driver.metrics().dropped, 1);
}

/// Sliding windows of `windows` over topic `in`, concatenating each window's values, every
/// update forwarded (caching off), emitted per `emit`.
fn sliding(windows: SlidingWindows, emit: EmitStrategy) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by_sliding(windows)
        .emit_strategy(emit)
        .reduce_with(|a, b| a + &b, Materialized::new().with_caching_disabled())
        .to_stream()
        .to("out");
    drive(builder)
}

#[test]
fn sliding_records_before_the_time_difference_share_the_window_from_0() {
    let windows = SlidingWindows::of_time_difference_and_grace(ms(10), ms(20));
    let driver = sliding(windows, EmitStrategy::OnWindowUpdate);
    assert_eq!(
        pipe::<String>(&driver, &[("a", "x", 2), ("a", "y", 5)]),
        vec![
            (s("a"), 0, 10, Some(s("x")), 2),
            // The right window of 2, then [0, 10] (no window starts before 0).
            (s("a"), 3, 13, Some(s("y")), 5),
            (s("a"), 0, 10, Some(s("xy")), 5),
        ]
    );
    // 1, out of order: its right window is a copy of [0, 10] before it.
    assert_eq!(
        pipe::<String>(&driver, &[("a", "z", 1)]),
        vec![
            (s("a"), 2, 12, Some(s("xy")), 5),
            (s("a"), 0, 10, Some(s("xyz")), 5),
        ]
    );
}

#[test]
fn a_new_sliding_window_starts_from_its_neighbour_s_aggregate_in_arrival_order() {
    let windows = SlidingWindows::of_time_difference_and_grace(ms(10), ms(20));
    let driver = sliding(windows, EmitStrategy::OnWindowUpdate);
    pipe::<String>(&driver, &[("a", "x", 20), ("a", "z", 25), ("a", "y", 22)]);
    assert_eq!(
        pipe::<String>(&driver, &[("a", "w", 30)]),
        vec![
            (s("a"), 23, 33, Some(s("zw")), 30),
            (s("a"), 21, 31, Some(s("zyw")), 30),
            (s("a"), 26, 36, Some(s("w")), 30),
            // [15, 25] held x, z, y in that order: the left window of 30 continues it.
            (s("a"), 20, 30, Some(s("xzyw")), 30),
        ]
    );
}

#[test]
fn on_close_a_sliding_window_out_of_the_store_s_retention_is_not_emitted() {
    let windows = SlidingWindows::of_time_difference_with_no_grace(ms(10));
    let driver = sliding(windows, EmitStrategy::OnWindowClose);
    // The jump to 100 writes [90, 100]; the store retains windows from 90 - 2 d on, so
    // [10, 20] is gone by the time it is emitted, as in Kafka Streams.
    assert_eq!(
        pipe::<String>(&driver, &[("a", "x", 20), ("a", "y", 100)]),
        vec![]
    );
    assert_eq!(
        pipe::<String>(&driver, &[("a", "z", 111)]),
        vec![(s("a"), 90, 100, Some(s("y")), 100)]
    );
}

#[test]
fn the_driver_can_leave_caches_unflushed_between_records() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .count()
        .to_stream()
        .to("out");
    let driver = drive(builder);
    driver.flush_caches_after_each_record(false);
    let input = driver.input_topic::<String, String>("in").unwrap();
    for key in ["a", "b", "a"] {
        input.pipe_key_value(s(key), s("x")).unwrap();
    }
    let out = driver.output_topic::<String, i64>("out").unwrap();
    assert!(out.is_empty(), "the cache holds the counts until a commit");
    driver.commit().unwrap();
    assert_eq!(
        out.read_key_values_to_list().unwrap(),
        vec![(s("b"), 1), (s("a"), 2)]
    );
}

#[test]
fn a_global_join_key_mapper_may_give_no_key() {
    let builder = StreamsBuilder::new();
    let users = builder.global_table::<String, String>("users");
    let orders = builder.stream::<String, String>("orders");
    // An order names its user after "by:"; one that names none has no table key.
    let user_of = |_: &String, order: &String| order.strip_prefix("by:").map(str::to_owned);
    orders
        .join_global(&users, user_of, |order, name| format!("{order}={name}"))
        .to("joined");
    orders
        .left_join_global(&users, user_of, |order, name| {
            format!("{order}={}", name.unwrap_or_default())
        })
        .to("left-joined");
    let driver = drive(builder);
    let user_topic = driver.input_topic::<String, String>("users").unwrap();
    user_topic.pipe_key_value(s("u1"), s("Ann")).unwrap();
    let order_topic = driver.input_topic::<String, String>("orders").unwrap();
    order_topic.pipe_key_value(s("o1"), s("by:u1")).unwrap();
    order_topic.pipe_key_value(s("o2"), s("anonymous")).unwrap();
    let read = |topic| {
        driver
            .output_topic::<String, String>(topic)
            .unwrap()
            .read_values_to_list()
            .unwrap()
    };
    assert_eq!(read("joined"), vec![s("by:u1=Ann")]);
    assert_eq!(read("left-joined"), vec![s("by:u1=Ann"), s("anonymous=")]);
    // The inner join dropped the order without a key, and counted it.
    assert_eq!(driver.metrics().dropped, 1);
}

#[test]
fn aggregations_drop_and_count_records_without_a_key() {
    let builder = StreamsBuilder::new();
    let stream = builder.stream::<Option<String>, String>("in");
    stream.group_by_key().count().to_stream().to("counts");
    stream
        .group_by_key()
        .windowed_by_sessions(SessionWindows::of_inactivity_gap_with_no_grace(ms(10)))
        .count()
        .to_stream()
        .map(|k, v| (k.key, v))
        .to("sessions");
    let driver = drive(builder);
    let input = driver.input_topic::<Option<String>, String>("in").unwrap();
    input.pipe_value(s("x")).unwrap();
    input.pipe_key_value(Some(s("a")), s("y")).unwrap();
    for topic in ["counts", "sessions"] {
        let out = driver.output_topic::<Option<String>, i64>(topic).unwrap();
        assert_eq!(
            out.read_key_values_to_list().unwrap(),
            vec![(Some(s("a")), 1)],
            "{topic}"
        );
    }
    // The keyless record, once per aggregation.
    assert_eq!(driver.metrics().dropped, 2);
}

#[test]
fn on_close_sessions_come_by_end_then_key_then_start() {
    let windows = SessionWindows::of_inactivity_gap_with_no_grace(ms(10));
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by_sessions(windows)
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count()
        .to_stream()
        .to("out");
    let driver = drive(builder);
    let records = [("b", "x", 0), ("b", "x", 5), ("a", "x", 5), ("c", "x", 30)];
    assert_eq!(
        pipe::<i64>(&driver, &records),
        vec![(s("a"), 5, 5, Some(1), 5), (s("b"), 0, 5, Some(2), 5)]
    );
}

/// Pipes `(key, value, time)` into topic `in` and reads `(key, value or None, time)` from
/// topic `out`.
fn pipe_table<V: DefaultSerde>(
    driver: &TopologyTestDriver,
    records: &[(&str, &str, i64)],
) -> Vec<(String, Option<V>, i64)> {
    let input = driver.input_topic::<String, String>("in").unwrap();
    for (key, value, t) in records {
        input.pipe_key_value_at(s(key), s(value), *t).unwrap();
    }
    driver
        .output_topic::<String, V>("out")
        .unwrap()
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| (r.key.unwrap(), r.value, r.timestamp.unwrap()))
        .collect()
}

#[test]
fn a_stream_aggregate_is_as_recent_as_its_latest_record_and_its_store_keeps_that_time() {
    let builder = StreamsBuilder::new();
    let grouped = builder.stream::<String, String>("in").group_by_key();
    grouped
        .count_with(Materialized::named("counts").with_caching_disabled())
        .to_stream()
        .to("out");
    let driver = drive(builder);
    assert_eq!(
        pipe_table::<i64>(&driver, &[("a", "x", 10), ("a", "y", 5), ("b", "z", 3)]),
        vec![
            (s("a"), Some(1), 10),
            // The out-of-order record does not take the aggregate back in time.
            (s("a"), Some(2), 10),
            (s("b"), Some(1), 3),
        ]
    );
    let store = driver.key_value_store::<String, i64>("counts").unwrap();
    assert_eq!(
        store.get_with_timestamp(&s("a")).unwrap(),
        Some(ValueAndTimestamp::new(2, 10))
    );
    // Restored from its changelog (value alone, time as the record's), the store still knows.
    driver.commit().unwrap();
    driver.restart().unwrap();
    assert_eq!(
        pipe_table::<i64>(&driver, &[("a", "w", 7)]),
        vec![(s("a"), Some(3), 10)]
    );
}

#[test]
fn a_table_aggregate_is_as_recent_as_its_latest_update() {
    let builder = StreamsBuilder::new();
    builder
        .table_with::<String, String>(
            "in",
            Consumed::new(),
            Materialized::new().with_caching_disabled(),
        )
        .group_by(|row, group| (group, row.clone()))
        .count_with(Materialized::new().with_caching_disabled())
        .to_stream()
        .to("out");
    let driver = drive(builder);
    assert_eq!(
        pipe_table::<i64>(&driver, &[("x", "g", 10), ("y", "g", 4), ("x", "h", 6)]),
        vec![
            (s("g"), Some(1), 10),
            (s("g"), Some(2), 10),
            // x moves from g to h at 6: g's aggregate keeps its time 10.
            (s("g"), Some(1), 10),
            (s("h"), Some(1), 6),
        ]
    );
}

#[test]
fn with_caching_an_update_to_the_same_value_is_still_forwarded_on_flush() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .reduce(|a, b| a.max(b))
        .to_stream()
        .to("out");
    let driver = drive(builder);
    driver.flush_caches_after_each_record(false);
    let input = driver.input_topic::<String, String>("in").unwrap();
    input.pipe_key_value_at(s("a"), s("5"), 1).unwrap();
    driver.commit().unwrap();
    // The maximum stays "5" at the same time: Kafka Streams' cache still forwards it.
    input.pipe_key_value_at(s("a"), s("3"), 1).unwrap();
    driver.commit().unwrap();
    let out = driver.output_topic::<String, String>("out").unwrap();
    assert_eq!(
        out.read_records_to_list()
            .unwrap()
            .into_iter()
            .map(|r| (r.key.unwrap(), r.value.unwrap(), r.timestamp.unwrap()))
            .collect::<Vec<_>>(),
        vec![(s("a"), s("5"), 1), (s("a"), s("5"), 1)]
    );
}

#[test]
fn a_table_source_forwards_the_same_value_at_a_newer_time() {
    for caching in [true, false] {
        let builder = StreamsBuilder::new();
        let materialized = if caching {
            Materialized::new()
        } else {
            Materialized::new().with_caching_disabled()
        };
        builder
            .table_with::<String, String>("in", Consumed::new(), materialized)
            .to_stream()
            .to("out");
        let driver = drive(builder);
        let rows = pipe_table::<String>(&driver, &[("k", "v", 1), ("k", "v", 5), ("k", "v", 5)]);
        let expected = if caching {
            // Each flush forwards the key's update, repeated or not (Kafka Streams' cache).
            vec![
                (s("k"), Some(s("v")), 1),
                (s("k"), Some(s("v")), 5),
                (s("k"), Some(s("v")), 5),
            ]
        } else {
            // Without a cache, only an exact repeat (same value and time) is not a change.
            vec![(s("k"), Some(s("v")), 1), (s("k"), Some(s("v")), 5)]
        };
        assert_eq!(rows, expected, "caching {caching}");
    }
}

#[test]
fn on_close_windows_are_looked_for_at_most_once_per_emit_interval_of_wall_clock_time() {
    assert_eq!(
        StreamsConfig::new("app").windowed_aggregation_emit_interval_ms(),
        1000,
        "Kafka Streams' default"
    );
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .emit_strategy(EmitStrategy::OnWindowClose)
        .count()
        .to_stream()
        .to("out");
    let config = StreamsConfig::new("app").windowed_aggregation_emit_interval(ms(1000));
    let driver = TopologyTestDriver::new(builder.build().unwrap(), config).unwrap();
    // The first record looks (nothing closed yet); the next look is due at wall clock 1000.
    assert_eq!(pipe::<i64>(&driver, &[("a", "x", 0)]), vec![]);
    // [0, 10) closes at 15, but no look is due.
    assert_eq!(pipe::<i64>(&driver, &[("a", "x", 15)]), vec![]);
    driver.advance_wall_clock_time(ms(999)).unwrap();
    assert_eq!(pipe::<i64>(&driver, &[("a", "x", 16)]), vec![]);
    driver.advance_wall_clock_time(ms(1)).unwrap();
    assert_eq!(
        pipe::<i64>(&driver, &[("a", "x", 17)]),
        vec![(s("a"), 0, 10, Some(1), 0)]
    );
}

// Old values (Kafka Streams' `enableSendingOldValues`): a table change carries its old value
// only where an operator downstream needs it.

/// `(key, value or None for a delete, record time)` of a table's updates as a stream.
type TableRows = Vec<(String, Option<i64>, i64)>;

fn table_rows(driver: &TopologyTestDriver, topic: &str) -> TableRows {
    driver
        .output_topic::<String, Option<i64>>(topic)
        .unwrap()
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| (r.key.unwrap(), r.value.flatten(), r.timestamp.unwrap()))
        .collect()
}

fn pipe_rows(driver: &TopologyTestDriver, records: &[(&str, Option<i64>, i64)]) {
    let input = driver.input_topic::<String, Option<i64>>("in").unwrap();
    for (key, value, t) in records {
        input.pipe_key_value_at(s(key), *value, *t).unwrap();
    }
}

fn row(key: &str, value: Option<i64>, t: i64) -> (String, Option<i64>, i64) {
    (s(key), value, t)
}

#[test]
fn a_filter_of_a_source_table_without_a_named_store_forwards_a_delete_for_each_dropped_row() {
    // Kafka Streams' KTableFilterTest.shouldPassThroughWithoutMaterialization: the source
    // table has no store, hence no old values, so the filter cannot tell whether a row it
    // drops was in its table and forwards a delete for it.
    let builder = StreamsBuilder::new();
    let table = builder.table::<String, i64>("in");
    let even = |_: &String, v: &i64| v % 2 == 0;
    table.filter(even).to_stream().to("filtered");
    table.filter_not(even).to_stream().to("filtered-not");
    let driver = drive(builder);
    pipe_rows(
        &driver,
        &[
            ("A", Some(1), 10),
            ("B", Some(2), 5),
            ("C", Some(3), 8),
            ("D", Some(4), 14),
            ("A", None, 18),
            ("B", None, 15),
        ],
    );
    assert_eq!(
        table_rows(&driver, "filtered"),
        [
            row("A", None, 10),
            row("B", Some(2), 5),
            row("C", None, 8),
            row("D", Some(4), 14),
            row("A", None, 18),
            row("B", None, 15),
        ]
    );
    assert_eq!(
        table_rows(&driver, "filtered-not"),
        [
            row("A", Some(1), 10),
            row("B", None, 5),
            row("C", Some(3), 8),
            row("D", None, 14),
            row("A", None, 18),
            row("B", None, 15),
        ]
    );
}

#[test]
fn a_filter_of_a_source_table_with_a_named_store_forwards_only_rows_that_change() {
    // Kafka Streams' KTableFilterTest.shouldSendOldValuesWhenEnabledOnUpStreamMaterialization:
    // the named store has the old values, so a row that never passed is not forwarded and one
    // that stops passing is deleted.
    let builder = StreamsBuilder::new();
    builder
        .table_with::<String, i64>("in", Consumed::new(), Materialized::named("store2"))
        .filter(|_, v| v % 2 == 0)
        .to_stream()
        .to("out");
    let driver = drive(builder);
    pipe_rows(
        &driver,
        &[("A", Some(1), 5), ("B", Some(1), 10), ("C", Some(1), 15)],
    );
    assert_eq!(table_rows(&driver, "out"), []);
    pipe_rows(&driver, &[("A", Some(2), 15), ("B", Some(2), 8)]);
    assert_eq!(
        table_rows(&driver, "out"),
        [row("A", Some(2), 15), row("B", Some(2), 8)]
    );
    pipe_rows(&driver, &[("A", Some(3), 20)]);
    assert_eq!(table_rows(&driver, "out"), [row("A", None, 20)]);
}

/// A value mapper that counts its calls.
fn counting_mapper(
    calls: &std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> impl Fn(i64) -> i64 + Send + Sync + 'static {
    let calls = calls.clone();
    move |v| {
        calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        v * 10
    }
}

#[test]
fn a_value_mapper_is_called_for_old_values_only_where_downstream_needs_them() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let (alone, regrouped) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let builder = StreamsBuilder::new();
    let table = builder.table::<String, i64>("in");
    // Its updates only go to a stream: the old values are never needed.
    table
        .map_values(counting_mapper(&alone))
        .to_stream()
        .to("mapped");
    // A regrouping aggregation retracts each old value: it needs them, mapped.
    table
        .map_values(counting_mapper(&regrouped))
        .group_by(|_, v| (s("all"), v))
        .reduce(|a, b| a + b, |a, b| a - b)
        .to_stream()
        .to("total");
    let driver = drive(builder);
    pipe_rows(
        &driver,
        &[("a", Some(1), 1), ("a", Some(2), 2), ("a", Some(3), 3)],
    );
    assert_eq!(
        table_rows(&driver, "mapped"),
        [
            row("a", Some(10), 1),
            row("a", Some(20), 2),
            row("a", Some(30), 3)
        ]
    );
    assert_eq!(alone.load(Ordering::Relaxed), 3, "new values only");
    assert_eq!(
        table_rows(&driver, "total")
            .into_iter()
            .map(|(_, v, _)| v)
            .collect::<Vec<_>>(),
        [Some(10), Some(20), Some(30)]
    );
    assert_eq!(
        regrouped.load(Ordering::Relaxed),
        5,
        "three new and two old values"
    );
}

#[test]
fn a_removed_session_carries_its_aggregate_only_where_downstream_needs_it() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    // Kafka Streams' session aggregation forwards a merged-away session as
    // `Change(null, sendOldValues ? old : null)`: a value mapper downstream that nothing
    // else needs old values from is never called for the removed session's aggregate.
    let calls = Arc::new(AtomicUsize::new(0));
    let builder = StreamsBuilder::new();
    let mapper = counting_mapper(&calls);
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by_sessions(SessionWindows::of_inactivity_gap_with_no_grace(ms(10)))
        .count_with(Materialized::new().with_caching_disabled())
        .map_values(mapper)
        .to_stream()
        .to("out");
    let driver = drive(builder);
    let rows = pipe::<Option<i64>>(&driver, &[("a", "x", 0), ("a", "y", 5)]);
    assert_eq!(
        rows,
        [
            (s("a"), 0, 0, Some(Some(10)), 0),
            (s("a"), 0, 0, None, 0),
            (s("a"), 0, 5, Some(Some(20)), 5),
        ]
    );
    assert_eq!(
        calls.load(Ordering::Relaxed),
        2,
        "the two sessions' new counts only"
    );
}
