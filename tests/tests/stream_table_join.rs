//! Stream-table joins (Kafka Streams' `KStreamKTableJoin`): exact outputs of inner and left
//! joins through the test driver, repartitioning, derived tables, versioned tables with a
//! grace period, restarts and `describe()`.

use std::time::Duration;

use integration_tests::{drive, s};
use streams_dsl::prelude::*;

/// Key (`None`: null), value (`None`: a tombstone) and time of an output record.
type Out<K, V> = (Option<K>, Option<V>, i64);

/// Key, value and time of every record of `topic`.
fn records<K: DefaultSerde + 'static, V: DefaultSerde + 'static>(
    driver: &TopologyTestDriver,
    topic: &str,
) -> Result<Vec<Out<K, V>>, StreamsError> {
    Ok(driver
        .output_topic::<K, V>(topic)?
        .read_records_to_list()?
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp.unwrap_or(-1)))
        .collect())
}

type Rows = Vec<(Option<String>, Option<String>, i64)>;

/// Customers (a table) and orders (a stream) joined into `inner` and `left`.
fn customers_and_orders(
    materialized: Materialized<String, String>,
) -> Result<TopologyTestDriver, StreamsError> {
    let builder = StreamsBuilder::new();
    let customers = builder.table_with("customers", Consumed::new(), materialized);
    let orders = builder.stream::<String, i64>("orders");
    orders
        .join_table(&customers, |amount, name| format!("{name}:{amount}"))
        .to("inner");
    orders
        .left_join_table(&customers, |amount, name: Option<String>| {
            format!("{}:{amount}", name.as_deref().unwrap_or("none"))
        })
        .to("left");
    Ok(drive(builder))
}

/// The scenario every plain join test runs: rows absent, present, updated, deleted, and a
/// stream record that arrives out of order.
fn pipe_scenario(driver: &TopologyTestDriver) -> Result<(), StreamsError> {
    let customers = driver.input_topic::<String, String>("customers")?;
    let orders = driver.input_topic::<String, i64>("orders")?;
    orders.pipe_key_value_at(s("ann"), 1, 10)?;
    customers.pipe_key_value_at(s("ann"), s("Ann"), 20)?;
    orders.pipe_key_value_at(s("ann"), 2, 30)?;
    orders.pipe_key_value_at(s("bob"), 3, 31)?;
    customers.pipe_key_value_at(s("ann"), s("Anna"), 40)?;
    // Late in stream time, yet a plain table answers with its current row.
    orders.pipe_key_value_at(s("ann"), 4, 35)?;
    customers.pipe_record(TestRecord::tombstone(s("ann")).at(50))?;
    orders.pipe_key_value_at(s("ann"), 5, 60)?;
    Ok(())
}

fn row(key: &str, value: &str, t: i64) -> (Option<String>, Option<String>, i64) {
    (Some(s(key)), Some(s(value)), t)
}

#[test]
fn inner_and_left_joins_look_up_the_current_row() -> Result<(), StreamsError> {
    for materialized in [
        Materialized::new(),
        Materialized::new().in_memory().with_caching_disabled(),
    ] {
        let driver = customers_and_orders(materialized)?;
        pipe_scenario(&driver)?;
        let inner: Rows = records(&driver, "inner")?;
        assert_eq!(
            inner,
            vec![row("ann", "Ann:2", 30), row("ann", "Anna:4", 35)]
        );
        let left: Rows = records(&driver, "left")?;
        assert_eq!(
            left,
            vec![
                row("ann", "none:1", 10),
                row("ann", "Ann:2", 30),
                row("bob", "none:3", 31),
                row("ann", "Anna:4", 35),
                row("ann", "none:5", 60),
            ]
        );
    }
    Ok(())
}

