//! Kafka Streams DSL operations beyond the basics, through the public API on the test
//! driver: fixed-key processors, table transformers and materialized derived tables, keyed
//! `to_stream`, key-aware `flat_map_values`, branch functions and consumers, `print`, and the
//! Processor API's commit requests and task information.

use std::io::Write;
use std::sync::{Arc, Mutex};

use streams_dsl::prelude::*;

type Error = Box<dyn std::error::Error>;

fn s(text: &str) -> String {
    text.to_owned()
}

/// Tags each value with the number of records its key has had, in a store.
struct Tagger;

impl FixedKeyProcessor<String, String, String> for Tagger {
    fn process(
        &mut self,
        record: FixedKeyRecord<String, String>,
        ctx: &mut FixedKeyProcessorContext<'_, '_, String, String>,
    ) -> Result<(), ProcessorError> {
        let seen: KeyValueStore<String, i64> = ctx.state_store("seen")?;
        let n = seen.get(record.key())?.unwrap_or(0) + 1;
        seen.put(record.key(), &n)?;
        let value = format!("{}#{n}", record.value);
        ctx.forward(record.with_value(value))
    }
}

fn seen_store() -> impl streams_core::StoreBuilder {
    Stores::key_value_store_builder(
        Stores::in_memory_key_value_store("seen"),
        Serdes::string(),
        Serdes::i64(),
    )
}

#[test]
fn process_values_keeps_the_key_so_nothing_repartitions() -> Result<(), Error> {
    let builder = StreamsBuilder::new();
    builder.add_state_store(seen_store());
    let tagged = builder
        .stream::<String, String>("in")
        .process_values(|| Tagger, &["seen"]);
    tagged.to("tagged");
    tagged
        .group_by_key()
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to("counts");
    let topology = builder.build()?;
    let description = topology.describe().to_string();
    assert!(!description.contains("repartition"), "{description}");

    let driver = TopologyTestDriver::new(topology, StreamsConfig::new("fixed-key"))?;
    let input = driver.input_topic::<String, String>("in")?;
    input.pipe_key_values([(s("a"), s("x")), (s("a"), s("y")), (s("b"), s("z"))])?;
    let tagged = driver
        .output_topic::<String, String>("tagged")?
        .read_key_values_to_list()?;
    assert_eq!(
        tagged,
        [(s("a"), s("x#1")), (s("a"), s("y#2")), (s("b"), s("z#1"))]
    );
    let counts = driver
        .output_topic::<String, i64>("counts")?
        .read_key_values_to_map()?;
    assert_eq!(counts[&s("a")], 2);
    assert_eq!(counts[&s("b")], 1);
    Ok(())
}

/// The same pipeline through `process`, which may change keys, does repartition: the test
/// above would pass for the wrong reason if no aggregation ever repartitioned here.
#[test]
fn process_with_a_supplier_and_stores_marks_the_stream_for_repartitioning() -> Result<(), Error> {
    struct Keep;
    impl Processor<String, String> for Keep {
        fn process(
            &mut self,
            record: Record<String, String>,
            ctx: &mut ProcessorContext<'_, String, String>,
        ) -> Result<(), ProcessorError> {
            let seen: KeyValueStore<String, i64> = ctx.key_value_store("seen")?;
            seen.put(&record.key, &1)?;
            ctx.forward(record)
        }
    }
    let builder = StreamsBuilder::new();
    builder.add_state_store(seen_store());
    builder
        .stream::<String, String>("in")
        .process(|| Keep, &["seen"])
        .group_by_key()
        .count()
        .to_stream()
        .to("counts");
    let description = builder.build()?.describe().to_string();
    assert!(description.contains("-repartition"), "{description}");
    Ok(())
}

/// Appends the first value its key ever had (kept in a store) to each row's value.
struct FirstValue {
    firsts: Option<KeyValueStore<String, String>>,
}

impl ValueTransformerWithKey<String, String, String> for FirstValue {
    fn init(
        &mut self,
        ctx: &ProcessorContext<'_, String, Change<String>>,
    ) -> Result<(), ProcessorError> {
        self.firsts = Some(ctx.key_value_store("firsts")?);
        Ok(())
    }

    fn transform(
        &mut self,
        key: &String,
        value: Option<&String>,
    ) -> Result<Option<String>, ProcessorError> {
        let Some(value) = value else {
            return Ok(None);
        };
        let firsts = self
            .firsts
            .as_ref()
            .ok_or_else(|| ProcessorError::UnknownStore(s("firsts")))?;
        let first = match firsts.get(key)? {
            Some(first) => first,
            None => {
                firsts.put(key, value)?;
                value.clone()
            }
        };
        Ok(Some(format!("{value} (first {first})")))
    }
}

