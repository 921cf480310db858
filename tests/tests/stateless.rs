//! Stateless DSL operators, each through the test driver.

use std::sync::{Arc, Mutex};

use integration_tests::{drive, s};
use streams_dsl::prelude::*;

type Out<K, V> = Result<Vec<(K, V)>, StreamsError>;

fn run_i64(build: impl FnOnce(KStream<String, i64>), input: &[(&str, i64)]) -> Out<String, i64> {
    let builder = StreamsBuilder::new();
    build(builder.stream::<String, i64>("in"));
    let driver = drive(builder);
    let topic = driver.input_topic::<String, i64>("in")?;
    for (k, v) in input {
        topic.pipe_key_value(s(k), *v)?;
    }
    driver
        .output_topic::<String, i64>("out")?
        .read_key_values_to_list()
}

#[test]
fn filter_and_filter_not_keep_complementary_records() -> Result<(), StreamsError> {
    let input = [("a", 1), ("b", 2), ("c", 3), ("d", 4)];
    let kept = run_i64(|st| st.filter(|_, v| v % 2 == 0).to("out"), &input)?;
    assert_eq!(kept, vec![(s("b"), 2), (s("d"), 4)]);
    let dropped = run_i64(|st| st.filter_not(|_, v| v % 2 == 0).to("out"), &input)?;
    assert_eq!(dropped, vec![(s("a"), 1), (s("c"), 3)]);
    Ok(())
}

#[test]
fn map_and_map_values_transform_records() -> Result<(), StreamsError> {
    let mapped = run_i64(
        |st| st.map(|k, v| (k.to_uppercase(), v * 10)).to("out"),
        &[("a", 1), ("b", 2)],
    )?;
    assert_eq!(mapped, vec![(s("A"), 10), (s("B"), 20)]);
    let values = run_i64(|st| st.map_values(|v| v + 1).to("out"), &[("a", 1)])?;
    assert_eq!(values, vec![(s("a"), 2)]);
    let with_key = run_i64(
        |st| st.map_values_with_key(|k, v| v + k.len() as i64).to("out"),
        &[("abc", 1)],
    )?;
    assert_eq!(with_key, vec![(s("abc"), 4)]);
    Ok(())
}

#[test]
fn flat_map_and_flat_map_values_emit_zero_or_more_records() -> Result<(), StreamsError> {
    let flat = run_i64(
        |st| {
            st.flat_map(|k, v| (0..v).map(move |i| (format!("{k}{i}"), i)))
                .to("out")
        },
        &[("a", 2), ("b", 0), ("c", 1)],
    )?;
    assert_eq!(flat, vec![(s("a0"), 0), (s("a1"), 1), (s("c0"), 0)]);
    let values = run_i64(
        |st| st.flat_map_values(|v| vec![v; v as usize]).to("out"),
        &[("a", 2), ("b", 0)],
    )?;
    assert_eq!(values, vec![(s("a"), 2), (s("a"), 2)]);
    Ok(())
}

#[test]
fn select_key_replaces_the_key() -> Result<(), StreamsError> {
    let out = run_i64(
        |st| st.select_key(|k, v| format!("{k}-{v}")).to("out"),
        &[("a", 1)],
    )?;
    assert_eq!(out, vec![(s("a-1"), 1)]);
    Ok(())
}

#[test]
fn peek_and_foreach_see_every_record() -> Result<(), StreamsError> {
    let peeked = Arc::new(Mutex::new(Vec::new()));
    let each = Arc::new(Mutex::new(Vec::new()));
    let (p, e) = (Arc::clone(&peeked), Arc::clone(&each));
    let out = run_i64(
        move |st| {
            let st = st.peek(move |k, v| p.lock().unwrap().push((k.clone(), *v)));
            st.foreach(move |k, _| e.lock().unwrap().push(k.clone()));
            st.to("out");
        },
        &[("a", 1), ("b", 2)],
    )?;
    assert_eq!(out.len(), 2);
    assert_eq!(*peeked.lock().unwrap(), vec![(s("a"), 1), (s("b"), 2)]);
    assert_eq!(*each.lock().unwrap(), vec![s("a"), s("b")]);
    Ok(())
}

#[test]
fn one_stream_fans_out_to_two_branches_of_the_graph() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let source = builder.stream::<String, i64>("in");
    source.map_values(|v| v * 2).to("doubled");
    source.filter(|_, v| *v > 1).to("big");
    let driver = drive(builder);
    driver
        .input_topic::<String, i64>("in")?
        .pipe_key_values([(s("a"), 1), (s("b"), 2)])?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("doubled")?
            .read_values_to_list()?,
        vec![2, 4]
    );
    assert_eq!(
        driver
            .output_topic::<String, i64>("big")?
            .read_values_to_list()?,
        vec![2]
    );
    Ok(())
}

#[test]
fn split_routes_each_record_to_its_first_matching_branch() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let branches = builder
        .stream::<String, i64>("in")
        .split_with(Named::new("n-"))
        .branch(|_, v| *v < 0, Branched::named("negative"))
        .branch(|_, v| *v < 10, Branched::named("small"))
        .default_branch(Branched::named("large"));
    branches["n-negative"].to("negative");
    branches["n-small"].to("small");
    branches["n-large"].to("large");
    let driver = drive(builder);
    driver.input_topic::<String, i64>("in")?.pipe_key_values([
        (s("a"), -1),
        (s("b"), 5),
        (s("c"), 50),
        (s("d"), -7),
    ])?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("negative")?
            .read_values_to_list()?,
        vec![-1, -7]
    );
    assert_eq!(
        driver
            .output_topic::<String, i64>("small")?
            .read_values_to_list()?,
        vec![5]
    );
    assert_eq!(
        driver
            .output_topic::<String, i64>("large")?
            .read_values_to_list()?,
        vec![50]
    );
    Ok(())
}

