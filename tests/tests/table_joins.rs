//! Table-table joins (inner, left, outer) and foreign-key table joins through the test
//! driver, exact output by output; and a foreign-key join between topics of different
//! partition counts on the Kafka runtime.

use integration_tests::{drive, s};
use streams_dsl::prelude::*;

/// An output record: key, value (`None`: tombstone), time.
type Row = (String, Option<String>, i64);

fn row(key: &str, value: &str, time: i64) -> Row {
    (s(key), Some(s(value)), time)
}

fn tombstone(key: &str, time: i64) -> Row {
    (s(key), None, time)
}

/// Pipes `value` (`None`: a tombstone) for `key` at `time`.
fn put(topic: &TestInputTopic<String, String>, key: &str, value: Option<&str>, time: i64) {
    let record = match value {
        Some(v) => TestRecord::new(s(key), s(v)),
        None => TestRecord::tombstone(s(key)),
    };
    topic
        .pipe_record(record.at(time))
        .expect("the record is processed");
}

fn rows(topic: &TestOutputTopic<String, String>) -> Vec<Row> {
    topic
        .read_records_to_list()
        .expect("the output reads")
        .into_iter()
        .map(|r| (r.key.expect("a key"), r.value, r.timestamp.expect("a time")))
        .collect()
}

fn or_null(v: Option<&String>) -> &str {
    v.map_or("null", String::as_str)
}

/// A driver for `left` joined with `right` as `join` says, written to `out`.
fn table_join_driver(
    join: impl FnOnce(&KTable<String, String>, &KTable<String, String>) -> KTable<String, String>,
) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    let left = builder.table::<String, String>("left");
    let right = builder.table::<String, String>("right");
    join(&left, &right).to_stream().to("out");
    drive(builder)
}

#[test]
fn inner_join_emits_updates_of_both_sides_at_the_later_time_and_deletes() -> Result<(), StreamsError>
{
    let driver = table_join_driver(|l, r| l.join(r, |a, b| format!("{a}+{b}")));
    let (left, right) = (driver.input_topic("left")?, driver.input_topic("right")?);
    let out = driver.output_topic::<String, String>("out")?;
    put(&left, "a", Some("L1"), 10);
    assert_eq!(rows(&out), []);
    put(&right, "a", Some("R1"), 5);
    put(&left, "a", Some("L2"), 20);
    put(&right, "a", Some("R2"), 30);
    put(&right, "b", Some("Rb"), 31);
    put(&left, "a", None, 40);
    put(&left, "a", Some("L3"), 41);
    put(&right, "a", None, 50);
    put(&right, "a", None, 51);
    assert_eq!(
        rows(&out),
        [
            // The result carries the later of its rows' times.
            row("a", "L1+R1", 10),
            row("a", "L2+R1", 20),
            row("a", "L2+R2", 30),
            tombstone("a", 40),
            row("a", "L3+R2", 41),
            tombstone("a", 50),
        ]
    );
    Ok(())
}

#[test]
fn left_join_keeps_every_left_row() -> Result<(), StreamsError> {
    let driver = table_join_driver(|l, r| l.left_join(r, |a, b| format!("{a}+{}", or_null(b))));
    let (left, right) = (driver.input_topic("left")?, driver.input_topic("right")?);
    let out = driver.output_topic::<String, String>("out")?;
    put(&left, "a", Some("L1"), 10);
    put(&right, "a", Some("R1"), 5);
    put(&right, "a", None, 20);
    put(&right, "b", Some("Rb"), 21);
    put(&left, "a", None, 30);
    put(&left, "b", Some("Lb"), 15);
    assert_eq!(
        rows(&out),
        [
            row("a", "L1+null", 10),
            row("a", "L1+R1", 10),
            row("a", "L1+null", 20),
            tombstone("a", 30),
            row("b", "Lb+Rb", 21),
        ]
    );
    Ok(())
}

