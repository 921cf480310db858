//! Stream-stream joins through the test driver, with exact expected output: window bounds on
//! both sides, asymmetric windows, duplicates, grace and late records, left and outer joins
//! emitting unjoined records only once their window closed, null keys, self-joins,
//! repartitioning, restarts, and `describe()`.

use std::time::Duration;

use integration_tests::{drive, s};
use streams_core::StoreEngine;
use streams_dsl::prelude::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `(key, value, time)` of every output record.
fn out(driver: &TopologyTestDriver) -> Result<Vec<(String, String, i64)>, StreamsError> {
    Ok(driver
        .output_topic::<String, String>("out")?
        .read_records_to_list()?
        .into_iter()
        .map(|r| {
            (
                r.key.expect("a key"),
                r.value.expect("a value"),
                r.timestamp.expect("a time"),
            )
        })
        .collect())
}

fn row(key: &str, value: &str, time: i64) -> (String, String, i64) {
    (s(key), s(value), time)
}

/// Which side a test record goes to.
#[derive(Clone, Copy)]
enum At {
    L,
    R,
}

fn pipe(
    driver: &TopologyTestDriver,
    records: &[(At, &str, &str, i64)],
) -> Result<(), StreamsError> {
    let left = driver.input_topic::<String, String>("left")?;
    let right = driver.input_topic::<String, String>("right")?;
    for (side, key, value, t) in records {
        let topic = match side {
            At::L => &left,
            At::R => &right,
        };
        topic.pipe_key_value_at(s(key), s(value), *t)?;
    }
    Ok(())
}

fn show(v: Option<&String>) -> &str {
    v.map_or("null", String::as_str)
}

#[derive(Clone, Copy)]
enum Kind {
    Inner,
    Left,
    Outer,
}

fn joining(
    kind: Kind,
    windows: JoinWindows,
    joined: StreamJoined<String, String, String>,
) -> StreamsBuilder {
    let builder = StreamsBuilder::new();
    let left = builder.stream::<String, String>("left");
    let right = builder.stream::<String, String>("right");
    let joined = match kind {
        Kind::Inner => left.join_with(&right, |l, r| format!("{l}+{r}"), windows, joined),
        Kind::Left => {
            left.left_join_with(&right, |l, r| format!("{l}+{}", show(r)), windows, joined)
        }
        Kind::Outer => left.outer_join_with(
            &right,
            |l, r| format!("{}+{}", show(l), show(r)),
            windows,
            joined,
        ),
    };
    joined.to("out");
    builder
}

#[test]
fn inner_join_pairs_records_within_the_window_inclusive_at_both_ends() -> Result<(), StreamsError> {
    let driver = drive(joining(
        Kind::Inner,
        JoinWindows::of_time_difference_with_no_grace(ms(100)),
        StreamJoined::new(),
    ));
    pipe(
        &driver,
        &[
            (At::L, "k", "L1", 1000),
            (At::R, "k", "R1", 1100), // 1000 + 100: the window's upper end
            (At::R, "k", "R0", 899),  // one before the lower end
            (At::R, "k", "R2", 900),  // the lower end
            (At::R, "other", "X", 1000),
            (At::L, "k", "L2", 1100), // sees R1 only: R2 at 900 is 200 earlier
            (At::R, "k", "R1b", 1100), // a duplicate time: joins L1 and L2
        ],
    )?;
    assert_eq!(
        out(&driver)?,
        vec![
            row("k", "L1+R1", 1100),
            row("k", "L1+R2", 1000),
            row("k", "L2+R1", 1100),
            row("k", "L1+R1b", 1100),
            row("k", "L2+R1b", 1100),
        ]
    );
    Ok(())
}

#[test]
fn duplicates_on_one_side_each_join() -> Result<(), StreamsError> {
    let driver = drive(joining(
        Kind::Inner,
        JoinWindows::of_time_difference_with_no_grace(ms(10)),
        StreamJoined::new(),
    ));
    pipe(
        &driver,
        &[
            (At::L, "k", "a", 5),
            (At::L, "k", "a", 5),
            (At::L, "k", "b", 5),
            (At::R, "k", "r", 7),
        ],
    )?;
    assert_eq!(
        out(&driver)?,
        vec![row("k", "a+r", 7), row("k", "a+r", 7), row("k", "b+r", 7)]
    );
    Ok(())
}