#[test]
fn table_transform_values_uses_its_store_and_is_queryable() -> Result<(), Error> {
    let builder = StreamsBuilder::new();
    builder.add_state_store(Stores::key_value_store_builder(
        Stores::in_memory_key_value_store("firsts"),
        Serdes::string(),
        Serdes::string(),
    ));
    builder
        .table::<String, String>("rows")
        .transform_values_with(
            || FirstValue { firsts: None },
            Materialized::named("annotated"),
            &["firsts"],
        )
        .to_stream()
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("transform"))?;
    let rows = driver.input_topic::<String, String>("rows")?;
    rows.pipe_key_values([(s("k"), s("a")), (s("k"), s("b")), (s("j"), s("c"))])?;
    rows.pipe_tombstone(s("j"))?;
    let out = driver
        .output_topic::<String, Option<String>>("out")?
        .read_values_to_list()?;
    assert_eq!(
        out,
        [
            Some(s("a (first a)")),
            Some(s("b (first a)")),
            Some(s("c (first c)")),
            None
        ]
    );
    let store = driver.key_value_store::<String, String>("annotated")?;
    assert_eq!(store.get(&s("k"))?, Some(s("b (first a)")));
    assert_eq!(store.get(&s("j"))?, None);
    Ok(())
}

#[test]
fn filtered_and_mapped_tables_are_queryable_when_materialized() -> Result<(), Error> {
    let builder = StreamsBuilder::new();
    let prices = builder.table::<String, i64>("prices");
    prices.filter_with(|_, p| *p >= 10, Materialized::named("dear").in_memory());
    prices.filter_not_with(|_, p| *p >= 10, Materialized::named("cheap"));
    prices.map_values_with(|p| p * 2, Materialized::named("doubled"));
    let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("tables"))?;
    let input = driver.input_topic::<String, i64>("prices")?;
    input.pipe_key_values([(s("tea"), 12), (s("bun"), 3), (s("tea"), 4)])?;
    let dear = driver.key_value_store::<String, i64>("dear")?;
    let cheap = driver.key_value_store::<String, i64>("cheap")?;
    let doubled = driver.key_value_store::<String, i64>("doubled")?;
    // `tea` fell below 10: the filtered table deleted it.
    assert_eq!(dear.get(&s("tea"))?, None);
    assert_eq!(cheap.get(&s("tea"))?, Some(4));
    assert_eq!(cheap.get(&s("bun"))?, Some(3));
    assert_eq!(doubled.get(&s("tea"))?, Some(8));
    assert_eq!(doubled.get(&s("bun"))?, Some(6));
    input.pipe_key_value(s("bun"), 30)?;
    assert_eq!(dear.get(&s("bun"))?, Some(30));
    assert_eq!(cheap.get(&s("bun"))?, None);
    Ok(())
}

#[test]
fn to_stream_with_a_key_mapper_rekeys_and_repartitions() -> Result<(), Error> {
    let builder = StreamsBuilder::new();
    builder
        .table::<String, i64>("scores")
        .to_stream_with_key(|k, v| format!("{k}:{}", v.unwrap_or(-1)))
        .to("rekeyed");
    builder
        .table::<String, i64>("other")
        .to_stream_with_key(|k, _| k.len() as i64)
        .group_by_key()
        .count()
        .to_stream()
        .to("lengths");
    let topology = builder.build()?;
    assert!(topology.describe().to_string().contains("-repartition"));
    let driver = TopologyTestDriver::new(topology, StreamsConfig::new("rekey"))?;
    let scores = driver.input_topic::<String, i64>("scores")?;
    scores.pipe_key_value(s("ann"), 5)?;
    scores.pipe_tombstone(s("ann"))?;
    let out = driver
        .output_topic::<String, Option<i64>>("rekeyed")?
        .read_key_values_to_list()?;
    assert_eq!(out, [(s("ann:5"), Some(5)), (s("ann:-1"), None)]);
    Ok(())
}

#[test]
fn flat_map_values_with_key_sees_the_key() -> Result<(), Error> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .flat_map_values_with_key(|k, n| (0..n).map(|i| format!("{k}{i}")).collect::<Vec<_>>())
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("fmv"))?;
    driver
        .input_topic::<String, i64>("in")?
        .pipe_key_values([(s("a"), 2), (s("b"), 1)])?;
    let out = driver
        .output_topic::<String, String>("out")?
        .read_key_values_to_list()?;
    assert_eq!(
        out,
        [(s("a"), s("a0")), (s("a"), s("a1")), (s("b"), s("b0"))]
    );
    Ok(())
}