#[test]
fn outer_join_keeps_every_row_of_either_side() -> Result<(), StreamsError> {
    let driver =
        table_join_driver(|l, r| l.outer_join(r, |a, b| format!("{}+{}", or_null(a), or_null(b))));
    let (left, right) = (driver.input_topic("left")?, driver.input_topic("right")?);
    let out = driver.output_topic::<String, String>("out")?;
    put(&left, "a", Some("L1"), 10);
    put(&right, "b", Some("Rb"), 11);
    put(&right, "a", Some("Ra"), 12);
    put(&left, "a", None, 13);
    put(&right, "a", None, 14);
    put(&left, "b", Some("Lb"), 9);
    assert_eq!(
        rows(&out),
        [
            row("a", "L1+null", 10),
            row("b", "null+Rb", 11),
            row("a", "L1+Ra", 12),
            row("a", "null+Ra", 13),
            tombstone("a", 14),
            row("b", "Lb+Rb", 11),
        ]
    );
    Ok(())
}

#[test]
fn a_join_followed_by_a_table_aggregation_subtracts_old_results() -> Result<(), StreamsError> {
    // Salaries per employee joined with each employee's department; totals per department.
    let builder = StreamsBuilder::new();
    let salaries = builder.table::<String, i64>("salaries");
    let departments = builder.table::<String, String>("departments");
    salaries
        .join(&departments, |salary, dept| format!("{dept}|{salary}"))
        .group_by(|_, v| {
            let (dept, salary) = v.split_once('|').expect("dept|salary");
            (s(dept), salary.parse::<i64>().expect("a salary"))
        })
        .aggregate_with(
            || 0,
            |_, salary, total| total + salary,
            |_, salary, total| total - salary,
            Materialized::named("totals"),
        )
        .to_stream()
        .to("totals");
    let driver = drive(builder);
    let salaries = driver.input_topic::<String, i64>("salaries")?;
    let departments = driver.input_topic::<String, String>("departments")?;
    departments.pipe_key_values([
        (s("e1"), s("eng")),
        (s("e2"), s("eng")),
        (s("e3"), s("ops")),
    ])?;
    salaries.pipe_key_values([
        (s("e1"), 100),
        (s("e2"), 200),
        (s("e3"), 50),
        (s("e1"), 150),
    ])?;
    departments.pipe_key_value(s("e2"), s("ops"))?;
    salaries.pipe_tombstone(s("e3"))?;
    departments.pipe_tombstone(s("e1"))?;
    let totals = driver.output_topic::<String, i64>("totals")?;
    assert_eq!(
        totals.read_key_values_to_list()?,
        [
            (s("eng"), 100),
            (s("eng"), 300),
            (s("ops"), 50),
            (s("eng"), 350),
            (s("eng"), 150),
            (s("ops"), 250),
            (s("ops"), 200),
            (s("eng"), 0),
        ]
    );
    let store = driver.key_value_store::<String, i64>("totals")?;
    assert_eq!(store.all()?, [(s("eng"), 0), (s("ops"), 200)]);
    Ok(())
}

#[test]
fn a_materialized_join_result_is_readable_from_its_store() -> Result<(), StreamsError> {
    let driver = table_join_driver(|l, r| {
        l.left_join_with(
            r,
            |a, b| format!("{a}+{}", or_null(b)),
            Materialized::named("joined"),
        )
    });
    let (left, right) = (driver.input_topic("left")?, driver.input_topic("right")?);
    put(&left, "a", Some("L1"), 1);
    put(&left, "b", Some("Lb"), 2);
    put(&right, "a", Some("R1"), 3);
    put(&right, "c", Some("Rc"), 4);
    put(&left, "b", None, 5);
    let store = driver.key_value_store::<String, String>("joined")?;
    assert_eq!(store.all()?, [(s("a"), s("L1+R1"))]);
    let out = driver.output_topic::<String, String>("out")?;
    assert_eq!(
        rows(&out),
        [
            row("a", "L1+null", 1),
            row("b", "Lb+null", 2),
            row("a", "L1+R1", 3),
            tombstone("b", 5),
        ]
    );
    Ok(())
}