#[test]
fn at_the_same_timestamp_the_order_of_arrival_decides() -> Result<(), StreamsError> {
    let driver = customers_and_orders(Materialized::new())?;
    let customers = driver.input_topic::<String, String>("customers")?;
    let orders = driver.input_topic::<String, i64>("orders")?;
    orders.pipe_key_value_at(s("ann"), 1, 5)?;
    customers.pipe_key_value_at(s("ann"), s("Ann"), 5)?;
    orders.pipe_key_value_at(s("ann"), 2, 5)?;
    customers.pipe_key_value_at(s("ann"), s("Anna"), 5)?;
    orders.pipe_key_value_at(s("ann"), 3, 5)?;
    let inner: Rows = records(&driver, "inner")?;
    assert_eq!(inner, vec![row("ann", "Ann:2", 5), row("ann", "Anna:3", 5)]);
    let left: Rows = records(&driver, "left")?;
    assert_eq!(left[0], row("ann", "none:1", 5));
    Ok(())
}

#[test]
fn null_keys_are_dropped_by_inner_joins_and_joined_with_none_by_left_joins(
) -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let customers = builder.table::<Option<String>, String>("customers");
    let orders = builder.stream::<Option<String>, i64>("orders");
    orders
        .join_table(&customers, |amount, name| format!("{name}:{amount}"))
        .to("inner");
    orders
        .left_join_table(&customers, |amount, name: Option<String>| {
            format!("{}:{amount}", name.as_deref().unwrap_or("none"))
        })
        .to("left");
    let driver = drive(builder);
    driver
        .input_topic::<Option<String>, String>("customers")?
        .pipe_key_value_at(Some(s("ann")), s("Ann"), 1)?;
    let orders_in = driver.input_topic::<Option<String>, i64>("orders")?;
    orders_in.pipe_record(TestRecord {
        key: None,
        value: Some(7),
        timestamp: Some(2),
        headers: Headers::new(),
    })?;
    orders_in.pipe_key_value_at(Some(s("ann")), 8, 3)?;
    let inner = records::<Option<String>, String>(&driver, "inner")?;
    assert_eq!(inner, vec![(Some(Some(s("ann"))), Some(s("Ann:8")), 3)]);
    let left = records::<Option<String>, String>(&driver, "left")?;
    let left: Vec<_> = left
        .into_iter()
        .map(|(k, v, t)| (k.flatten(), v, t))
        .collect();
    assert_eq!(
        left,
        vec![
            (None, Some(s("none:7")), 2),
            (Some(s("ann")), Some(s("Ann:8")), 3)
        ]
    );
    assert_eq!(
        driver.metrics().dropped,
        1,
        "the inner join's null key is counted"
    );
    Ok(())
}

#[test]
fn a_changed_key_is_repartitioned_before_the_join() -> Result<(), StreamsError> {
    for joined in [None, Some("enrich")] {
        let builder = StreamsBuilder::new();
        let customers = builder.table::<String, String>("customers");
        // Orders keyed by order id, re-keyed by the customer in their value.
        let by_customer = builder
            .stream::<String, String>("orders")
            .select_key(|_, customer| customer.clone());
        let joined = match joined {
            Some(name) => Joined::as_(name),
            None => Joined::new(),
        };
        by_customer
            .join_table_with(&customers, |order, name| format!("{name}<-{order}"), joined)
            .to("out");
        let topology = builder.build()?;
        let internal = topology.internal_topics("test-app");
        let description = topology.describe().to_string();
        let driver = TopologyTestDriver::new(topology, StreamsConfig::new("test-app"))?;
        driver
            .input_topic::<String, String>("customers")?
            .pipe_key_value_at(s("ann"), s("Ann"), 1)?;
        driver
            .input_topic::<String, String>("orders")?
            .pipe_key_values([(s("o1"), s("ann")), (s("o2"), s("bob"))])?;
        assert_eq!(
            driver
                .output_topic::<String, String>("out")?
                .read_key_values_to_list()?,
            vec![(s("ann"), s("Ann<-ann"))]
        );
        let expected_topic = match joined_name(&description) {
            Some(name) => format!("test-app-{name}-repartition"),
            None => s("test-app-KSTREAM-KEY-SELECT-0000000003-repartition"),
        };
        assert_eq!(internal, vec![expected_topic], "{description}");
    }
    Ok(())
}

/// The user-given join name, if the described topology has a node called `enrich`.
fn joined_name(description: &str) -> Option<&'static str> {
    description
        .contains("Processor: enrich ")
        .then_some("enrich")
}

