//! The processing and production exception handlers on the test driver: continue (the
//! record is skipped and counted, every other record comes out), fail (the error, with the
//! record's coordinates), and the dead-letter queue (key and value unchanged, the error, the
//! node and the origin in headers), for processor errors, panics in user code and sinks
//! that cannot serialize.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use integration_tests::s;
use streams_core::config::dead_letter_headers;
use streams_core::{
    ErrorContext, FailedRecord, HandlerResponse, ProcessingExceptionHandler, ProductionError,
    ProductionExceptionHandler,
};
use streams_dsl::prelude::*;

/// Doubles amounts; fails on negative ones and panics on 13.
fn risky(config: StreamsConfig) -> Result<TopologyTestDriver, StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .process(|| RejectsNegative, &[])
        .named("validate")
        .map_values(|v| {
            if v == 13 {
                panic!("unlucky number");
            }
            v * 2
        })
        .named("double")
        .to("out");
    TopologyTestDriver::new(builder.build()?, config)
}

struct RejectsNegative;

impl Processor<String, i64> for RejectsNegative {
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

/// Pipes a, -1 (fails), b, 13 (panics), c.
fn pipe_mixed(driver: &TopologyTestDriver) -> Result<Vec<Result<(), StreamsError>>, StreamsError> {
    let input = driver.input_topic::<String, i64>("in")?;
    Ok(vec![
        input.pipe_key_value(s("a"), 1),
        input.pipe_key_value(s("neg"), -1),
        input.pipe_key_value(s("b"), 2),
        input.pipe_key_value(s("bad"), 13),
        input.pipe_key_value(s("c"), 3),
    ])
}

#[test]
fn continue_skips_failing_records_and_panics_and_counts_them() -> Result<(), StreamsError> {
    let driver = risky(StreamsConfig::new("app").processing_exception_handler(LogAndContinue))?;
    for result in pipe_mixed(&driver)? {
        result?;
    }
    assert_eq!(
        driver
            .output_topic::<String, i64>("out")?
            .read_key_values_to_list()?,
        vec![(s("a"), 2), (s("b"), 4), (s("c"), 6)]
    );
    let metrics = driver.metrics();
    assert_eq!(
        (metrics.processed, metrics.skipped, metrics.dead_lettered),
        (5, 2, 0)
    );
    Ok(())
}

/// What a handler was shown.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    node: String,
    topic: String,
    partition: i32,
    offset: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    error: String,
}

#[derive(Clone, Default)]
struct Recording {
    seen: Arc<Mutex<Vec<Seen>>>,
    response: Option<HandlerResponse>,
}

impl Recording {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn note(&self, c: &ErrorContext<'_>, r: &FailedRecord<'_>, error: String) -> HandlerResponse {
        self.seen.lock().unwrap().push(Seen {
            node: c.node.to_owned(),
            topic: c.topic.to_owned(),
            partition: c.partition,
            offset: c.offset,
            key: r.key.map(<[u8]>::to_vec),
            value: r.value.map(<[u8]>::to_vec),
            error,
        });
        self.response.unwrap_or(HandlerResponse::Fail)
    }
}

impl ProcessingExceptionHandler for Recording {
    fn handle(
        &self,
        c: &ErrorContext<'_>,
        r: &FailedRecord<'_>,
        e: &ProcessorError,
    ) -> HandlerResponse {
        self.note(c, r, e.root().to_string())
    }
}

impl ProductionExceptionHandler for Recording {
    fn handle(
        &self,
        c: &ErrorContext<'_>,
        r: &FailedRecord<'_>,
        e: &ProductionError,
    ) -> HandlerResponse {
        self.note(c, r, e.to_string())
    }
}

#[test]
fn the_handler_sees_the_record_the_node_and_the_error_and_fail_stops() -> Result<(), StreamsError> {
    let handler = Recording::default();
    let driver = risky(StreamsConfig::new("app").processing_exception_handler(handler.clone()))?;
    let results = pipe_mixed(&driver)?;
    let failed: Vec<usize> = (0..results.len())
        .filter(|&i| results[i].is_err())
        .collect();
    assert_eq!(failed, vec![1, 3]);
    match &results[3] {
        Err(StreamsError::Processing {
            topic,
            offset,
            source,
            ..
        }) => {
            assert_eq!((topic.as_str(), *offset), ("in", 3));
            assert!(matches!(source.root(), ProcessorError::Panic(m) if m == "unlucky number"));
        }
        other => panic!("unexpected {other:?}"),
    }
    let seen = handler.seen();
    let expect = |node: &str, offset, key: &str, value: i64, error: &str| Seen {
        node: node.to_owned(),
        topic: s("in"),
        partition: 0,
        offset,
        key: Some(key.as_bytes().to_vec()),
        value: Some(value.to_be_bytes().to_vec()),
        error: error.to_owned(),
    };
    assert_eq!(
        seen,
        vec![
            expect("validate", 1, "neg", -1, "negative amount -1"),
            expect("double", 3, "bad", 13, "panicked: unlucky number"),
        ]
    );
    // Fail stops that record only: the driver goes on with the next ones.
    assert_eq!(
        driver
            .output_topic::<String, i64>("out")?
            .read_values_to_list()?,
        vec![2, 4, 6]
    );
    Ok(())
}