#[test]
fn tables_without_a_store_are_materialized_for_the_join() -> Result<(), StreamsError> {
    // A filtered and a mapped table have no store of their own: the join gives them one.
    let driver = table_join_driver(|l, r| {
        let long = l.filter(|_, v| v.len() > 1);
        let upper = r.map_values(|v| v.to_uppercase());
        long.join(&upper, |a, b| format!("{a}+{b}"))
    });
    let (left, right) = (driver.input_topic("left")?, driver.input_topic("right")?);
    let out = driver.output_topic::<String, String>("out")?;
    put(&right, "a", Some("r"), 1);
    put(&left, "a", Some("L1"), 2);
    put(&left, "a", Some("x"), 3);
    put(&right, "a", Some("s"), 4);
    put(&left, "a", Some("L2"), 5);
    assert_eq!(
        rows(&out),
        [
            row("a", "L1+R", 2),
            // Filtered out: the row leaves the left table, and so the result.
            tombstone("a", 3),
            row("a", "L2+S", 5),
        ]
    );
    Ok(())
}

#[test]
fn describe_shows_the_join_nodes_with_their_stores() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let left = builder.table::<String, String>("left");
    let right = builder.table::<String, String>("right");
    left.join(&right, |a, b| format!("{a}{b}"))
        .to_stream()
        .to("out");
    let description = builder.build()?.describe().to_string();
    assert_eq!(
        description,
        concat!(
            "Topologies:\n",
            "  Sub-topology: 0\n",
            "    Source: KSTREAM-SOURCE-0000000000 (topics: [left])\n",
            "      --> KTABLE-SOURCE-0000000001\n",
            "    Processor: KTABLE-SOURCE-0000000001 (stores: [KTABLE-SOURCE-0000000001-STATE-STORE])\n",
            "      --> KTABLE-JOINTHIS-0000000005\n",
            "      <-- KSTREAM-SOURCE-0000000000\n",
            "    Source: KSTREAM-SOURCE-0000000002 (topics: [right])\n",
            "      --> KTABLE-SOURCE-0000000003\n",
            "    Processor: KTABLE-SOURCE-0000000003 (stores: [KTABLE-SOURCE-0000000003-STATE-STORE])\n",
            "      --> KTABLE-JOINOTHER-0000000006\n",
            "      <-- KSTREAM-SOURCE-0000000002\n",
            "    Processor: KTABLE-JOINTHIS-0000000005 (stores: [KTABLE-SOURCE-0000000003-STATE-STORE, KTABLE-JOINTHIS-0000000005-ROW-TIMES, KTABLE-JOINOTHER-0000000006-ROW-TIMES])\n",
            "      --> KTABLE-MERGE-0000000004\n",
            "      <-- KTABLE-SOURCE-0000000001\n",
            "    Processor: KTABLE-JOINOTHER-0000000006 (stores: [KTABLE-SOURCE-0000000001-STATE-STORE, KTABLE-JOINTHIS-0000000005-ROW-TIMES, KTABLE-JOINOTHER-0000000006-ROW-TIMES])\n",
            "      --> KTABLE-MERGE-0000000004\n",
            "      <-- KTABLE-SOURCE-0000000003\n",
            "    Processor: KTABLE-MERGE-0000000004 (stores: [])\n",
            "      --> KTABLE-TOSTREAM-0000000007\n",
            "      <-- KTABLE-JOINTHIS-0000000005, KTABLE-JOINOTHER-0000000006\n",
            "    Processor: KTABLE-TOSTREAM-0000000007 (stores: [])\n",
            "      --> KSTREAM-SINK-0000000008\n",
            "      <-- KTABLE-MERGE-0000000004\n",
            "    Sink: KSTREAM-SINK-0000000008 (topic: out)\n",
            "      <-- KTABLE-TOSTREAM-0000000007\n",
            "\n",
        )
    );
    Ok(())
}

/// Orders (`order -> "customer:item"`) joined with customers by the customer in the order.
fn customer_of(order: &str) -> String {
    s(order.split(':').next().unwrap_or_default())
}