#[test]
fn a_derived_table_is_materialized_for_the_join() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let limits = builder
        .table::<String, i64>("limits")
        .filter(|_, limit| *limit > 0);
    builder
        .stream::<String, i64>("spend")
        .join_table(&limits, |amount, limit| limit - amount)
        .to("headroom");
    let topology = builder.build()?;
    let description = topology.describe().to_string();
    assert!(
        description.contains(
            "Processor: KSTREAM-JOIN-0000000005 (stores: [KTABLE-MATERIALIZE-0000000004-STATE-STORE])"
        ),
        "{description}"
    );
    let driver = TopologyTestDriver::new(topology, StreamsConfig::new("test-app"))?;
    let limits = driver.input_topic::<String, i64>("limits")?;
    let spend = driver.input_topic::<String, i64>("spend")?;
    limits.pipe_key_value_at(s("a"), 100, 1)?;
    limits.pipe_key_value_at(s("b"), -5, 1)?;
    spend.pipe_key_value_at(s("a"), 30, 2)?;
    spend.pipe_key_value_at(s("b"), 1, 2)?;
    // A row that stops passing the filter is deleted from the join's store.
    limits.pipe_key_value_at(s("a"), 0, 3)?;
    spend.pipe_key_value_at(s("a"), 1, 4)?;
    limits.pipe_key_value_at(s("b"), 10, 5)?;
    spend.pipe_key_value_at(s("b"), 4, 6)?;
    let out: Vec<(Option<String>, Option<i64>, i64)> = records(&driver, "headroom")?;
    assert_eq!(
        out,
        vec![(Some(s("a")), Some(70), 2), (Some(s("b")), Some(6), 6)]
    );
    Ok(())
}

/// Rates (a versioned table, a minute of history) and trades joined with a 10 ms grace
/// period into `inner` (or without one, into `no-grace`), and the rates table's own
/// updates into `rates`.
fn rates_and_trades(engine: StoreEngine) -> Result<TopologyTestDriver, StreamsError> {
    let builder = StreamsBuilder::new();
    let rates = builder.table_with::<String, i64>(
        "rates",
        Consumed::new(),
        Materialized::as_versioned(Duration::from_secs(60)).with_store_engine(engine.clone()),
    );
    rates.to_stream().to("rates");
    let trades = builder.stream::<String, i64>("trades");
    trades
        .join_table_with(
            &rates,
            |amount, rate| amount * rate,
            Joined::new().with_grace_period(Duration::from_millis(10)),
        )
        .to("inner");
    trades
        .left_join_table(&rates, |amount, rate: Option<i64>| {
            amount * rate.unwrap_or(-1)
        })
        .to("no-grace");
    Ok(drive(builder))
}

/// Pipes the versioned scenario; `restart_before` restarts the driver before that step.
fn pipe_versioned_scenario(
    driver: &TopologyTestDriver,
    restart_before: Option<usize>,
) -> Result<(), StreamsError> {
    let steps: [(&str, i64, i64); 10] = [
        ("rates", 1, 0),
        ("trades", 100, 5),
        // A late rate: older than the trade at 5, which is still buffered.
        ("rates", 2, 3),
        // Stream time 16 passes 5 + 10: the trade at 5 joins the rate as of 5.
        ("trades", 20, 16),
        ("rates", 3, 10),
        // Out of order but within grace: buffered.
        ("trades", 300, 8),
        // Older than stream time - grace (6): joined at once, as of 2.
        ("trades", 4, 2),
        // An out-of-order rate goes into history only: not forwarded.
        ("rates", 9, 7),
        ("trades", 50, 30),
        // Exactly at stream time - grace: buffered and released at once.
        ("trades", 7, 20),
    ];
    for (i, (topic, value, t)) in steps.into_iter().enumerate() {
        if restart_before == Some(i) {
            driver.restart()?;
        }
        driver
            .input_topic::<String, i64>(topic)?
            .pipe_key_value_at(s("k"), value, t)?;
    }
    Ok(())
}

type Joins = Vec<(Option<String>, Option<i64>, i64)>;

fn versioned_outputs(driver: &TopologyTestDriver) -> Result<[Joins; 3], StreamsError> {
    Ok([
        records(driver, "inner")?,
        records(driver, "no-grace")?,
        records::<String, Option<i64>>(driver, "rates")?
            .into_iter()
            .map(|(k, v, t)| (k, v.flatten(), t))
            .collect(),
    ])
}