#[test]
fn asymmetric_windows_look_only_where_they_are_told() -> Result<(), StreamsError> {
    // Left records join right records from 0 before to 100 after them.
    let windows = JoinWindows::of_time_difference_with_no_grace(ms(100)).before(Duration::ZERO);
    let driver = drive(joining(Kind::Inner, windows, StreamJoined::new()));
    pipe(
        &driver,
        &[
            (At::L, "k", "L", 1000),
            (At::R, "k", "R999", 999),
            (At::R, "k", "R1000", 1000),
            (At::R, "k", "R1100", 1100),
            (At::R, "k", "R1101", 1101),
            // A right record at 1200 sees left records in [1100, 1200].
            (At::L, "k", "L1100", 1100),
            (At::L, "k", "L1201", 1201),
        ],
    )?;
    assert_eq!(
        out(&driver)?,
        vec![
            row("k", "L+R1000", 1000),
            row("k", "L+R1100", 1100),
            row("k", "L1100+R1100", 1100),
            row("k", "L1100+R1101", 1101),
        ]
    );
    Ok(())
}

#[test]
fn out_of_order_records_within_retention_join_and_older_ones_are_dropped_and_counted(
) -> Result<(), StreamsError> {
    // Each side keeps its records 10 + 10 + 5 = 25 ms behind its own latest record.
    let builder = joining(
        Kind::Inner,
        JoinWindows::of_time_difference_and_grace(ms(10), ms(5)),
        StreamJoined::new().with_late_records_topic("late"),
    );
    let driver = drive(builder);
    pipe(
        &driver,
        &[
            (At::L, "k", "L100", 100),
            (At::R, "k", "R120", 120), // 20 after L100: too far
            (At::R, "k", "R95", 95),   // out of order, still kept: joins L100
            (At::L, "k", "L125", 125),
            // 35 behind the left side's latest: not kept, counted, sent to the late topic.
            // The right side's records at or before 120 - 25 are no longer seen either.
            (At::L, "k", "L90", 90),
        ],
    )?;
    assert_eq!(
        out(&driver)?,
        vec![row("k", "L100+R95", 100), row("k", "L125+R120", 125)]
    );
    assert_eq!(driver.metrics().dropped, 1);
    let late = driver.output_topic::<String, String>("late")?;
    assert_eq!(late.read_key_values_to_list()?, vec![(s("k"), s("L90"))]);
    Ok(())
}

#[test]
fn left_join_emits_unjoined_records_once_their_window_has_closed() -> Result<(), StreamsError> {
    let driver = drive(joining(
        Kind::Left,
        JoinWindows::of_time_difference_with_no_grace(ms(10)),
        StreamJoined::new(),
    ));
    pipe(
        &driver,
        &[
            (At::L, "a", "A", 0),
            (At::R, "a", "R", 5), // A finds its partner: never emitted alone
            (At::L, "b", "B", 20),
            (At::L, "c", "C", 30), // B's window [10, 30] is still open at 30
        ],
    )?;
    assert_eq!(out(&driver)?, vec![row("a", "A+R", 5)]);
    pipe(&driver, &[(At::L, "d", "D", 31)])?;
    assert_eq!(out(&driver)?, vec![row("b", "B+null", 20)]);
    // A right record advances stream time too; it closes C's window only past 40.
    pipe(&driver, &[(At::R, "x", "X", 40)])?;
    assert_eq!(out(&driver)?, vec![]);
    pipe(&driver, &[(At::R, "y", "Y", 42)])?;
    assert_eq!(
        out(&driver)?,
        vec![row("c", "C+null", 30), row("d", "D+null", 31)]
    );
    // A record whose window closed before it arrived has nothing to wait for.
    pipe(&driver, &[(At::L, "e", "E", 10)])?;
    assert_eq!(out(&driver)?, vec![row("e", "E+null", 10)]);
    Ok(())
}