fn fk_driver(left_join: bool) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    let orders = builder.table::<String, String>("orders");
    let customers = builder.table::<String, String>("customers");
    let enriched = match left_join {
        false => orders.join_foreign_key_with(
            &customers,
            |o: &String| customer_of(o),
            |order, name| format!("{order}/{name}"),
            Materialized::named("enriched"),
        ),
        true => orders.left_join_foreign_key_with(
            &customers,
            |o: &String| customer_of(o),
            |order, name| format!("{order}/{}", name.map_or("-", String::as_str)),
            Materialized::named("enriched"),
        ),
    };
    enriched.to_stream().to("out");
    drive(builder)
}

#[test]
fn foreign_key_join_follows_both_sides_and_changed_foreign_keys() -> Result<(), StreamsError> {
    let driver = fk_driver(false);
    let orders = driver.input_topic("orders")?;
    let customers = driver.input_topic("customers")?;
    let out = driver.output_topic::<String, String>("out")?;
    put(&customers, "c1", Some("Ann"), 1);
    put(&orders, "o1", Some("c1:tea"), 10);
    put(&orders, "o2", Some("c2:pie"), 11);
    put(&customers, "c2", Some("Bob"), 12);
    put(&customers, "c1", Some("Anna"), 13);
    // o1 moves to c2: it leaves c1, whose updates no longer reach it.
    put(&orders, "o1", Some("c2:tea"), 14);
    put(&customers, "c1", Some("Ann2"), 15);
    // A deleted left row deletes its result.
    put(&orders, "o2", None, 16);
    // A deleted right row deletes the results of the rows that refer to it.
    put(&customers, "c2", None, 17);
    put(&customers, "c2", Some("Cy"), 18);
    // A foreign key without a right row retracts the result made with the old one.
    put(&orders, "o1", Some("c3:tea"), 19);
    assert_eq!(
        rows(&out),
        [
            row("o1", "c1:tea/Ann", 10),
            row("o2", "c2:pie/Bob", 12),
            row("o1", "c1:tea/Anna", 13),
            row("o1", "c2:tea/Bob", 14),
            tombstone("o2", 16),
            tombstone("o1", 17),
            row("o1", "c2:tea/Cy", 18),
            tombstone("o1", 19),
        ]
    );
    put(&customers, "c3", Some("Dee"), 20);
    assert_eq!(rows(&out), [row("o1", "c3:tea/Dee", 20)]);
    let store = driver.key_value_store::<String, String>("enriched")?;
    assert_eq!(store.all()?, [(s("o1"), s("c3:tea/Dee"))]);
    Ok(())
}

#[test]
fn foreign_key_left_join_keeps_rows_without_a_match() -> Result<(), StreamsError> {
    let driver = fk_driver(true);
    let orders = driver.input_topic("orders")?;
    let customers = driver.input_topic("customers")?;
    let out = driver.output_topic::<String, String>("out")?;
    put(&orders, "o1", Some("c1:tea"), 10);
    put(&customers, "c1", Some("Ann"), 11);
    // Leaving c1 joins the row with nothing, and so does c2's answer (no row either): as in
    // Kafka Streams, both answers reach the result table, whose cache forwards each.
    put(&orders, "o1", Some("c2:tea"), 12);
    put(&customers, "c2", Some("Bob"), 13);
    put(&customers, "c2", None, 14);
    put(&orders, "o1", None, 15);
    assert_eq!(
        rows(&out),
        [
            row("o1", "c1:tea/-", 10),
            row("o1", "c1:tea/Ann", 11),
            row("o1", "c2:tea/-", 12),
            row("o1", "c2:tea/-", 12),
            row("o1", "c2:tea/Bob", 13),
            row("o1", "c2:tea/-", 14),
            tombstone("o1", 15),
        ]
    );
    Ok(())
}