#[test]
fn split_without_default_drops_unmatched_and_numbers_unnamed_branches() -> Result<(), StreamsError>
{
    let builder = StreamsBuilder::new();
    let branches = builder
        .stream::<String, i64>("in")
        .split_with(Named::new("s-"))
        .branch(|_, v| *v == 1, Branched::unnamed())
        .no_default_branch();
    assert_eq!(branches.keys().collect::<Vec<_>>(), vec!["s-1"]);
    branches["s-1"].to("ones");
    let driver = drive(builder);
    driver
        .input_topic::<String, i64>("in")?
        .pipe_key_values([(s("a"), 1), (s("b"), 2)])?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("ones")?
            .read_values_to_list()?,
        vec![1]
    );
    Ok(())
}

#[test]
fn merge_interleaves_two_streams_in_processing_order() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    let left = builder.stream::<String, i64>("left");
    let right = builder
        .stream::<String, i64>("right")
        .map_values(|v| v * 100);
    left.merge(&right).to("out");
    let driver = drive(builder);
    let (l, r) = (
        driver.input_topic::<String, i64>("left")?,
        driver.input_topic::<String, i64>("right")?,
    );
    l.pipe_key_value(s("a"), 1)?;
    r.pipe_key_value(s("b"), 2)?;
    l.pipe_key_value(s("c"), 3)?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("out")?
            .read_key_values_to_list()?,
        vec![(s("a"), 1), (s("b"), 200), (s("c"), 3)]
    );
    Ok(())
}

#[test]
fn repartition_goes_through_an_internal_topic_into_a_new_subtopology() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .select_key(|_, v| format!("k{}", v % 2))
        .repartition_with(Repartitioned::new().with_name("by-parity"))
        .to("out");
    let topology = builder.build()?;
    assert_eq!(
        topology.internal_topics("test-app"),
        vec![s("test-app-by-parity-repartition")]
    );
    let description = topology.describe().to_string();
    assert!(description.contains("Sub-topology: 1"), "{description}");
    assert!(
        description.contains("Sink: by-parity-repartition-sink (topic: by-parity-repartition)"),
        "{description}"
    );
    let driver = TopologyTestDriver::new(topology, StreamsConfig::new("test-app"))?;
    driver
        .input_topic::<String, i64>("in")?
        .pipe_key_values([(s("a"), 1), (s("b"), 2)])?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("out")?
            .read_key_values_to_list()?,
        vec![(s("k1"), 1), (s("k0"), 2)]
    );
    Ok(())
}

#[test]
fn headers_and_timestamps_flow_through_operators() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .map_values(|v| v + 1)
        .flat_map_values(|v| [v, v])
        .to("out");
    let driver = drive(builder);
    let headers = Headers::new().with("trace-id", "t-1");
    driver.input_topic::<String, i64>("in")?.pipe_record(
        TestRecord::new(s("a"), 1)
            .at(1234)
            .with_headers(headers.clone()),
    )?;
    let out = driver
        .output_topic::<String, i64>("out")?
        .read_records_to_list()?;
    assert_eq!(out.len(), 2);
    for record in out {
        assert_eq!(record.headers, headers);
        assert_eq!(record.timestamp, Some(1234));
        assert_eq!(record.value, Some(2));
    }
    Ok(())
}

#[test]
fn to_per_record_chooses_each_topic() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .to_per_record(|r| format!("out-{}", r.key), Produced::new());
    let driver = drive(builder);
    driver
        .input_topic::<String, i64>("in")?
        .pipe_key_values([(s("x"), 1), (s("y"), 2)])?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("out-x")?
            .read_values_to_list()?,
        vec![1]
    );
    assert_eq!(
        driver
            .output_topic::<String, i64>("out-y")?
            .read_values_to_list()?,
        vec![2]
    );
    Ok(())
}

#[test]
fn named_operators_show_their_names_in_the_description() -> Result<(), TopologyError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .filter(|_, v| *v > 0)
        .named("positive-only")
        .to_with("out", Produced::new().with_name("to-out"));
    let description = builder.build()?.describe().to_string();
    assert!(
        description.contains("Processor: positive-only (stores: [])"),
        "{description}"
    );
    assert!(
        description.contains("Sink: to-out (topic: out)"),
        "{description}"
    );
    assert!(description.contains("<-- positive-only"), "{description}");
    Ok(())
}

#[test]
fn json_values_and_unit_keys() -> Result<(), StreamsError> {
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Order {
        item: String,
        qty: u32,
    }
    let builder = StreamsBuilder::new().with_serde(Serdes::json::<Order>());
    builder
        .stream::<(), Order>("orders")
        .filter(|_, o| o.qty > 1)
        .map_values(|o| o.item)
        .to("items");
    let driver = drive(builder);
    let orders = driver.input_topic_with::<(), Order>("orders", Serdes::unit(), Serdes::json())?;
    orders.pipe_value(Order {
        item: s("tea"),
        qty: 2,
    })?;
    orders.pipe_value(Order {
        item: s("cup"),
        qty: 1,
    })?;
    assert_eq!(
        driver
            .output_topic::<(), String>("items")?
            .read_values_to_list()?,
        vec![s("tea")]
    );
    Ok(())
}