#[test]
fn a_dead_lettered_processing_failure_keeps_key_value_and_headers() -> Result<(), StreamsError> {
    let driver =
        risky(StreamsConfig::new("app").processing_exception_handler(DeadLetterQueue::new("dlq")))?;
    let input = driver.input_topic::<String, i64>("in")?;
    input.pipe_key_value(s("a"), 1)?;
    let mut headers = Headers::new();
    headers.add("trace", "t-1");
    input.pipe_record(TestRecord {
        key: Some(s("bad")),
        value: Some(13),
        timestamp: Some(7),
        headers,
    })?;
    input.pipe_key_value(s("neg"), -5)?;
    input.pipe_key_value(s("c"), 3)?;
    assert_eq!(
        driver
            .output_topic::<String, i64>("out")?
            .read_key_values_to_list()?,
        vec![(s("a"), 2), (s("c"), 6)]
    );
    let dead = driver
        .output_topic_with::<Vec<u8>, Vec<u8>>("dlq", Serdes::bytes(), Serdes::bytes())?
        .read_records_to_list()?;
    let header = |i: usize, k: &str| {
        String::from_utf8_lossy(dead[i].headers.last(k).unwrap_or_default()).into_owned()
    };
    assert_eq!(dead.len(), 2);
    assert_eq!(
        (dead[0].key.as_deref(), dead[0].value.as_deref()),
        (Some(&b"bad"[..]), Some(&13i64.to_be_bytes()[..]))
    );
    assert_eq!(dead[0].timestamp, Some(7));
    assert_eq!(header(0, "trace"), "t-1");
    assert_eq!(header(0, dead_letter_headers::NODE), "double");
    assert_eq!(header(0, dead_letter_headers::TOPIC), "in");
    assert_eq!(header(0, dead_letter_headers::PARTITION), "0");
    assert_eq!(header(0, dead_letter_headers::OFFSET), "1");
    assert!(
        header(0, dead_letter_headers::REASON).contains("panicked: unlucky number"),
        "{}",
        header(0, dead_letter_headers::REASON)
    );
    assert_eq!(dead[1].key.as_deref(), Some(&b"neg"[..]));
    assert_eq!(header(1, dead_letter_headers::NODE), "validate");
    assert_eq!(header(1, dead_letter_headers::OFFSET), "2");
    let metrics = driver.metrics();
    assert_eq!((metrics.dead_lettered, metrics.skipped), (2, 0));
    Ok(())
}

/// Values that JSON cannot write (a map with non-string keys) fail in the sink.
fn unserializable(config: StreamsConfig) -> Result<TopologyTestDriver, StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, i64>("in")
        .map_values(|v| {
            if v < 0 {
                HashMap::from([(vec![1u8], v)])
            } else {
                HashMap::new()
            }
        })
        .to_with(
            "out",
            Produced::with(Serdes::string(), Serdes::json()).with_name("json-sink"),
        );
    TopologyTestDriver::new(builder.build()?, config)
}

#[test]
fn a_serialization_error_goes_to_the_production_handler() -> Result<(), StreamsError> {
    let processing = Recording {
        response: Some(HandlerResponse::Fail),
        ..Recording::default()
    };
    let production = Recording {
        response: Some(HandlerResponse::Continue),
        ..Recording::default()
    };
    let driver = unserializable(
        StreamsConfig::new("app")
            .processing_exception_handler(processing.clone())
            .production_exception_handler(production.clone()),
    )?;
    let input = driver.input_topic::<String, i64>("in")?;
    input.pipe_key_value(s("a"), 1)?;
    input.pipe_key_value(s("b"), -1)?;
    input.pipe_key_value(s("c"), 2)?;
    assert_eq!(
        driver
            .output_topic_with::<String, String>("out", Serdes::string(), Serdes::string())?
            .read_key_values_to_list()?,
        vec![(s("a"), s("{}")), (s("c"), s("{}"))]
    );
    assert!(processing.seen().is_empty());
    let seen = production.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(
        (
            seen[0].node.as_str(),
            seen[0].offset,
            seen[0].key.as_deref()
        ),
        ("json-sink", 1, Some(&b"b"[..]))
    );
    assert!(seen[0]
        .error
        .contains("cannot serialize the value for topic `out`"));
    assert_eq!(driver.metrics().skipped, 1);
    Ok(())
}

#[test]
fn a_serialization_error_can_be_dead_lettered() -> Result<(), StreamsError> {
    let driver = unserializable(
        StreamsConfig::new("app").production_exception_handler(DeadLetterQueue::new("bad-out")),
    )?;
    let input = driver.input_topic::<String, i64>("in")?;
    input.pipe_key_value(s("a"), 1)?;
    input.pipe_key_value(s("b"), -1)?;
    let dead = driver
        .output_topic_with::<Vec<u8>, Vec<u8>>("bad-out", Serdes::bytes(), Serdes::bytes())?
        .read_records_to_list()?;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].key.as_deref(), dead[0].value.as_deref()),
        (Some(&b"b"[..]), Some(&(-1i64).to_be_bytes()[..]))
    );
    assert_eq!(
        dead[0].headers.last(dead_letter_headers::NODE),
        Some(&b"json-sink"[..])
    );
    assert_eq!(driver.metrics().dead_lettered, 1);
    // The default production handler fails on the same record.
    let driver = unserializable(StreamsConfig::new("app"))?;
    let error = driver
        .input_topic::<String, i64>("in")?
        .pipe_key_value(s("b"), -1)
        .unwrap_err();
    assert!(
        matches!(error, StreamsError::Processing { offset: 0, .. }),
        "{error}"
    );
    Ok(())
}
