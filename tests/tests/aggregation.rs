//! Grouping, aggregations, tables and global tables through the test driver.

use integration_tests::{drive, s};
use streams_dsl::prelude::*;

#[test]
fn group_by_key_count_emits_every_update_and_fills_the_store() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to("out");
    let driver = drive(builder);
    driver
        .input_topic::<String, String>("in")?
        .pipe_key_values([(s("a"), s("x")), (s("b"), s("y")), (s("a"), s("z"))])?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("out")?
            .read_key_values_to_list()?,
        vec![(s("a"), 1), (s("b"), 1), (s("a"), 2)]
    );
    let store = driver.key_value_store::<String, i64>("counts")?;
    assert_eq!(store.get(&s("a"))?, Some(2));
    assert_eq!(store.all()?, vec![(s("a"), 2), (s("b"), 1)]);
    Ok(())
}

#[test]
fn key_changing_group_by_repartitions_before_counting() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<(), String>("lines")
        .flat_map_values(|line| line.split(' ').map(str::to_owned).collect::<Vec<_>>())
        .group_by_with(|_, word| word.clone(), Grouped::named("words"))
        .count()
        .to_stream()
        .to("counts");
    let topology = builder.build()?;
    assert_eq!(
        topology.internal_topics("test-app"),
        vec![s("test-app-words-repartition")]
    );
    assert_eq!(topology.subtopology_ids(), vec![0, 1]);
    let description = topology.describe().to_string();
    assert!(
        description.contains("Source: words-repartition-source (topics: [words-repartition])"),
        "{description}"
    );
    let driver = TopologyTestDriver::new(topology, StreamsConfig::new("test-app"))?;
    driver
        .input_topic::<(), String>("lines")?
        .pipe_values([s("a b"), s("b c")])?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("counts")?
            .read_key_values_to_list()?,
        vec![(s("a"), 1), (s("b"), 1), (s("b"), 2), (s("c"), 1)]
    );
    Ok(())
}

#[test]
fn reduce_and_aggregate_fold_values_per_key() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let grouped = builder.stream::<String, i64>("in");
    grouped
        .group_by_key()
        .reduce(|a, b| a + b)
        .to_stream()
        .to("sums");
    grouped
        .group_by_key()
        .aggregate(String::new, |_, v, agg| format!("{agg}{v}"))
        .to_stream()
        .to("joined");
    let driver = drive(builder);
    driver.input_topic::<String, i64>("in")?.pipe_key_values([
        (s("a"), 1),
        (s("a"), 2),
        (s("b"), 5),
        (s("a"), 3),
    ])?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("sums")?
            .read_key_values_to_list()?,
        vec![(s("a"), 1), (s("a"), 3), (s("b"), 5), (s("a"), 6)]
    );
    assert_eq!(
        driver
            .output_topic::<String, String>("joined")?
            .read_values_to_list()?,
        vec![s("1"), s("12"), s("5"), s("123")]
    );
    Ok(())
}

#[test]
fn a_cached_table_forwards_each_flushed_update_and_tombstones_delete() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .table_with::<String, i64>(
            "prices",
            Consumed::new(),
            Materialized::named("prices-store"),
        )
        .to_stream()
        .to("changes");
    let driver = drive(builder);
    let prices = driver.input_topic::<String, i64>("prices")?;
    prices.pipe_key_value(s("tea"), 3)?;
    // Unchanged, yet forwarded: the driver flushes the cache after each record, and Kafka
    // Streams' caching stores forward every flushed update.
    prices.pipe_key_value(s("tea"), 3)?;
    prices.pipe_key_value(s("tea"), 4)?;
    prices.pipe_tombstone(s("tea"))?;
    prices.pipe_tombstone(s("tea"))?; // already deleted: no update
    let changes = driver.output_topic::<String, Option<i64>>("changes")?;
    assert_eq!(
        changes.read_values_to_list()?,
        vec![Some(3), Some(3), Some(4), None]
    );
    assert_eq!(
        driver
            .key_value_store::<String, i64>("prices-store")?
            .get(&s("tea"))?,
        None
    );
    Ok(())
}

#[test]
fn stream_to_table_keeps_the_latest_value() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .to_table_with(Materialized::named("latest"))
        .to_stream()
        .to("out");
    let driver = drive(builder);
    driver.input_topic::<String, i64>("in")?.pipe_key_values([
        (s("a"), 1),
        (s("a"), 2),
        (s("a"), 2),
    ])?;
    assert_eq!(
        driver
            .output_topic::<String, Option<i64>>("out")?
            .read_values_to_list()?,
        // Each update, as Kafka Streams' cached table forwards it.
        vec![Some(1), Some(2), Some(2)]
    );
    assert_eq!(
        driver
            .key_value_store::<String, i64>("latest")?
            .get(&s("a"))?,
        Some(2)
    );
    Ok(())
}

#[test]
fn table_filter_retracts_rows_that_stop_matching() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .table_with::<String, i64>("in", Consumed::new(), Materialized::named("rows"))
        .filter(|_, v| *v > 1)
        .to_stream()
        .to("out");
    let driver = drive(builder);
    let input = driver.input_topic::<String, i64>("in")?;
    input.pipe_key_value(s("a"), 1)?; // filtered out before and after: nothing
    input.pipe_key_value(s("a"), 5)?;
    input.pipe_key_value(s("a"), 0)?; // no longer matches: a delete downstream
    let out = driver.output_topic::<String, Option<i64>>("out")?;
    assert_eq!(out.read_values_to_list()?, vec![Some(5), None]);
    Ok(())
}

