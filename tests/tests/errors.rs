//! Every documented error: bad input goes to the handler or fails with its coordinates,
//! processing failures and panics name the record and the node, and misuse of the driver is
//! a typed error.

use std::collections::HashMap;
use std::time::Duration;

use integration_tests::{drive, s};
use streams_core::{
    Deserializer, Encoded, RecordPart, SerdeError, Serializer, StreamsConfig, TopologyTestDriver,
};
use streams_dsl::prelude::*;

fn passthrough(config: StreamsConfig) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder.stream::<String, i64>("in").to("out");
    TopologyTestDriver::new(builder.build().expect("builds"), config).expect("starts")
}

#[test]
fn an_undeserializable_value_fails_with_its_coordinates_by_default() -> Result<(), StreamsError> {
    let driver = passthrough(StreamsConfig::new("app"));
    let input = driver.input_topic::<String, i64>("in")?;
    input.pipe_key_value(s("a"), 1)?;
    let error = input
        .pipe_raw(Some(b"b".to_vec()), Some(b"abc".to_vec()), 5)
        .unwrap_err();
    match &error {
        StreamsError::Deserialization {
            topic,
            partition,
            offset,
            part,
            source,
        } => {
            assert_eq!(
                (topic.as_str(), *partition, *offset, *part),
                ("in", 0, 1, RecordPart::Value)
            );
            assert_eq!(
                *source,
                SerdeError::InvalidLength {
                    expected: 8,
                    actual: 3
                }
            );
        }
        other => panic!("unexpected error {other}"),
    }
    assert_eq!(
        error.to_string(),
        "cannot deserialize the value of the record at in-0@1: expected 8 bytes, got 3"
    );
    Ok(())
}

#[test]
fn a_null_key_or_value_for_a_type_without_null_is_dropped_and_counted() -> Result<(), StreamsError>
{
    // As Kafka Streams: records without a key, and tombstones, do not stop the application.
    let driver = passthrough(StreamsConfig::new("app"));
    let input = driver.input_topic::<String, i64>("in")?;
    input.pipe_value(1)?;
    input.pipe_raw(Some(b"a".to_vec()), None, 2)?;
    input.pipe_key_value(s("b"), 3)?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("out")?
            .read_key_values_to_list()?,
        vec![(s("b"), 3)]
    );
    let metrics = driver.metrics();
    assert_eq!((metrics.dropped, metrics.skipped), (2, 0));
    Ok(())
}

#[test]
fn an_optional_key_type_receives_a_null_key_as_none() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Option<String>, i64>("in")
        .map_values(|v| v * 10)
        .to("out");
    let driver = drive(builder);
    driver
        .input_topic::<Option<String>, i64>("in")?
        .pipe_value(4)?;
    assert_eq!(
        driver
            .output_topic::<Option<String>, i64>("out")?
            .read_key_values_to_list()?,
        vec![(None, 40)]
    );
    assert_eq!(driver.metrics().dropped, 0);
    Ok(())
}

#[test]
fn log_and_continue_skips_and_counts_bad_records() -> Result<(), StreamsError> {
    let driver = passthrough(StreamsConfig::new("app").deserialization_handler(LogAndContinue));
    let input = driver.input_topic::<String, i64>("in")?;
    input.pipe_raw(Some(b"a".to_vec()), Some(b"abc".to_vec()), 1)?;
    input.pipe_raw(Some(b"a".to_vec()), Some(7i64.to_be_bytes().to_vec()), -5)?;
    input.pipe_key_value(s("b"), 2)?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("out")?
            .read_key_values_to_list()?,
        vec![(s("b"), 2)]
    );
    let metrics = driver.metrics();
    assert_eq!((metrics.skipped, metrics.processed), (2, 2));
    Ok(())
}

/// A record that the handler skips does not advance stream time: a garbage record stamped
/// far in the future leaves the open windows open, and later good records are on time.
#[test]
fn a_skipped_far_future_record_leaves_later_windows_intact() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
        .count()
        .to_stream()
        .map(|k, v| (format!("{}@{}", k.key, k.window.start), v))
        .to("out");
    let driver = TopologyTestDriver::new(
        builder.build()?,
        StreamsConfig::new("app").deserialization_handler(LogAndContinue),
    )?;
    let input = driver.input_topic::<String, i64>("in")?;
    input.pipe_key_value_at(s("a"), 1, 1_000)?;
    input.pipe_raw(
        Some(b"a".to_vec()),
        Some(b"garbage".to_vec()),
        1_000_000_000,
    )?;
    input.pipe_key_value_at(s("a"), 1, 2_000)?;
    input.pipe_key_value_at(s("a"), 1, 12_000)?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("out")?
            .read_key_values_to_list()?,
        vec![(s("a@0"), 1), (s("a@0"), 2), (s("a@10000"), 1)]
    );
    let metrics = driver.metrics();
    assert_eq!((metrics.skipped, metrics.dropped), (1, 0));
    Ok(())
}

