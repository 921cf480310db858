//! The Processor API: custom processors, stores, punctuation, routing, metadata, describe(),
//! and the errors of assembling a topology.

use std::time::Duration;

use integration_tests::s;
use streams_core::{
    Punctuation, RawRecord, Stores, StreamsConfig, StreamsError, Topology, TopologyError,
    TopologyTestDriver,
};
use streams_dsl::prelude::*;

/// Sums values per key in a store, and on each punctuation forwards every key's sum, tagged
/// with the kind of time that fired it.
struct SumAndReport {
    store: Option<KeyValueStore<String, i64>>,
}

impl Processor<String, i64, String, String> for SumAndReport {
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessorError> {
        self.store = Some(ctx.key_value_store("sums")?);
        ctx.schedule(Duration::from_millis(10), PunctuationType::StreamTime);
        ctx.schedule(Duration::from_secs(60), PunctuationType::WallClockTime);
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<String, i64>,
        _: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessorError> {
        let store = self.store.as_ref().expect("initialized");
        let sum = store.get(&r.key)?.unwrap_or(0) + r.value;
        store.put(&r.key, &sum)?;
        Ok(())
    }

    fn punctuate(
        &mut self,
        p: Punctuation,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessorError> {
        let kind = match p.kind {
            PunctuationType::StreamTime => "stream",
            PunctuationType::WallClockTime => "wall",
        };
        for (key, sum) in self.store.as_ref().expect("initialized").all()? {
            ctx.forward(Record::new(
                key,
                format!("{kind}@{}={sum}", p.timestamp),
                p.timestamp,
            ))?;
        }
        Ok(())
    }
}

fn sum_topology() -> Result<Topology, TopologyError> {
    let mut topology = Topology::new();
    topology
        .add_source("in", &["numbers"], Serdes::string(), Serdes::i64())?
        .add_processor("sum", || SumAndReport { store: None }, &["in"])?
        .add_state_store(
            Stores::key_value_store_builder(
                Stores::in_memory_key_value_store("sums"),
                Serdes::string(),
                Serdes::i64(),
            ),
            &["sum"],
        )?
        .add_sink(
            "out",
            "reports",
            Serdes::string(),
            Serdes::string(),
            &["sum"],
        )?;
    Ok(topology)
}

#[test]
fn stream_time_punctuation_fires_once_per_interval_of_event_time(
) -> Result<(), Box<dyn std::error::Error>> {
    let driver = TopologyTestDriver::new(sum_topology()?, StreamsConfig::new("app"))?;
    let input = driver.input_topic::<String, i64>("numbers")?;
    let out = driver.output_topic::<String, String>("reports")?;
    input.pipe_key_value_at(s("a"), 1, 3)?; // schedules start at 0: fires at once
    assert_eq!(out.read_values_to_list()?, vec![s("stream@3=1")]);
    input.pipe_key_value_at(s("a"), 2, 9)?; // next boundary is 10
    assert!(out.is_empty());
    input.pipe_key_value_at(s("b"), 5, 25)?; // passes 10 and 20: fires once
    assert_eq!(
        out.read_values_to_list()?,
        vec![s("stream@25=3"), s("stream@25=5")]
    );
    input.pipe_key_value_at(s("b"), 1, 12)?; // out of order: stream time stays 25
    assert!(out.is_empty());
    input.pipe_key_value_at(s("b"), 1, 30)?;
    assert_eq!(
        out.read_values_to_list()?,
        vec![s("stream@30=3"), s("stream@30=7")]
    );
    assert_eq!(
        driver
            .key_value_store::<String, i64>("sums")?
            .get(&s("b"))?,
        Some(7)
    );
    Ok(())
}

#[test]
fn wall_clock_punctuation_follows_the_drivers_clock() -> Result<(), Box<dyn std::error::Error>> {
    let driver =
        TopologyTestDriver::with_wall_clock(sum_topology()?, StreamsConfig::new("app"), 1_000)?;
    let input = driver.input_topic::<String, i64>("numbers")?;
    let out = driver.output_topic::<String, String>("reports")?;
    input.pipe_key_value_at(s("a"), 4, 0)?;
    out.read_values_to_list()?; // the stream-time report
    driver.advance_wall_clock_time(Duration::from_secs(59))?;
    assert!(out.is_empty());
    driver.advance_wall_clock_time(Duration::from_secs(1))?;
    assert_eq!(out.read_values_to_list()?, vec![s("wall@61000=4")]);
    driver.advance_wall_clock_time(Duration::from_secs(150))?; // two intervals: fires once
    assert_eq!(out.read_values_to_list()?, vec![s("wall@211000=4")]);
    assert_eq!(driver.metrics().punctuations, 3);
    Ok(())
}

/// Routes odd values to one child and even values to the other, tagging each with where it
/// came from.
struct Router;

impl Processor<String, i64, String, String> for Router {
    fn process(
        &mut self,
        r: Record<String, i64>,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), ProcessorError> {
        let meta = ctx.record_metadata().expect("a record is being processed");
        let tag = format!(
            "{}@{}-{}:{}",
            r.value, meta.topic, meta.partition, meta.offset
        );
        let child = if r.value % 2 == 0 { "evens" } else { "odds" };
        ctx.forward_to(child, r.with_value(tag))
    }
}

#[test]
fn forward_to_routes_to_one_named_child_with_record_metadata(
) -> Result<(), Box<dyn std::error::Error>> {
    let mut topology = Topology::new();
    topology
        .add_source("in", &["numbers"], Serdes::string(), Serdes::i64())?
        .add_processor("router", || Router, &["in"])?
        .add_sink(
            "evens",
            "even",
            Serdes::string(),
            Serdes::string(),
            &["router"],
        )?
        .add_sink(
            "odds",
            "odd",
            Serdes::string(),
            Serdes::string(),
            &["router"],
        )?;
    let driver = TopologyTestDriver::new(topology, StreamsConfig::new("app"))?;
    driver
        .input_topic::<String, i64>("numbers")?
        .pipe_key_values([(s("a"), 1), (s("b"), 2), (s("c"), 3)])?;
    assert_eq!(
        driver
            .output_topic::<String, String>("even")?
            .read_values_to_list()?,
        vec![s("2@numbers-0:1")]
    );
    assert_eq!(
        driver
            .output_topic::<String, String>("odd")?
            .read_values_to_list()?,
        vec![s("1@numbers-0:0"), s("3@numbers-0:2")]
    );
    Ok(())
}

#[test]
fn describe_lists_subtopologies_nodes_stores_and_edges() -> Result<(), TopologyError> {
    let expected = "\
Topologies:
  Sub-topology: 0
    Source: in (topics: [numbers])
      --> sum
    Processor: sum (stores: [sums])
      --> out
      <-- in
    Sink: out (topic: reports)
      <-- sum

";
    assert_eq!(sum_topology()?.describe().to_string(), expected);
    Ok(())
}

#[test]
fn dsl_processors_attach_with_stores() -> Result<(), Box<dyn std::error::Error>> {
    let builder = StreamsBuilder::new();
    builder.add_state_store(Stores::key_value_store_builder(
        Stores::in_memory_key_value_store("sums"),
        Serdes::string(),
        Serdes::i64(),
    ));
    builder
        .stream::<String, i64>("numbers")
        .process(|| SumAndReport { store: None }, &["sums"])
        .to("reports");
    let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("app"))?;
    driver
        .input_topic::<String, i64>("numbers")?
        .pipe_key_value_at(s("k"), 2, 0)?;
    assert_eq!(
        driver
            .output_topic::<String, String>("reports")?
            .read_values_to_list()?,
        vec![s("stream@0=2")]
    );
    Ok(())
}

#[test]
fn a_task_processes_its_partitions_in_timestamp_order() -> Result<(), Box<dyn std::error::Error>> {
    let builder = StreamsBuilder::new();
    let a = builder.stream::<String, i64>("a");
    let b = builder.stream::<String, i64>("b");
    a.merge(&b).to("out");
    let topology = builder.build()?;
    let mut task = topology.create_task(0, 3, &StreamsConfig::new("app"))?;
    let raw = |offset: i64, timestamp: i64| RawRecord {
        offset,
        timestamp,
        key: Some(b"k".to_vec()),
        value: Some(timestamp.to_be_bytes().to_vec()),
        headers: Headers::new(),
    };
    task.add_records("a", [raw(0, 10), raw(1, 30)])?;
    task.add_records("b", [raw(0, 20), raw(1, 40)])?;
    assert!(task.all_partitions_buffered());
    while task.process_next()? {}
    let mut out = Vec::new();
    task.drain_output(&mut out);
    let times: Vec<i64> = out.iter().map(|r| r.timestamp).collect();
    assert_eq!(times, vec![10, 20, 30, 40]);
    assert_eq!(task.stream_time(), 40);
    assert_eq!(task.id().to_string(), "0_3");
    assert!(matches!(
        task.add_records("c", [raw(0, 1)]),
        Err(StreamsError::UnknownTopic { .. })
    ));
    Ok(())
}

struct Noop;

impl Processor<String, i64> for Noop {
    fn process(
        &mut self,
        _: Record<String, i64>,
        _: &mut ProcessorContext<'_, String, i64>,
    ) -> Result<(), ProcessorError> {
        Ok(())
    }
}

struct WantsStore;

impl Processor<String, i64> for WantsStore {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> Result<(), ProcessorError> {
        ctx.key_value_store::<String, i64>("not-connected")
            .map(|_| ())
    }