fn k(value: i64, t: i64) -> (Option<String>, Option<i64>, i64) {
    (Some(s("k")), Some(value), t)
}

#[test]
fn a_grace_period_lets_late_table_updates_reach_earlier_stream_records() -> Result<(), StreamsError>
{
    for engine in [StoreEngine::RocksDb, StoreEngine::InMemory] {
        let driver = rates_and_trades(engine.clone())?;
        pipe_versioned_scenario(&driver, None)?;
        let [inner, no_grace, rates] = versioned_outputs(&driver)?;
        assert_eq!(
            inner,
            vec![
                k(200, 5),
                k(4, 2),
                // The rate at 7 came after the rate at 10, yet it is the rate as of 8.
                k(2_700, 8),
                k(60, 16),
                k(21, 20),
            ],
            "{engine:?}"
        );
        // Without grace each trade joins at once, still as of its own time.
        assert_eq!(
            no_grace,
            vec![
                k(100, 5),
                k(40, 16),
                k(600, 8),
                k(4, 2),
                k(150, 30),
                k(21, 20)
            ],
            "{engine:?}"
        );
        assert_eq!(rates, vec![k(1, 0), k(2, 3), k(3, 10)], "{engine:?}");
    }
    Ok(())
}

#[test]
fn a_grace_period_needs_a_versioned_table() {
    let builder = StreamsBuilder::new();
    let plain = builder.table::<String, i64>("rates");
    builder
        .stream::<String, i64>("trades")
        .join_table_with(
            &plain,
            |a, b| a + b,
            Joined::new().with_grace_period(Duration::from_millis(1)),
        )
        .to("out");
    let error = builder
        .build()
        .expect_err("a grace period on a plain table");
    assert!(error.to_string().contains("versioned"), "{error}");
}

#[test]
fn a_restart_mid_stream_gives_the_same_joins() -> Result<(), StreamsError> {
    for engine in [StoreEngine::RocksDb, StoreEngine::InMemory] {
        let uninterrupted = {
            let driver = rates_and_trades(engine.clone())?;
            pipe_versioned_scenario(&driver, None)?;
            versioned_outputs(&driver)?
        };
        for point in 1..10 {
            let driver = rates_and_trades(engine.clone())?;
            pipe_versioned_scenario(&driver, Some(point))?;
            assert_eq!(
                versioned_outputs(&driver)?,
                uninterrupted,
                "{engine:?}, restarted before step {point}"
            );
        }
        let plain = |restart: Option<usize>| -> Result<(Rows, Rows), StreamsError> {
            let materialized = match &engine {
                StoreEngine::InMemory => Materialized::new().in_memory(),
                _ => Materialized::new(),
            };
            let driver = customers_and_orders(materialized)?;
            let customers = driver.input_topic::<String, String>("customers")?;
            let orders = driver.input_topic::<String, i64>("orders")?;
            for i in 0..8 {
                if restart == Some(i) {
                    driver.restart()?;
                }
                let key = if i % 3 == 0 { s("bob") } else { s("ann") };
                match i % 2 {
                    0 => customers.pipe_key_value_at(key, format!("v{i}"), i as i64)?,
                    _ => orders.pipe_key_value_at(key, i as i64, i as i64)?,
                }
            }
            Ok((records(&driver, "inner")?, records(&driver, "left")?))
        };
        let whole = plain(None)?;
        assert_eq!(whole.1.len(), 4);
        for point in 1..8 {
            assert_eq!(
                plain(Some(point))?,
                whole,
                "{engine:?}, plain join, restart {point}"
            );
        }
    }
    Ok(())
}