#[test]
fn a_dead_letter_queue_keeps_the_original_bytes_and_the_reason() -> Result<(), StreamsError> {
    use streams_core::config::dead_letter_headers;
    let driver =
        passthrough(StreamsConfig::new("app").deserialization_handler(DeadLetterQueue::new("dlq")));
    let input = driver.input_topic::<String, i64>("in")?;
    input.pipe_key_value(s("a"), 1)?;
    input.pipe_raw(Some(b"b".to_vec()), Some(b"abc".to_vec()), 5)?;
    input.pipe_key_value(s("c"), 3)?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("out")?
            .read_key_values_to_list()?,
        vec![(s("a"), 1), (s("c"), 3)]
    );
    let dead = driver
        .output_topic_with::<Vec<u8>, Vec<u8>>("dlq", Serdes::bytes(), Serdes::bytes())?
        .read_records_to_list()?;
    assert_eq!(dead.len(), 1);
    let record = &dead[0];
    assert_eq!(
        (record.key.as_deref(), record.value.as_deref()),
        (Some(&b"b"[..]), Some(&b"abc"[..]))
    );
    assert_eq!(record.timestamp, Some(5));
    let header =
        |k| String::from_utf8_lossy(record.headers.last(k).unwrap_or_default()).into_owned();
    assert_eq!(
        header(dead_letter_headers::REASON),
        "cannot deserialize the value of the record at in-0@1: expected 8 bytes, got 3"
    );
    assert_eq!(header(dead_letter_headers::TOPIC), "in");
    assert_eq!(header(dead_letter_headers::PARTITION), "0");
    assert_eq!(header(dead_letter_headers::OFFSET), "1");
    assert_eq!(driver.metrics().dead_lettered, 1);
    Ok(())
}

#[test]
fn a_negative_timestamp_is_invalid_input() -> Result<(), StreamsError> {
    let driver = passthrough(StreamsConfig::new("app"));
    let error = driver
        .input_topic::<String, i64>("in")?
        .pipe_key_value_at(s("a"), 1, -1)
        .unwrap_err();
    assert!(
        matches!(
            error,
            StreamsError::InvalidTimestamp {
                timestamp: -1,
                offset: 0,
                ..
            }
        ),
        "{error}"
    );
    Ok(())
}

#[test]
fn a_panic_in_user_code_fails_with_the_record_and_node() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .map_values(|v| if v == 13 { panic!("unlucky number") } else { v })
        .named("risky")
        .to("out");
    let driver = drive(builder);
    let input = driver.input_topic::<String, i64>("in")?;
    input.pipe_key_value(s("a"), 1)?;
    let error = input.pipe_key_value(s("b"), 13).unwrap_err();
    match &error {
        StreamsError::Processing {
            topic,
            offset,
            source,
            ..
        } => {
            assert_eq!((topic.as_str(), *offset), ("in", 1));
            assert!(matches!(source.root(), ProcessorError::Panic(m) if m == "unlucky number"));
        }
        other => panic!("unexpected error {other}"),
    }
    // The driver keeps working for later records.
    input.pipe_key_value(s("c"), 3)?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("out")?
            .read_values_to_list()?,
        vec![1, 3]
    );
    Ok(())
}

struct FailsOnNegative;

impl Processor<String, i64> for FailsOnNegative {
    fn process(
        &mut self,
        r: Record<String, i64>,
        ctx: &mut ProcessorContext<'_, String, i64>,
    ) -> Result<(), ProcessorError> {
        if r.value < 0 {
            return Err(ProcessorError::message(format!(
                "negative amount {}",
                r.value
            )));
        }
        ctx.forward(r)
    }
}

#[test]
fn a_processor_error_names_the_node_and_the_record() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .process(|| FailsOnNegative, &[])
        .named("validate")
        .to("out");
    let driver = drive(builder);
    let error = driver
        .input_topic::<String, i64>("in")?
        .pipe_key_value(s("a"), -4)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "processing the record at in-0@0 failed: node `validate` failed: negative amount -4"
    );
    Ok(())
}

#[test]
fn a_sink_that_cannot_serialize_fails_with_the_topic() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .map_values(|v| HashMap::from([(vec![v as u8], v)]))
        .to_with("out", Produced::with(Serdes::string(), Serdes::json()));
    let driver = drive(builder);
    let error = driver
        .input_topic::<String, i64>("in")?
        .pipe_key_value(s("a"), 1)
        .unwrap_err();
    let StreamsError::Processing { source, .. } = &error else {
        panic!("unexpected error {error}")
    };
    assert!(
        matches!(source.root(), ProcessorError::Serialization { topic, part: RecordPart::Value, .. } if topic == "out"),
        "{error}"
    );
    Ok(())
}

struct FailingPunctuator;

impl Processor<String, i64> for FailingPunctuator {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> Result<(), ProcessorError> {
        ctx.schedule(Duration::from_secs(1), PunctuationType::WallClockTime);
        Ok(())
    }

    fn process(
        &mut self,
        _: Record<String, i64>,
        _: &mut ProcessorContext<'_, String, i64>,
    ) -> Result<(), ProcessorError> {
        Ok(())
    }

    fn punctuate(
        &mut self,
        _: streams_core::Punctuation,
        _: &mut ProcessorContext<'_, String, i64>,
    ) -> Result<(), ProcessorError> {
        Err(ProcessorError::message("flush failed"))
    }
}

