//! Avro serdes in topologies, through the registry: producers on schema v1 and on a
//! compatible v2 (a field added with a default) feed one aggregation whose state and results
//! are Avro too; an incompatible schema is refused with a typed error; a record whose schema
//! id the registry does not know goes to the deserialization handler.

use std::sync::Arc;

use apache_avro::Schema;
use serde::{Deserialize, Serialize};
use streams_avro::registry_server::RegistryServer;
use streams_avro::{AvroSerde, AvroSerdeConfig, SchemaRegistryClient, SchemaRegistryConfig};
use streams_core::{SchemaRegistryError, SerdeError, SerdeRef};
use streams_dsl::prelude::*;

const ORDER_V1: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
    {"name":"customer","type":"string"},{"name":"amount","type":"double"}]}"#;
const ORDER_V2: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
    {"name":"customer","type":"string"},{"name":"amount","type":"double"},
    {"name":"quantity","type":"int","default":1}]}"#;
const ORDER_BROKEN: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
    {"name":"customer","type":"string"},{"name":"amount","type":"string"}]}"#;
const CUSTOMER_TOTAL: &str = r#"{"type":"record","name":"CustomerTotal","namespace":"shop","fields":[
    {"name":"orders","type":"long"},{"name":"items","type":"long"},
    {"name":"spent","type":"double"}]}"#;

/// The first version of the orders' schema.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct OrderV1 {
    customer: String,
    amount: f64,
}

/// The second: a quantity, 1 for orders written before it existed.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct OrderV2 {
    customer: String,
    amount: f64,
    quantity: i32,
}

/// An incompatible third: the amount became a string.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct OrderBroken {
    customer: String,
    amount: String,
}

/// The aggregate, kept in the store and written to the output topic.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
struct CustomerTotal {
    orders: i64,
    items: i64,
    spent: f64,
}

fn client(registry: &RegistryServer) -> Arc<SchemaRegistryClient> {
    Arc::new(SchemaRegistryClient::new(SchemaRegistryConfig::new(registry.url())).unwrap())
}

fn avro<T>(registry: &RegistryServer, schema: &str) -> SerdeRef<T>
where
    T: Serialize + serde::de::DeserializeOwned + 'static,
{
    let schema = Schema::parse_str(schema).expect("schema");
    Arc::new(AvroSerde::<T>::new(
        client(registry),
        schema,
        AvroSerdeConfig::value(),
    ))
}

/// Orders (read as v2) summed per customer, the totals in Avro in the store and out.
fn topology(registry: &RegistryServer) -> Topology {
    let builder = StreamsBuilder::new();
    let totals = avro::<CustomerTotal>(registry, CUSTOMER_TOTAL);
    builder
        .stream_with(
            "orders",
            Consumed::with(Serdes::string(), avro::<OrderV2>(registry, ORDER_V2)),
        )
        .group_by_key()
        .aggregate_with(
            CustomerTotal::default,
            |_, order: OrderV2, total: CustomerTotal| CustomerTotal {
                orders: total.orders + 1,
                items: total.items + i64::from(order.quantity),
                spent: total.spent + order.amount,
            },
            Materialized::named("totals")
                .with_key_serde(Serdes::string())
                .with_value_serde(totals.clone()),
        )
        .to_stream()
        .to_with(
            "totals",
            Produced::with(Serdes::string(), Serdes::optional(totals)),
        );
    builder.build().unwrap()
}

/// The orders topic of `driver`, written with `schema`.
fn orders<T>(
    driver: &TopologyTestDriver,
    registry: &RegistryServer,
    schema: &str,
) -> TestInputTopic<String, T>
where
    T: Serialize + serde::de::DeserializeOwned + 'static,
{
    driver
        .input_topic_with("orders", Serdes::string(), avro::<T>(registry, schema))
        .unwrap()
}

/// What `driver` wrote to the totals topic since the last read.
fn totals(driver: &TopologyTestDriver, registry: &RegistryServer) -> Vec<(String, CustomerTotal)> {
    driver
        .output_topic_with(
            "totals",
            Serdes::string(),
            avro::<CustomerTotal>(registry, CUSTOMER_TOTAL),
        )
        .unwrap()
        .read_key_values_to_list()
        .unwrap()
}