#[test]
fn a_foreign_key_join_followed_by_a_table_aggregation_subtracts_old_results(
) -> Result<(), StreamsError> {
    // Orders per customer name: an order moving between customers, a renamed customer and
    // a deleted order each retract the old result from its group.
    let builder = StreamsBuilder::new();
    let orders = builder.table::<String, String>("orders");
    let customers = builder.table::<String, String>("customers");
    orders
        .join_foreign_key(
            &customers,
            |o: &String| customer_of(o),
            |_, name| name.clone(),
        )
        .group_by(|_, name| (name, 1i64))
        .aggregate(|| 0, |_, n, total| total + n, |_, n, total| total - n)
        .to_stream()
        .to("per-name");
    let driver = drive(builder);
    let orders = driver.input_topic("orders")?;
    let customers = driver.input_topic("customers")?;
    put(&customers, "c1", Some("Ann"), 1);
    put(&customers, "c2", Some("Bob"), 2);
    put(&orders, "o1", Some("c1:tea"), 3);
    put(&orders, "o2", Some("c1:pie"), 4);
    put(&orders, "o2", Some("c2:pie"), 5);
    put(&customers, "c1", Some("Anna"), 6);
    put(&orders, "o2", None, 7);
    let totals = driver.output_topic::<String, i64>("per-name")?;
    assert_eq!(
        totals.read_key_values_to_list()?,
        [
            (s("Ann"), 1),
            (s("Ann"), 2),
            (s("Ann"), 1),
            (s("Bob"), 1),
            (s("Ann"), 0),
            (s("Anna"), 1),
            (s("Bob"), 0),
        ]
    );
    Ok(())
}

#[test]
fn a_stale_foreign_key_response_is_dropped() -> Result<(), StreamsError> {
    // One input record updates the order twice (no cache collapses the updates), so both
    // subscriptions are on their way before the first answer comes back.
    let builder = StreamsBuilder::new();
    let orders = builder
        .stream::<String, String>("order-events")
        .flat_map_values(|v| v.split(';').map(str::to_owned).collect::<Vec<_>>())
        .to_table_with(Materialized::new().with_caching_disabled());
    let customers = builder.table::<String, String>("customers");
    orders
        .join_foreign_key(
            &customers,
            |o: &String| customer_of(o),
            |order, name| format!("{order}/{name}"),
        )
        .to_stream()
        .to("out");
    let driver = drive(builder);
    let customers = driver.input_topic("customers")?;
    put(&customers, "c1", Some("Ann"), 1);
    put(&customers, "c2", Some("Bob"), 2);
    let dropped = driver.metrics().dropped;
    put(
        &driver.input_topic("order-events")?,
        "o1",
        Some("c1:tea;c2:pie"),
        10,
    );
    // The answer for "c1:tea" arrives when the order already holds "c2:pie".
    let out = driver.output_topic::<String, String>("out")?;
    assert_eq!(rows(&out), [row("o1", "c2:pie/Bob", 10)]);
    assert_eq!(driver.metrics().dropped, dropped + 1);
    Ok(())
}