#[test]
fn table_filter_not_and_map_values() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let table = builder.table::<String, i64>("in");
    table
        .filter_not(|_, v| *v > 1)
        .map_values(|v| v * 10)
        .to_stream()
        .to("out");
    let driver = drive(builder);
    driver
        .input_topic::<String, i64>("in")?
        .pipe_key_values([(s("a"), 1), (s("b"), 2)])?;
    assert_eq!(
        driver
            .output_topic::<String, Option<i64>>("out")?
            .read_key_values_to_list()?,
        // The source has no store of its own naming, so no old values: the filter cannot
        // tell whether `b` was in the table and forwards a delete (as Kafka Streams does).
        vec![(s("a"), Some(10)), (s("b"), None)]
    );
    Ok(())
}

fn region_table(builder: &StreamsBuilder) -> KTable<String, String> {
    builder.table::<String, String>("user-regions")
}

#[test]
fn table_group_by_count_subtracts_from_the_old_group() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    region_table(&builder)
        .group_by(|_, region| (region.clone(), region))
        .count()
        .to_stream()
        .to("per-region");
    let driver = drive(builder);
    let users = driver.input_topic::<String, String>("user-regions")?;
    users.pipe_key_value(s("alice"), s("eu"))?;
    users.pipe_key_value(s("bob"), s("eu"))?;
    users.pipe_key_value(s("alice"), s("us"))?; // moves: eu loses one, us gains one
    users.pipe_tombstone(s("bob"))?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("per-region")?
            .read_key_values_to_list()?,
        vec![
            (s("eu"), 1),
            (s("eu"), 2),
            (s("eu"), 1),
            (s("us"), 1),
            (s("eu"), 0)
        ]
    );
    Ok(())
}

#[test]
fn table_aggregate_with_adder_and_subtractor_updates_once_within_a_group(
) -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .table::<String, i64>("scores")
        .group_by(|_, score| (s("all"), score))
        .aggregate_with(
            || 0i64,
            |_, v, agg| agg + v,
            |_, v, agg| agg - v,
            Materialized::named("total"),
        )
        .to_stream()
        .to("total");
    let driver = drive(builder);
    let scores = driver.input_topic::<String, i64>("scores")?;
    scores.pipe_key_value(s("a"), 1)?;
    scores.pipe_key_value(s("b"), 2)?;
    scores.pipe_key_value(s("a"), 5)?; // same group: one update, 3 - 1 + 5
    scores.pipe_tombstone(s("b"))?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("total")?
            .read_values_to_list()?,
        vec![1, 3, 7, 5]
    );
    assert_eq!(
        driver
            .key_value_store::<String, i64>("total")?
            .get(&s("all"))?,
        Some(5)
    );
    Ok(())
}

#[test]
fn table_reduce_with_adder_and_subtractor() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .table::<String, i64>("stock")
        .group_by(|item, qty| (item[..1].to_owned(), qty))
        .reduce(|a, b| a + b, |a, b| a - b)
        .to_stream()
        .to("by-letter");
    let driver = drive(builder);
    let stock = driver.input_topic::<String, i64>("stock")?;
    stock.pipe_key_values([(s("apple"), 3), (s("avocado"), 4), (s("apple"), 1)])?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("by-letter")?
            .read_values_to_list()?,
        vec![3, 7, 5]
    );
    Ok(())
}

#[test]
fn streams_join_a_global_table_by_any_key() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let users = builder.global_table::<String, String>("users");
    let orders = builder.stream::<String, i64>("orders");
    orders
        .join_global(
            &users,
            |user, _| user.clone(),
            |amount, name| format!("{name}:{amount}"),
        )
        .to("joined");
    orders
        .left_join_global(
            &users,
            |user, _| user.clone(),
            |amount, name| format!("{}:{amount}", name.unwrap_or_else(|| s("unknown"))),
        )
        .to("left-joined");
    let topology = builder.build()?;
    let description = topology.describe().to_string();
    assert!(description.contains("for global store"), "{description}");
    let driver = TopologyTestDriver::new(topology, StreamsConfig::new("test-app"))?;
    let user_topic = driver.input_topic::<String, String>("users")?;
    let order_topic = driver.input_topic::<String, i64>("orders")?;
    user_topic.pipe_key_value(s("u1"), s("Ann"))?;
    order_topic.pipe_key_value(s("u1"), 10)?;
    order_topic.pipe_key_value(s("u2"), 20)?;
    user_topic.pipe_tombstone(s("u1"))?;
    order_topic.pipe_key_value(s("u1"), 30)?;
    assert_eq!(
        driver
            .output_topic::<String, String>("joined")?
            .read_values_to_list()?,
        vec![s("Ann:10")]
    );
    assert_eq!(
        driver
            .output_topic::<String, String>("left-joined")?
            .read_values_to_list()?,
        vec![s("Ann:10"), s("unknown:20"), s("unknown:30")]
    );
    Ok(())
}