    fn process(
        &mut self,
        _: Record<String, i64>,
        _: &mut ProcessorContext<'_, String, i64>,
    ) -> Result<(), ProcessorError> {
        Ok(())
    }
}

#[test]
fn assembling_mistakes_are_typed_errors() -> Result<(), TopologyError> {
    let mut t = Topology::new();
    t.add_source("in", &["numbers"], Serdes::string(), Serdes::i64())?;
    assert_eq!(
        t.add_source("in", &["other"], Serdes::string(), Serdes::i64())
            .err(),
        Some(TopologyError::DuplicateName(s("in")))
    );
    assert_eq!(
        t.add_source("in2", &["numbers"], Serdes::string(), Serdes::i64())
            .err(),
        Some(TopologyError::TopicReadTwice(s("numbers")))
    );
    assert!(matches!(
        t.add_processor("p", || Noop, &["missing"]),
        Err(TopologyError::UnknownParent { .. })
    ));
    assert_eq!(
        t.add_processor("p", || Noop, &[]).err(),
        Some(TopologyError::NoParent(s("p")))
    );
    // Noop takes (String, i64); a source of (String, String) cannot feed it.
    t.add_source("strings", &["words"], Serdes::string(), Serdes::string())?;
    assert!(matches!(
        t.add_processor("p", || Noop, &["strings"]),
        Err(TopologyError::TypeMismatch { .. })
    ));
    t.add_sink("out", "o", Serdes::string(), Serdes::i64(), &["in"])?;
    assert!(matches!(
        t.add_processor("p", || Noop, &["out"]),
        Err(TopologyError::SinkAsParent { .. })
    ));
    assert_eq!(
        t.connect_processor_and_state_stores("in", &["s"]).err(),
        Some(TopologyError::UnknownProcessor {
            store: s("s"),
            node: s("in")
        })
    );
    t.add_processor("p", || Noop, &["in"])?;
    assert_eq!(
        t.connect_processor_and_state_stores("p", &["s"]).err(),
        Some(TopologyError::UnknownStore(s("s")))
    );
    Ok(())
}

#[test]
fn a_processor_cannot_use_a_store_it_is_not_connected_to() -> Result<(), TopologyError> {
    let mut t = Topology::new();
    t.add_source("in", &["numbers"], Serdes::string(), Serdes::i64())?
        .add_processor("p", || WantsStore, &["in"])?
        .add_processor("q", || Noop, &["in"])?
        .add_state_store(
            Stores::key_value_store_builder(
                Stores::in_memory_key_value_store("not-connected"),
                Serdes::string(),
                Serdes::i64(),
            ),
            &["q"],
        )?;
    let error = TopologyTestDriver::new(t, StreamsConfig::new("app"))
        .err()
        .expect("init fails");
    assert!(matches!(error, StreamsError::Init { .. }), "{error}");
    assert!(error.to_string().contains("node `p` failed"), "{error}");
    Ok(())
}