#[test]
fn describe_shows_the_foreign_key_join_nodes_topics_and_stores() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let orders = builder.table::<String, String>("orders");
    let customers = builder.table::<String, String>("customers");
    orders
        .join_foreign_key(
            &customers,
            |o: &String| customer_of(o),
            |o, c| format!("{o}{c}"),
        )
        .to_stream()
        .to("out");
    let topology = builder.build()?;
    assert_eq!(
        topology.internal_topics("app"),
        [
            s("app-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000004-topic"),
            s("app-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000012-topic"),
        ]
    );
    assert_eq!(
        topology.describe().to_string(),
        concat!(
            "Topologies:\n",
            "  Sub-topology: 0\n",
            "    Source: KSTREAM-SOURCE-0000000000 (topics: [orders])\n",
            "      --> KTABLE-SOURCE-0000000001\n",
            "    Processor: KTABLE-SOURCE-0000000001 (stores: [KTABLE-SOURCE-0000000001-STATE-STORE])\n",
            "      --> KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000005\n",
            "      <-- KSTREAM-SOURCE-0000000000\n",
            "    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000005 (stores: [])\n",
            "      --> KTABLE-SINK-0000000006\n",
            "      <-- KTABLE-SOURCE-0000000001\n",
            "    Sink: KTABLE-SINK-0000000006 (topic: KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000004-topic)\n",
            "      <-- KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000005\n",
            "    Source: KTABLE-SOURCE-0000000014 (topics: [KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000012-topic])\n",
            "      --> KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-0000000015\n",
            "    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-0000000015 (stores: [KTABLE-SOURCE-0000000001-STATE-STORE])\n",
            "      --> KTABLE-FK-JOIN-OUTPUT-0000000016\n",
            "      <-- KTABLE-SOURCE-0000000014\n",
            "    Processor: KTABLE-FK-JOIN-OUTPUT-0000000016 (stores: [KTABLE-FK-JOIN-OUTPUT-STATE-STORE-0000000017])\n",
            "      --> KTABLE-TOSTREAM-0000000018\n",
            "      <-- KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-0000000015\n",
            "    Processor: KTABLE-TOSTREAM-0000000018 (stores: [])\n",
            "      --> KSTREAM-SINK-0000000019\n",
            "      <-- KTABLE-FK-JOIN-OUTPUT-0000000016\n",
            "    Sink: KSTREAM-SINK-0000000019 (topic: out)\n",
            "      <-- KTABLE-TOSTREAM-0000000018\n",
            "\n",
            "  Sub-topology: 1\n",
            "    Source: KSTREAM-SOURCE-0000000002 (topics: [customers])\n",
            "      --> KTABLE-SOURCE-0000000003\n",
            "    Processor: KTABLE-SOURCE-0000000003 (stores: [KTABLE-SOURCE-0000000003-STATE-STORE])\n",
            "      --> KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000011\n",
            "      <-- KSTREAM-SOURCE-0000000002\n",
            "    Source: KTABLE-SOURCE-0000000007 (topics: [KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000004-topic])\n",
            "      --> KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000009\n",
            "    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000009 (stores: [KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-0000000008])\n",
            "      --> KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000010\n",
            "      <-- KTABLE-SOURCE-0000000007\n",
            "    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000010 (stores: [KTABLE-SOURCE-0000000003-STATE-STORE, KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000011-ROW-TIMES])\n",
            "      --> KTABLE-SINK-0000000013\n",
            "      <-- KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000009\n",
            "    Processor: KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000011 (stores: [KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-0000000008, KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000011-ROW-TIMES])\n",
            "      --> KTABLE-SINK-0000000013\n",
            "      <-- KTABLE-SOURCE-0000000003\n",
            "    Sink: KTABLE-SINK-0000000013 (topic: KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000012-topic)\n",
            "      <-- KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000010, KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-0000000011\n",
            "\n",
        )
    );
    Ok(())
}

/// Every output of a scenario of both join kinds, with `driver.restart()` after the inputs
/// at the positions in `restarts`.
fn run_with_restarts(restarts: &[usize]) -> Vec<Row> {
    let builder = StreamsBuilder::new();
    let orders = builder.table::<String, String>("orders");
    let customers = builder.table::<String, String>("customers");
    let notes = builder.table::<String, String>("notes");
    orders
        .join_foreign_key(
            &customers,
            |o: &String| customer_of(o),
            |o, c| format!("{o}/{c}"),
        )
        .to_stream()
        .to("fk-out");
    orders
        .outer_join(&notes, |o, n| format!("{}+{}", or_null(o), or_null(n)))
        .to_stream()
        .to("tt-out");
    let driver = drive(builder);
    let inputs: [(&str, &str, Option<&str>); 12] = [
        ("customers", "c1", Some("Ann")),
        ("orders", "o1", Some("c1:tea")),
        ("notes", "o1", Some("urgent")),
        ("orders", "o2", Some("c2:pie")),
        ("customers", "c2", Some("Bob")),
        ("customers", "c1", Some("Anna")),
        ("orders", "o1", Some("c2:tea")),
        ("notes", "o2", Some("gift")),
        ("customers", "c2", None),
        ("orders", "o2", None),
        ("customers", "c2", Some("Cy")),
        ("notes", "o1", None),
    ];
    let mut out = Vec::new();
    for (i, (topic, key, value)) in inputs.iter().enumerate() {
        if restarts.contains(&i) {
            driver.restart().expect("the driver restarts");
        }
        let input = driver.input_topic(topic).expect("an input topic");
        put(&input, key, *value, 10 + i as i64);
        for topic in ["fk-out", "tt-out"] {
            let output = driver.output_topic(topic).expect("an output topic");
            out.extend(
                rows(&output)
                    .into_iter()
                    .map(|(k, v, t)| (format!("{topic}:{k}"), v, t)),
            );
        }
    }
    out
}

