//! Event time from a timestamp extractor that reads the deserialized record (issue 18): a
//! time inside a JSON value is parsed once, and what an extractor's invalid (negative) time
//! does is the deserialization handler's call, or the partition's time where asked.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use integration_tests::s;
use serde::{Deserialize, Serialize};
use streams_core::{
    Deserializer, Encoded, Headers, SerdeError, SerdeRef, Serializer, TypedTimestampExtractor,
    UsePartitionTimeOnInvalid,
};
use streams_dsl::prelude::*;

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Order {
    placed_at: i64,
    amount: i64,
}

/// JSON, counting how many times it deserializes.
struct CountingJson {
    reads: Arc<AtomicUsize>,
}

impl Serializer<Order> for CountingJson {
    fn serialize(
        &self,
        _: &str,
        _: &mut Headers,
        order: &Order,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        serde_json::to_writer(out, order).map_err(|e| SerdeError::Custom(e.to_string()))?;
        Ok(Encoded::Bytes)
    }
}

impl Deserializer<Order> for CountingJson {
    fn deserialize(&self, _: &str, _: &Headers, bytes: Option<&[u8]>) -> Result<Order, SerdeError> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let bytes = bytes.ok_or(SerdeError::UnexpectedNull)?;
        serde_json::from_slice(bytes).map_err(|e| SerdeError::Custom(e.to_string()))
    }
}

/// Counts orders per key in 10 ms tumbling windows of the time each order was placed at,
/// which `extractor` takes from the value.
fn windowed_counts(
    config: StreamsConfig,
    values: SerdeRef<Order>,
    extractor: impl TypedTimestampExtractor<String, Order> + 'static,
) -> TopologyTestDriver {
    let builder = StreamsBuilder::new();
    builder
        .stream_with::<String, Order>(
            "orders",
            Consumed::with(Serdes::string(), values).with_typed_timestamp_extractor(extractor),
        )
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_millis(10),
            Duration::from_millis(100),
        ))
        .count()
        .to_stream()
        .map(|k, v| (format!("{}@{}", k.key, k.window.start), v))
        .to("counts");
    TopologyTestDriver::new(builder.build().expect("builds"), config).expect("starts")
}

fn order(placed_at: i64) -> Order {
    Order {
        placed_at,
        amount: 1,
    }
}

fn counts(driver: &TopologyTestDriver) -> Vec<(String, i64, i64)> {
    driver
        .output_topic::<String, i64>("counts")
        .unwrap()
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| (r.key.unwrap(), r.value.unwrap(), r.timestamp.unwrap()))
        .collect()
}

#[test]
fn a_typed_extractor_takes_the_time_from_the_value_which_is_deserialized_once() {
    let reads = Arc::new(AtomicUsize::new(0));
    let values: SerdeRef<Order> = Arc::new(CountingJson {
        reads: reads.clone(),
    });
    let placed_at = |_: &String, o: &Order, _: i64, _: i64| o.placed_at;
    let driver = windowed_counts(StreamsConfig::new("app"), values.clone(), placed_at);
    let input = driver
        .input_topic_with("orders", Serdes::string(), values)
        .unwrap();
    // Kafka timestamps far from the placement times: the windows follow the values.
    for (key, placed_at, kafka_time) in [("a", 3, 1_000), ("a", 7, 1_001), ("a", 15, 1_002)] {
        input
            .pipe_key_value_at(s(key), order(placed_at), kafka_time)
            .unwrap();
    }
    assert_eq!(
        counts(&driver),
        [(s("a@0"), 1, 3), (s("a@0"), 2, 7), (s("a@10"), 1, 15)]
    );
    assert_eq!(reads.load(Ordering::Relaxed), 3, "one read per record");
}

#[test]
fn an_invalid_extracted_time_goes_to_the_deserialization_handler() {
    let invalid_below_zero = |_: &String, o: &Order, _: i64, _: i64| o.placed_at;
    // Failing, by default (Kafka Streams' FailOnInvalidTimestamp).
    let driver = windowed_counts(
        StreamsConfig::new("app"),
        Serdes::json(),
        invalid_below_zero,
    );
    let input = driver
        .input_topic_with("orders", Serdes::string(), Serdes::json::<Order>())
        .unwrap();
    let error = input.pipe_key_value_at(s("a"), order(-5), 1).unwrap_err();
    assert!(
        matches!(error, StreamsError::InvalidTimestamp { timestamp: -5, .. }),
        "{error}"
    );
    // Skipped and counted where the handler continues (its LogAndSkipOnInvalidTimestamp);
    // it does not advance stream time, and the records around it are counted as placed.
    let config = StreamsConfig::new("app").deserialization_handler(LogAndContinue);
    let driver = windowed_counts(config, Serdes::json(), invalid_below_zero);
    let input = driver
        .input_topic_with("orders", Serdes::string(), Serdes::json::<Order>())
        .unwrap();
    for placed_at in [3, -5, 4] {
        input
            .pipe_key_value_at(s("a"), order(placed_at), 100)
            .unwrap();
    }
    assert_eq!(counts(&driver), [(s("a@0"), 1, 3), (s("a@0"), 2, 4)]);
    assert_eq!(driver.metrics().skipped, 1);
}

#[test]
fn use_partition_time_on_invalid_gives_an_invalid_time_the_partition_s_time() {
    let driver = windowed_counts(
        StreamsConfig::new("app"),
        Serdes::json(),
        UsePartitionTimeOnInvalid(|_: &String, o: &Order, _: i64, _: i64| o.placed_at),
    );
    let input = driver
        .input_topic_with("orders", Serdes::string(), Serdes::json::<Order>())
        .unwrap();
    for placed_at in [12, -1, 3] {
        input
            .pipe_key_value_at(s("a"), order(placed_at), 100)
            .unwrap();
    }
    // The invalid one counts at the partition's time then, 12; the last one at its own.
    assert_eq!(
        counts(&driver),
        [(s("a@10"), 1, 12), (s("a@10"), 2, 12), (s("a@0"), 1, 3)]
    );
}

#[test]
fn a_table_s_typed_extractor_leaves_a_tombstone_its_kafka_timestamp() {
    let builder = StreamsBuilder::new();
    builder
        .table_with::<String, Order>(
            "orders",
            Consumed::with(Serdes::string(), Serdes::json()).with_typed_timestamp_extractor(
                |_: &String, o: &Order, _: i64, _: i64| o.placed_at,
            ),
            Materialized::new(),
        )
        .to_stream()
        .to_with(
            "rows",
            Produced::with(Serdes::string(), Serdes::optional(Serdes::json::<Order>())),
        );
    let driver = TopologyTestDriver::new(builder.build().unwrap(), StreamsConfig::new("app"))
        .expect("starts");
    let input = driver
        .input_topic_with("orders", Serdes::string(), Serdes::json::<Order>())
        .unwrap();
    input.pipe_key_value_at(s("a"), order(40), 1).unwrap();
    input.pipe_raw(Some(b"a".to_vec()), None, 50).unwrap();
    let rows: Vec<(Option<i64>, i64)> = driver
        .output_topic_with("rows", Serdes::string(), Serdes::json::<Order>())
        .unwrap()
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| (r.value.map(|o| o.placed_at), r.timestamp.unwrap()))
        .collect();
    assert_eq!(rows, [(Some(40), 40), (None, 50)]);
}