#[test]
fn a_failing_punctuation_is_an_error() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .process(|| FailingPunctuator, &[])
        .to("out");
    let driver = drive(builder);
    let error = driver
        .advance_wall_clock_time(Duration::from_secs(1))
        .unwrap_err();
    assert!(
        matches!(
            error,
            StreamsError::Punctuation {
                timestamp: 1000,
                ..
            }
        ),
        "{error}"
    );
    Ok(())
}

#[test]
fn misuse_of_the_driver_is_a_typed_error() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .group_by_key()
        .count_with(Materialized::named("counts"))
        .to_stream()
        .to("out");
    let driver = drive(builder);
    assert!(matches!(
        driver.input_topic::<String, i64>("nope"),
        Err(StreamsError::UnknownTopic {
            direction: "input",
            ..
        })
    ));
    assert!(matches!(
        driver.output_topic::<String, i64>("nope"),
        Err(StreamsError::UnknownTopic {
            direction: "output",
            ..
        })
    ));
    assert!(matches!(
        driver.key_value_store::<String, i64>("nope"),
        Err(StreamsError::UnknownStore(_))
    ));
    assert!(matches!(
        driver.key_value_store::<String, String>("counts"),
        Err(StreamsError::StoreType { .. })
    ));
    let out = driver.output_topic::<String, i64>("out")?;
    assert!(matches!(out.read_value(), Err(StreamsError::NoRecord(t)) if t == "out"));
    Ok(())
}

#[test]
fn a_type_without_a_serde_fails_the_build() {
    #[derive(Clone)]
    struct Unregistered;
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .map_values(|_| Unregistered)
        .to("out");
    let error = builder.build().unwrap_err();
    assert!(
        matches!(error, TopologyError::MissingSerde { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("Unregistered"), "{error}");
}

/// The hint of a missing serde names the configuration that gives the operation its serdes.
#[test]
fn a_source_without_a_serde_names_consumed_in_the_hint() {
    #[derive(Clone)]
    struct Order;
    let builder = StreamsBuilder::new();
    builder.stream::<String, Order>("orders").to("out");
    let error = builder.build().unwrap_err().to_string();
    assert!(
        error.contains("reading a source topic") && error.contains("`Consumed::with`"),
        "{error}"
    );
}

/// Keyless values with a time: the records most plain producers write.
#[test]
fn keyless_values_can_be_piped_with_a_time() -> Result<(), StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<Option<String>, i64>("in")
        .map(|_, v| (s("all"), v))
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("app"))?;
    let input = driver.input_topic::<Option<String>, i64>("in")?;
    input.pipe_value_at(7, 1_000)?;
    input.pipe_value_at(8, 2_000)?;
    let out: Vec<(String, i64, Option<i64>)> = driver
        .output_topic::<String, i64>("out")?
        .read_records_to_list()?
        .into_iter()
        .map(|r| {
            (
                r.key.unwrap_or_default(),
                r.value.unwrap_or_default(),
                r.timestamp,
            )
        })
        .collect();
    assert_eq!(
        out,
        vec![(s("all"), 7, Some(1_000)), (s("all"), 8, Some(2_000))]
    );
    Ok(())
}

/// The driver's typed topics use the serdes registered on the builder: here `i64` as a
/// decimal string instead of its default 8-byte encoding.
#[test]
fn the_driver_uses_the_serdes_registered_on_the_builder() -> Result<(), StreamsError> {
    struct Decimal;
    impl Serializer<i64> for Decimal {
        fn serialize(
            &self,
            _: &str,
            _: &mut Headers,
            value: &i64,
            out: &mut Vec<u8>,
        ) -> Result<Encoded, SerdeError> {
            out.extend_from_slice(value.to_string().as_bytes());
            Ok(Encoded::Bytes)
        }
    }
    impl Deserializer<i64> for Decimal {
        fn deserialize(
            &self,
            _: &str,
            _: &Headers,
            data: Option<&[u8]>,
        ) -> Result<i64, SerdeError> {
            let text = std::str::from_utf8(data.ok_or(SerdeError::UnexpectedNull)?)
                .map_err(|e| SerdeError::Custom(e.to_string()))?;
            text.parse()
                .map_err(|e: std::num::ParseIntError| SerdeError::Custom(e.to_string()))
        }
    }
    let builder = StreamsBuilder::new().with_serde::<i64>(std::sync::Arc::new(Decimal));
    builder
        .stream::<String, i64>("in")
        .map_values(|n| n * 2)
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("app"))?;
    driver
        .input_topic::<String, i64>("in")?
        .pipe_key_value(s("a"), 21)?;
    let typed = driver.output_topic::<String, i64>("out")?.read_value()?;
    assert_eq!(typed, 42);
    driver
        .input_topic::<String, i64>("in")?
        .pipe_key_value(s("a"), 50)?;
    let raw = driver.output_topic::<String, String>("out")?.read_value()?;
    assert_eq!(raw, "100", "the topology wrote the registered encoding");
    Ok(())
}