#[test]
fn left_join_with_grace_waits_for_late_partners() -> Result<(), StreamsError> {
    let driver = drive(joining(
        Kind::Left,
        JoinWindows::of_time_difference_and_grace(ms(10), ms(20)),
        StreamJoined::new(),
    ));
    pipe(
        &driver,
        &[
            (At::L, "a", "A", 0),
            (At::R, "z", "Z", 25), // A's window ended at 10, but grace runs to 30
            (At::R, "a", "R", 9),  // out of order, within grace: joins A
            // Its window [-9, 11] ended before stream time: emitted alone at once, as Kafka
            // Streams does for a record that arrives after its window.
            (At::L, "b", "B", 1),
            (At::L, "c", "C", 31),
            (At::L, "d", "D", 60), // C waits until 31 + 10 + 20 = 61 has passed
        ],
    )?;
    assert_eq!(
        out(&driver)?,
        vec![row("a", "A+R", 9), row("b", "B+null", 1)]
    );
    pipe(&driver, &[(At::L, "e", "E", 62)])?;
    assert_eq!(out(&driver)?, vec![row("c", "C+null", 31)]);
    Ok(())
}

#[test]
fn outer_join_emits_both_sides_unjoined_in_time_order() -> Result<(), StreamsError> {
    let driver = drive(joining(
        Kind::Outer,
        JoinWindows::of_time_difference_with_no_grace(ms(10)),
        StreamJoined::new(),
    ));
    pipe(
        &driver,
        &[
            (At::L, "k1", "A", 0),
            (At::R, "k2", "B", 3),
            (At::R, "k3", "J", 4),
            (At::L, "k3", "K", 6),
            (At::R, "k1", "C", 15), // too far from A; closes the windows of A and B
        ],
    )?;
    assert_eq!(
        out(&driver)?,
        vec![
            row("k3", "K+J", 6),
            row("k1", "A+null", 0),
            row("k2", "null+B", 3),
        ]
    );
    pipe(&driver, &[(At::L, "k9", "D", 30)])?;
    assert_eq!(out(&driver)?, vec![row("k1", "null+C", 15)]);
    Ok(())
}

#[test]
fn null_keys_pass_through_outer_sides_and_are_dropped_elsewhere() -> Result<(), StreamsError> {
    let build = |left_join: bool| {
        let builder = StreamsBuilder::new();
        let left = builder.stream::<Option<String>, String>("left");
        let right = builder.stream::<Option<String>, String>("right");
        let windows = JoinWindows::of_time_difference_with_no_grace(ms(10));
        let joined = if left_join {
            left.left_join(&right, |l, r| format!("{l}+{}", show(r)), windows)
        } else {
            left.join(&right, |l, r| format!("{l}+{r}"), windows)
        };
        joined.to("out");
        drive(builder)
    };
    for left_join in [false, true] {
        let driver = build(left_join);
        let left = driver.input_topic::<Option<String>, String>("left")?;
        let right = driver.input_topic::<Option<String>, String>("right")?;
        right.pipe_key_value_at(None, s("R"), 1)?;
        left.pipe_key_value_at(None, s("L"), 2)?;
        let output = driver
            .output_topic::<Option<String>, String>("out")?
            .read_key_values_to_list()?;
        if left_join {
            assert_eq!(output, vec![(None, s("L+null"))]);
            assert_eq!(
                driver.metrics().dropped,
                1,
                "the right side's keyless record"
            );
        } else {
            assert_eq!(output, vec![]);
            assert_eq!(driver.metrics().dropped, 2);
        }
    }
    Ok(())
}

#[test]
fn a_stream_joins_itself() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let stream = builder.stream::<String, String>("left");
    stream
        .join(
            &stream,
            |a, b| format!("{a}{b}"),
            JoinWindows::of_time_difference_with_no_grace(ms(10)),
        )
        .to("out");
    let driver = drive(builder);
    let input = driver.input_topic::<String, String>("left")?;
    for (value, t) in [("A", 0), ("B", 5), ("C", 20)] {
        input.pipe_key_value_at(s("k"), s(value), t)?;
    }
    assert_eq!(
        out(&driver)?,
        vec![
            row("k", "AA", 0),
            row("k", "BA", 5),
            row("k", "AB", 5),
            row("k", "BB", 5),
            row("k", "CC", 20),
        ]
    );
    Ok(())
}