#[test]
fn branches_run_their_functions_and_consumers() -> Result<(), Error> {
    let builder = StreamsBuilder::new();
    let branches = builder
        .stream::<String, i64>("amounts")
        .split_with(Named::new("amount-"))
        .branch(
            |_, v| *v < 0,
            Branched::with_consumer(|negative: KStream<String, i64>| {
                negative.map_values(|v| -v).to("refunds")
            })
            .with_name("negative"),
        )
        .branch(
            |_, v| *v > 100,
            Branched::with_function(|large: KStream<String, i64>| large.map_values(|v| v / 100))
                .with_name("large"),
        )
        .default_branch(Branched::named("other"));
    // A branch with a consumer is not returned; one with a function is, after it.
    let mut names: Vec<&String> = branches.keys().collect();
    names.sort();
    assert_eq!(names, ["amount-large", "amount-other"]);
    branches["amount-large"].to("large");
    branches["amount-other"].to("other");
    let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("branched"))?;
    driver
        .input_topic::<String, i64>("amounts")?
        .pipe_key_values([(s("a"), -5), (s("b"), 500), (s("c"), 7)])?;
    let values = |topic: &str| -> Result<Vec<i64>, Error> {
        Ok(driver
            .output_topic::<String, i64>(topic)?
            .read_values_to_list()?)
    };
    assert_eq!(values("refunds")?, [5]);
    assert_eq!(values("large")?, [5]);
    assert_eq!(values("other")?, [7]);
    Ok(())
}

/// A writer into a buffer the test keeps.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn print_writes_a_labelled_line_per_record() -> Result<(), Error> {
    let labelled = Shared::default();
    let mapped = Shared::default();
    let builder = StreamsBuilder::new();
    let stream = builder.stream::<String, i64>("in");
    stream.print(Printed::to_writer(labelled.clone()).with_label("amounts"));
    stream
        .print(Printed::to_writer(mapped.clone()).with_key_value_mapper(|k, v| format!("{k}={v}")));
    let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("print"))?;
    driver
        .input_topic::<String, i64>("in")?
        .pipe_key_values([(s("a"), 1), (s("b"), 2)])?;
    let text = |w: &Shared| String::from_utf8(w.0.lock().map(|b| b.clone()).unwrap_or_default());
    assert_eq!(
        text(&labelled)?,
        "[amounts]: \"a\", 1\n[amounts]: \"b\", 2\n"
    );
    // Without a label, the line names the printing node.
    assert_eq!(
        text(&mapped)?,
        "[KSTREAM-PRINTER-0000000002]: a=1\n[KSTREAM-PRINTER-0000000002]: b=2\n"
    );
    Ok(())
}

/// Notes what it learns of its task, and asks for a commit on the value "commit".
struct Committer {
    seen: Arc<Mutex<Vec<String>>>,
}

impl FixedKeyProcessor<String, String, String> for Committer {
    fn process(
        &mut self,
        record: FixedKeyRecord<String, String>,
        ctx: &mut FixedKeyProcessorContext<'_, '_, String, String>,
    ) -> Result<(), ProcessorError> {
        if record.value == "commit" {
            ctx.commit();
            if let Ok(mut seen) = self.seen.lock() {
                seen.push(format!(
                    "{} {} {}",
                    ctx.application_id(),
                    ctx.task_id(),
                    ctx.state_dir().display()
                ));
            }
        }
        ctx.forward(record)
    }
}

#[test]
fn a_processor_can_request_a_commit_and_knows_its_task() -> Result<(), Error> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let noted = seen.clone();
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .process_values(
            move || Committer {
                seen: noted.clone(),
            },
            &[],
        )
        .group_by_key()
        .count()
        .to_stream()
        .to("counts");
    let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("committer"))?;
    // As between two commits of a running application: the count's cache holds updates.
    driver.flush_caches_after_each_record(false);
    let input = driver.input_topic::<String, String>("in")?;
    let counts = driver.output_topic::<String, i64>("counts")?;
    input.pipe_key_values([(s("a"), s("x")), (s("a"), s("y"))])?;
    assert!(counts.is_empty(), "nothing committed yet");
    input.pipe_key_value(s("a"), s("commit"))?;
    assert_eq!(counts.read_key_values_to_list()?, [(s("a"), 3)]);
    let expected_dir = driver.state_dir().join("committer").join("0_0");
    assert_eq!(
        *seen.lock().map_err(|_| "poisoned")?,
        [format!("committer 0_0 {}", expected_dir.display())]
    );
    Ok(())
}
