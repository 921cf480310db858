//! Avro state under the Kafka runtime (librdkafka's mock cluster, an in-process registry): an
//! instance started on a new machine, whose store restores from a changelog written with an
//! older schema, refuses a value serde that cannot read it before it processes a record, and
//! names the store, both schemas and the way out; a compatible serde restores and goes on.

use std::sync::Arc;
use std::time::Duration;

use integration_tests::init_tracing;
use integration_tests::kafka::{produce, read_until};
use serde::{Deserialize, Serialize};
use streams_avro::apache_avro::Schema;
use streams_avro::registry_server::RegistryServer;
use streams_avro::{AvroSerde, AvroSerdeConfig, SchemaRegistryClient, SchemaRegistryConfig};
use streams_dsl::prelude::*;

const WAIT: Duration = Duration::from_secs(60);

const TOTAL_V1: &str = r#"{"type":"record","name":"Total","namespace":"shop","fields":[
    {"name":"orders","type":"long"},{"name":"spent","type":"double"}]}"#;
/// Incompatible with v1: `spent` became a string.
const TOTAL_BROKEN: &str = r#"{"type":"record","name":"Total","namespace":"shop","fields":[
    {"name":"orders","type":"long"},{"name":"spent","type":"string"}]}"#;
const TOTAL_V2: &str = r#"{"type":"record","name":"Total","namespace":"shop","fields":[
    {"name":"orders","type":"long"},{"name":"spent","type":"double"},
    {"name":"items","type":"long","default":0}]}"#;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
struct TotalV1 {
    orders: i64,
    spent: f64,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
struct TotalBroken {
    orders: i64,
    spent: String,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
struct TotalV2 {
    orders: i64,
    spent: f64,
    items: i64,
}

fn avro<T>(registry: &RegistryServer, schema: &str) -> SerdeRef<T>
where
    T: Serialize + serde::de::DeserializeOwned + 'static,
{
    let client =
        Arc::new(SchemaRegistryClient::new(SchemaRegistryConfig::new(registry.url())).unwrap());
    Arc::new(AvroSerde::<T>::new(
        client,
        Schema::parse_str(schema).unwrap(),
        AvroSerdeConfig::value(),
    ))
}

/// Order amounts summed per customer into an Avro aggregate `T`, kept in RocksDB.
fn topology<T: Clone + Default + 'static>(
    serde: SerdeRef<T>,
    add: impl Fn(f64, T) -> T + Send + Sync + 'static,
) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream_with("orders", Consumed::with(Serdes::string(), Serdes::f64()))
        .group_by_key()
        .aggregate_with(
            T::default,
            move |_, amount, total| add(amount, total),
            Materialized::named("totals")
                .with_key_serde(Serdes::string())
                .with_value_serde(serde.clone())
                .with_store_engine(StoreEngine::RocksDb),
        )
        .to_stream()
        .to_with(
            "totals",
            Produced::with(Serdes::string(), Serdes::optional(serde)),
        );
    builder.build().unwrap()
}

fn start(topology: Topology, kafka: &Arc<EmbeddedKafka>, dir: &std::path::Path) -> KafkaStreams {
    let config = StreamsConfig::new("shop")
        .bootstrap_servers(kafka.bootstrap_servers())
        .state_dir(dir)
        .commit_interval(Duration::from_millis(200))
        // The mock cluster lets a new member in only once an earlier run's have timed out.
        .consumer_property("session.timeout.ms", "6000")
        .consumer_property("heartbeat.interval.ms", "1000");
    let streams = KafkaStreams::new(topology, config).with_topic_creator(kafka.clone());
    streams.start().expect("the application starts");
    streams
}

fn order(customer: &str, amount: f64) -> (Vec<u8>, Vec<u8>) {
    (customer.as_bytes().to_vec(), amount.to_be_bytes().to_vec())
}

fn send(kafka: &EmbeddedKafka, orders: &[(Vec<u8>, Vec<u8>)]) {
    let records: Vec<(Option<&[u8]>, &[u8])> = orders
        .iter()
        .map(|(k, v)| (Some(k.as_slice()), v.as_slice()))
        .collect();
    produce(kafka.bootstrap_servers(), "orders", &records);
}

#[test]
fn a_store_restored_on_a_new_machine_refuses_an_incompatible_schema_at_start() {
    init_tracing();
    let kafka = Arc::new(EmbeddedKafka::start(1).unwrap());
    let registry = RegistryServer::start().unwrap();
    kafka.create_topic("orders", 1).unwrap();
    kafka.create_topic("totals", 1).unwrap();
    let v1_totals = avro::<TotalV1>(&registry, TOTAL_V1);

    // The first machine: v1 sums two orders, and its changelog holds v1 values.
    let first_machine = tempfile::tempdir().unwrap();
    send(&kafka, &[order("ann", 10.0), order("ann", 5.0)]);
    let v1 = topology(v1_totals.clone(), |amount, t: TotalV1| TotalV1 {
        orders: t.orders + 1,
        spent: t.spent + amount,
    });
    let streams = start(v1, &kafka, first_machine.path());
    let read = |records: &[(Vec<u8>, Vec<u8>)]| -> Vec<f64> {
        records
            .iter()
            .map(|(_, v)| {
                v1_totals
                    .deserialize("totals", &Headers::new(), Some(v))
                    .unwrap()
                    .spent
            })
            .collect()
    };
    let totals = read_until(kafka.bootstrap_servers(), "totals", false, WAIT, |r| {
        read(r).contains(&15.0)
    });
    assert!(read(&totals).contains(&15.0), "{:?}", read(&totals));
    assert!(streams.close(WAIT));
    drop(streams);

    // A new machine with an incompatible serde: the task fails while it restores.
    let new_machine = tempfile::tempdir().unwrap();
    let broken = topology(avro::<TotalBroken>(&registry, TOTAL_BROKEN), |_, t| t);
    let streams = start(broken, &kafka, new_machine.path());
    assert!(
        streams.wait_for(State::Error, WAIT),
        "{:?}",
        streams.state()
    );
    let errors = streams.thread_errors().join("\n");
    for needle in [
        "`totals`",
        "a value restored from its changelog was written with schema id",
        r#""spent","type":"double""#,
        r#""spent","type":"string""#,
        "kafka-streams-application-reset",
    ] {
        assert!(errors.contains(needle), "{needle} missing from: {errors}");
    }
    assert!(streams.close(WAIT));
    drop(streams);

    // A compatible v2 on the same new machine restores the totals and goes on from them.
    send(&kafka, &[order("ann", 2.0)]);
    let v2_totals = avro::<TotalV2>(&registry, TOTAL_V2);
    let v2 = topology(v2_totals.clone(), |amount, t: TotalV2| TotalV2 {
        orders: t.orders + 1,
        spent: t.spent + amount,
        items: t.items + 1,
    });
    let streams = start(v2, &kafka, new_machine.path());
    let carried = TotalV2 {
        orders: 3,
        spent: 17.0,
        items: 1,
    };
    let totals = read_until(kafka.bootstrap_servers(), "totals", false, WAIT, |r| {
        r.iter().any(|(_, v)| {
            v2_totals
                .deserialize("totals", &Headers::new(), Some(v))
                .is_ok_and(|t| t == carried)
        })
    });
    assert!(
        totals.iter().any(|(_, v)| v2_totals
            .deserialize("totals", &Headers::new(), Some(v))
            .is_ok_and(|t| t == carried)),
        "v2 did not carry the totals over"
    );
    assert!(streams.close(WAIT));
}