#[test]
fn describe_connects_the_join_to_the_table_store() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let customers = builder.table::<String, String>("customers");
    builder
        .stream::<String, i64>("orders")
        .left_join_table(&customers, |amount, _name: Option<String>| amount)
        .to("out");
    // One sub-topology: the join reads the table's store, so the table and the stream are
    // co-partitioned in one task, as in Kafka Streams.
    let expected = "\
Topologies:
  Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [customers])
      --> KTABLE-SOURCE-0000000001
    Processor: KTABLE-SOURCE-0000000001 (stores: [KTABLE-SOURCE-0000000001-STATE-STORE])
      <-- KSTREAM-SOURCE-0000000000
    Source: KSTREAM-SOURCE-0000000002 (topics: [orders])
      --> KSTREAM-LEFTJOIN-0000000003
    Processor: KSTREAM-LEFTJOIN-0000000003 (stores: [KTABLE-SOURCE-0000000001-STATE-STORE])
      --> KSTREAM-SINK-0000000004
      <-- KSTREAM-SOURCE-0000000002
    Sink: KSTREAM-SINK-0000000004 (topic: out)
      <-- KSTREAM-LEFTJOIN-0000000003

";
    assert_eq!(builder.build()?.describe().to_string(), expected);
    Ok(())
}

#[test]
fn describe_shows_the_grace_buffer_store() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let rates = builder.table_with::<String, i64>(
        "rates",
        Consumed::new(),
        Materialized::as_versioned(Duration::from_secs(60)),
    );
    builder
        .stream::<String, i64>("trades")
        .join_table_with(
            &rates,
            |a, b| a * b,
            Joined::as_("priced").with_grace_period(Duration::from_millis(10)),
        )
        .to("out");
    let description = builder.build()?.describe().to_string();
    assert!(
        description.contains(
            "Processor: priced (stores: [KTABLE-SOURCE-0000000001-STATE-STORE, priced-Buffer])"
        ),
        "{description}"
    );
    Ok(())
}

#[test]
fn buffered_records_keep_their_headers_and_the_versioned_store_is_readable(
) -> Result<(), StreamsError> {
    let driver = rates_and_trades(StoreEngine::RocksDb)?;
    pipe_versioned_scenario(&driver, None)?;
    let rates = driver.state_store::<VersionedKeyValueStore<String, i64>>(
        "KTABLE-SOURCE-0000000001-STATE-STORE",
    )?;
    assert_eq!(rates.get(&s("k"))?, Some(ValueAndTimestamp::new(3, 10)));
    assert_eq!(
        rates.get_as_of(&s("k"), 8)?,
        Some(ValueAndTimestamp::new(9, 7))
    );
    assert_eq!(
        rates.get_as_of(&s("k"), 6)?,
        Some(ValueAndTimestamp::new(2, 3))
    );
    // A buffered record leaves the buffer with its headers.
    let mut headers = Headers::new();
    headers.add("trace", "t-1").add_null("empty");
    driver.input_topic::<String, i64>("trades")?.pipe_record(
        TestRecord::new(s("k"), 2)
            .at(31)
            .with_headers(headers.clone()),
    )?;
    driver
        .input_topic::<String, i64>("trades")?
        .pipe_key_value_at(s("k"), 1, 45)?;
    let out = driver
        .output_topic::<String, i64>("inner")?
        .read_records_to_list()?;
    let last = out.last().expect("joined records");
    assert_eq!((last.value, last.timestamp), (Some(6), Some(31)));
    assert_eq!(last.headers, headers);
    Ok(())
}

#[test]
fn null_values_are_dropped_by_both_joins() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let customers = builder.table::<String, String>("customers");
    let orders = builder.stream::<String, Option<i64>>("orders");
    orders
        .join_table(&customers, |amount, name| format!("{name}:{amount:?}"))
        .to("inner");
    orders
        .left_join_table(&customers, |amount, name: Option<String>| {
            format!("{name:?}:{amount:?}")
        })
        .to("left");
    let driver = drive(builder);
    driver
        .input_topic::<String, String>("customers")?
        .pipe_key_value_at(s("ann"), s("Ann"), 1)?;
    let orders = driver.input_topic::<String, Option<i64>>("orders")?;
    orders.pipe_record(TestRecord::tombstone(s("ann")).at(2))?;
    orders.pipe_key_value_at(s("ann"), Some(3), 3)?;
    let inner: Rows = records(&driver, "inner")?;
    assert_eq!(inner, vec![row("ann", "Ann:Some(3)", 3)]);
    let left: Rows = records(&driver, "left")?;
    assert_eq!(left, vec![row("ann", "Some(\"Ann\"):Some(3)", 3)]);
    assert_eq!(driver.metrics().dropped, 2, "one empty message per join");
    Ok(())
}