#[test]
fn joins_give_the_same_output_across_restarts() {
    let uninterrupted = run_with_restarts(&[]);
    assert_eq!(uninterrupted.len(), 14, "{uninterrupted:?}");
    for restarts in [&[3][..], &[5, 6], &[1, 4, 7, 9, 11]] {
        assert_eq!(
            run_with_restarts(restarts),
            uninterrupted,
            "restarts at {restarts:?}"
        );
    }
}

mod on_kafka {
    use std::collections::HashMap;
    use std::sync::Arc;
    use std::time::Duration;

    use integration_tests::init_tracing;
    use integration_tests::kafka::{produce, read_until};
    use streams_dsl::prelude::*;

    use super::customer_of;

    const WAIT: Duration = Duration::from_secs(60);

    fn latest(records: &[(Vec<u8>, Vec<u8>)]) -> HashMap<String, String> {
        records
            .iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }

    fn wait_for(
        kafka: &EmbeddedKafka,
        expected: &HashMap<String, String>,
    ) -> HashMap<String, String> {
        let records = read_until(kafka.bootstrap_servers(), "fk-enriched", false, WAIT, |r| {
            let latest = latest(r);
            expected.iter().all(|(k, v)| latest.get(k) == Some(v))
        });
        latest(&records)
    }

    #[test]
    fn foreign_key_join_runs_between_topics_of_different_partition_counts() {
        init_tracing();
        let kafka = Arc::new(EmbeddedKafka::start(1).expect("the mock cluster starts"));
        for (topic, partitions) in [("fk-orders", 4), ("fk-customers", 3), ("fk-enriched", 2)] {
            kafka
                .create_topic(topic, partitions)
                .expect("the topic is created");
        }
        let builder = StreamsBuilder::new();
        let orders = builder.table::<String, String>("fk-orders");
        let customers = builder.table::<String, String>("fk-customers");
        orders
            .join_foreign_key(
                &customers,
                |o: &String| customer_of(o),
                |o, c| format!("{o}/{c}"),
            )
            .to_stream()
            .to("fk-enriched");
        let dir = tempfile::tempdir().expect("a state directory");
        let config = StreamsConfig::new("fk-partitions")
            .bootstrap_servers(kafka.bootstrap_servers())
            .state_dir(dir.path())
            .commit_interval(Duration::from_millis(100))
            .consumer_property("session.timeout.ms", "6000")
            .consumer_property("heartbeat.interval.ms", "1000");
        let streams = KafkaStreams::new(builder.build().expect("the topology builds"), config)
            .with_topic_creator(kafka.clone());
        streams.start().expect("the application starts");
        assert!(streams.wait_for(State::Running, WAIT));

        let customers: Vec<(String, String)> = (0..10)
            .map(|c| (format!("c{c}"), format!("name{c}")))
            .collect();
        let orders: Vec<(String, String)> = (0..40)
            .map(|o| (format!("o{o}"), format!("c{}:item{o}", o % 10)))
            .collect();
        let send = |topic: &str, rows: &[(String, String)]| {
            let records: Vec<(Option<&[u8]>, &[u8])> = rows
                .iter()
                .map(|(k, v)| (Some(k.as_bytes()), v.as_bytes()))
                .collect();
            produce(kafka.bootstrap_servers(), topic, &records);
        };
        send("fk-customers", &customers);
        send("fk-orders", &orders);
        let mut expected: HashMap<String, String> = (0..40)
            .map(|o| {
                (
                    format!("o{o}"),
                    format!("c{}:item{o}/name{}", o % 10, o % 10),
                )
            })
            .collect();
        assert_eq!(wait_for(&kafka, &expected), expected);

        // A right update reaches every order that refers to it, across partitions.
        send("fk-customers", &[("c3".to_string(), "renamed".to_string())]);
        for o in [3, 13, 23, 33] {
            expected.insert(format!("o{o}"), format!("c3:item{o}/renamed"));
        }
        assert_eq!(wait_for(&kafka, &expected), expected);
        assert!(streams.close(WAIT));
    }
}