#[test]
fn producers_on_v1_and_a_compatible_v2_feed_one_aggregation() {
    let registry = RegistryServer::start().unwrap();
    let driver =
        TopologyTestDriver::new(topology(&registry), StreamsConfig::new("avro-totals")).unwrap();
    let old = orders::<OrderV1>(&driver, &registry, ORDER_V1);
    let new = orders::<OrderV2>(&driver, &registry, ORDER_V2);
    let v1 = |amount| OrderV1 {
        customer: "ann".into(),
        amount,
    };
    let v2 = |amount, quantity| OrderV2 {
        customer: "ann".into(),
        amount,
        quantity,
    };
    old.pipe_key_value("ann".into(), v1(10.0)).unwrap();
    new.pipe_key_value("ann".into(), v2(5.0, 4)).unwrap();
    old.pipe_key_value("bob".into(), v1(1.5)).unwrap();
    new.pipe_key_value("ann".into(), v2(2.5, 2)).unwrap();
    old.pipe_key_value("ann".into(), v1(1.0)).unwrap();

    let written = totals(&driver, &registry);
    let total = |orders, items, spent| CustomerTotal {
        orders,
        items,
        spent,
    };
    assert_eq!(
        written,
        vec![
            ("ann".into(), total(1, 1, 10.0)),
            ("ann".into(), total(2, 5, 15.0)),
            ("bob".into(), total(1, 1, 1.5)),
            ("ann".into(), total(3, 7, 17.5)),
            ("ann".into(), total(4, 8, 18.5)),
        ]
    );
    // Both versions are registered under the topic's subject, v2 the latest.
    let latest = client(&registry).latest("orders-value").unwrap();
    assert_eq!(
        (latest.version, &*latest.schema),
        (2, &Schema::parse_str(ORDER_V2).unwrap())
    );
    // The state carries over a restart from its changelog (Avro values with schema ids).
    driver.restart().unwrap();
    new.pipe_key_value(
        "bob".into(),
        OrderV2 {
            customer: "bob".into(),
            amount: 0.5,
            quantity: 3,
        },
    )
    .unwrap();
    let after = totals(&driver, &registry);
    assert_eq!(after, vec![("bob".into(), total(2, 4, 2.0))]);
}

#[test]
fn an_incompatible_producer_is_refused_with_a_typed_error() {
    let registry = RegistryServer::start().unwrap();
    let driver =
        TopologyTestDriver::new(topology(&registry), StreamsConfig::new("avro-totals")).unwrap();
    orders::<OrderV1>(&driver, &registry, ORDER_V1)
        .pipe_key_value(
            "ann".into(),
            OrderV1 {
                customer: "ann".into(),
                amount: 1.0,
            },
        )
        .unwrap();
    let broken = avro::<OrderBroken>(&registry, ORDER_BROKEN);
    let error = broken
        .to_bytes(
            "orders",
            &OrderBroken {
                customer: "ann".into(),
                amount: "one".into(),
            },
        )
        .unwrap_err();
    match error {
        SerdeError::SchemaRegistry(e) => match *e {
            SchemaRegistryError::Incompatible { subject, .. } => {
                assert_eq!(subject, "orders-value")
            }
            other => panic!("expected an incompatible schema, got {other:?}"),
        },
        other => panic!("expected an incompatible schema, got {other:?}"),
    }
    assert_eq!(client(&registry).latest("orders-value").unwrap().version, 1);
}

#[test]
fn an_unknown_schema_id_goes_to_the_deserialization_handler() {
    let registry = RegistryServer::start().unwrap();
    // By default the application fails, naming the record and the registry's answer.
    let driver =
        TopologyTestDriver::new(topology(&registry), StreamsConfig::new("avro-totals")).unwrap();
    let raw = orders::<OrderV2>(&driver, &registry, ORDER_V2);
    let unknown = vec![0, 0, 0, 0x30, 0x39, 0x02];
    match raw.pipe_raw(Some(b"ann".to_vec()), Some(unknown.clone()), 1) {
        Err(StreamsError::Deserialization { source, .. }) => assert_eq!(
            source,
            SerdeError::from(SchemaRegistryError::UnknownSchemaId(12345))
        ),
        other => panic!("expected a deserialization error, got {other:?}"),
    }

    // With LogAndContinue the record is skipped and counted, and the next one processed.
    let driver = TopologyTestDriver::new(
        topology(&registry),
        StreamsConfig::new("avro-totals").deserialization_handler(LogAndContinue),
    )
    .unwrap();
    let input = orders::<OrderV2>(&driver, &registry, ORDER_V2);
    input
        .pipe_raw(Some(b"ann".to_vec()), Some(unknown), 1)
        .unwrap();
    input
        .pipe_key_value(
            "ann".into(),
            OrderV2 {
                customer: "ann".into(),
                amount: 2.0,
                quantity: 1,
            },
        )
        .unwrap();
    assert_eq!(driver.metrics().skipped, 1);
    assert_eq!(
        totals(&driver, &registry),
        vec![(
            "ann".to_string(),
            CustomerTotal {
                orders: 1,
                items: 1,
                spent: 2.0
            }
        )]
    );
}

#[test]
fn a_sink_whose_schema_the_registry_refuses_fails_with_a_typed_error() {
    let registry = RegistryServer::start().unwrap();
    // The output subject already holds a schema that the totals' schema is incompatible with.
    let other = r#"{"type":"record","name":"CustomerTotal","namespace":"shop","fields":[
        {"name":"orders","type":"string"}]}"#;
    client(&registry)
        .register("totals-value", &Schema::parse_str(other).unwrap())
        .unwrap();
    let driver =
        TopologyTestDriver::new(topology(&registry), StreamsConfig::new("avro-totals")).unwrap();
    let error = orders::<OrderV2>(&driver, &registry, ORDER_V2)
        .pipe_key_value(
            "ann".into(),
            OrderV2 {
                customer: "ann".into(),
                amount: 2.0,
                quantity: 1,
            },
        )
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("cannot serialize the value for topic `totals`")
            && error.contains("schema incompatible with subject \"totals-value\""),
        "{error}"
    );
}