#[test]
fn a_changed_key_is_repartitioned_before_the_join() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let left = builder
        .stream::<String, String>("left")
        .select_key(|_, v| v[..1].to_owned());
    let right = builder.stream::<String, String>("right");
    left.join_with(
        &right,
        |l, r| format!("{l}+{r}"),
        JoinWindows::of_time_difference_with_no_grace(ms(10)),
        StreamJoined::new().with_name("by-initial"),
    )
    .to("out");
    let topology = builder.build()?;
    let description = topology.describe().to_string();
    assert!(
        description.contains("by-initial-left-repartition"),
        "{description}"
    );
    let driver = TopologyTestDriver::new(topology, StreamsConfig::new("app"))?;
    pipe(
        &driver,
        &[
            (At::L, "x", "apple", 1),
            (At::R, "a", "ant", 2),
            (At::R, "b", "bee", 3),
        ],
    )?;
    assert_eq!(out(&driver)?, vec![row("a", "apple+ant", 2)]);
    Ok(())
}

#[test]
fn describe_shows_the_join_nodes_and_their_stores_as_kafka_streams_does() -> Result<(), StreamsError>
{
    let builder = joining(
        Kind::Left,
        JoinWindows::of_time_difference_with_no_grace(ms(100)),
        StreamJoined::new(),
    );
    let description = builder.build()?.describe().to_string();
    for line in [
        "Processor: KSTREAM-WINDOWED-0000000002 (stores: [KSTREAM-JOINTHIS-0000000004-store])",
        "Processor: KSTREAM-WINDOWED-0000000003 (stores: [KSTREAM-OUTEROTHER-0000000005-store])",
        "Processor: KSTREAM-JOINTHIS-0000000004 (stores: [KSTREAM-OUTEROTHER-0000000005-store, KSTREAM-OUTERSHARED-0000000004-store])",
        "Processor: KSTREAM-OUTEROTHER-0000000005 (stores: [KSTREAM-JOINTHIS-0000000004-store, KSTREAM-OUTERSHARED-0000000004-store])",
        "<-- KSTREAM-JOINTHIS-0000000004, KSTREAM-OUTEROTHER-0000000005",
    ] {
        assert!(description.contains(line), "missing `{line}` in\n{description}");
    }
    Ok(())
}

/// A left join and an outer join fed half their input, restarted from their changelogs, then
/// fed the rest, give what an uninterrupted run gives.
#[test]
fn joins_continue_exactly_after_a_restart() -> Result<(), StreamsError> {
    let input: Vec<(At, &str, &str, i64)> = vec![
        (At::L, "a", "A", 0),
        (At::L, "b", "B", 2),
        (At::R, "c", "C", 4),
        (At::L, "a", "A2", 6),
        // restart here: A, B, C wait unjoined; A and A2 are buffered
        (At::R, "a", "R", 8),
        (At::R, "z", "Z", 14),
        (At::L, "z", "Z2", 30),
    ];
    for engine in [StoreEngine::RocksDb, StoreEngine::InMemory] {
        for kind in [Kind::Left, Kind::Outer] {
            let build = || {
                drive(joining(
                    kind,
                    JoinWindows::of_time_difference_and_grace(ms(5), ms(2)),
                    StreamJoined::new().with_store_engine(engine.clone()),
                ))
            };
            let uninterrupted = build();
            pipe(&uninterrupted, &input)?;
            let expected = out(&uninterrupted)?;
            assert!(expected.len() >= 3, "{expected:?}");

            let restarted = build();
            pipe(&restarted, &input[..4])?;
            let mut got = out(&restarted)?;
            restarted.restart()?;
            pipe(&restarted, &input[4..])?;
            got.extend(out(&restarted)?);
            assert_eq!(got, expected, "{engine:?}");
        }
    }
    Ok(())
}
