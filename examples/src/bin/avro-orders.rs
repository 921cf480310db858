//! Avro orders in, a total per customer, Avro totals out, on Kafka with a Schema Registry:
//! starts an embedded Kafka cluster (or uses `--bootstrap-servers HOST:PORT`) and an
//! in-process registry (or uses `--schema-registry URL`), produces orders with two versions
//! of their schema (v2 adds a quantity with a default), runs the aggregation, and prints the
//! totals it writes, read back through the registry.
//!
//! `cargo run --release -p examples --bin avro-orders [-- --bootstrap-servers HOST:PORT]
//! [--schema-registry URL]`

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use apache_avro::Schema;
use examples::cluster::Cluster;
use serde::{Deserialize, Serialize};
use streams_avro::registry_server::RegistryServer;
use streams_avro::{AvroSerde, AvroSerdeConfig, SchemaRegistryClient, SchemaRegistryConfig};
use streams_core::{Deserializer, Serializer};
use streams_dsl::prelude::*;

/// The orders' first schema.
const ORDER_V1: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
    {"name":"customer","type":"string"},{"name":"amount","type":"double"}]}"#;
/// The second: a quantity, 1 for orders written before it existed.
const ORDER_V2: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
    {"name":"customer","type":"string"},{"name":"amount","type":"double"},
    {"name":"quantity","type":"int","default":1}]}"#;
const CUSTOMER_TOTAL: &str = r#"{"type":"record","name":"CustomerTotal","namespace":"shop","fields":[
    {"name":"orders","type":"long"},{"name":"items","type":"long"},
    {"name":"spent","type":"double"}]}"#;

/// An order as the first producers write it.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct OrderV1 {
    customer: String,
    amount: f64,
}

/// An order as newer producers (and the application) see it.
#[derive(Serialize, Deserialize, Clone, Debug)]
struct Order {
    customer: String,
    amount: f64,
    quantity: i32,
}

/// A customer's total, kept in the store and written to `totals`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
struct CustomerTotal {
    orders: i64,
    items: i64,
    spent: f64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt().with_env_filter("warn").init();
    let args: Vec<String> = std::env::args().collect();
    let given = args
        .iter()
        .position(|a| a == "--schema-registry")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let local = match given {
        Some(_) => None,
        None => Some(RegistryServer::start()?),
    };
    let url = given.unwrap_or_else(|| {
        local
            .as_ref()
            .map(|r| r.url().to_string())
            .unwrap_or_default()
    });
    let registry = Arc::new(SchemaRegistryClient::new(SchemaRegistryConfig::new(url))?);
    let avro = |config| {
        Schema::parse_str(ORDER_V2)
            .map(|schema| Arc::new(AvroSerde::<Order>::new(registry.clone(), schema, config)))
    };
    let totals_serde = Arc::new(AvroSerde::<CustomerTotal>::new(
        registry.clone(),
        Schema::parse_str(CUSTOMER_TOTAL)?,
        AvroSerdeConfig::value(),
    ));

    let cluster = Cluster::from_args()?;
    cluster.create_topics(&[("avro-orders", 3), ("customer-totals", 3)])?;
    let builder = StreamsBuilder::new();
    builder
        .stream_with(
            "avro-orders",
            Consumed::with(Serdes::string(), avro(AvroSerdeConfig::value())?),
        )
        .group_by_key()
        .aggregate_with(
            CustomerTotal::default,
            |_, order: Order, total: CustomerTotal| CustomerTotal {
                orders: total.orders + 1,
                items: total.items + i64::from(order.quantity),
                spent: total.spent + order.amount,
            },
            Materialized::named("customer-totals")
                .with_key_serde(Serdes::string())
                .with_value_serde(totals_serde.clone()),
        )
        .to_stream()
        .to_with(
            "customer-totals",
            Produced::with(Serdes::string(), Serdes::optional(totals_serde.clone())),
        );
    let state_dir = tempfile::tempdir()?;
    let config = StreamsConfig::new("avro-orders")
        .state_dir(state_dir.path())
        .commit_interval(Duration::from_millis(500))
        .consumer_property("session.timeout.ms", "6000");
    let streams = std::sync::Arc::new(cluster.streams(builder.build()?, config));
    examples::shutdown::close_on_ctrl_c(std::sync::Arc::clone(&streams))?;
    streams.start()?;

    // Producers on both schema versions, through the same registry serdes.
    let v1 = AvroSerde::<OrderV1>::new(
        registry.clone(),
        Schema::parse_str(ORDER_V1)?,
        AvroSerdeConfig::value(),
    );
    let v2 = avro(AvroSerdeConfig::value())?;
    let customers = ["ann", "bob", "cyd"];
    let mut expected: BTreeMap<String, CustomerTotal> = BTreeMap::new();
    let mut records = Vec::new();
    for i in 0..12i32 {
        let customer = customers[(i % 3) as usize].to_string();
        let amount = f64::from(i) * 2.5 + 1.0;
        let quantity = if i % 2 == 0 { 1 } else { i };
        let value = if i % 2 == 0 {
            v1.to_bytes(
                "avro-orders",
                &OrderV1 {
                    customer: customer.clone(),
                    amount,
                },
            )?
        } else {
            v2.to_bytes(
                "avro-orders",
                &Order {
                    customer: customer.clone(),
                    amount,
                    quantity,
                },
            )?
        };
        let total = expected.entry(customer.clone()).or_default();
        total.orders += 1;
        total.items += i64::from(quantity);
        total.spent += amount;
        records.push((
            Some(customer.into_bytes()),
            value.ok_or("an order is never null")?,
        ));
    }
    cluster.produce("avro-orders", &records)?;

    let totals = cluster.read_table(
        "customer-totals",
        |k| String::from_utf8(k.to_vec()).ok(),
        |v| {
            totals_serde
                .deserialize("customer-totals", &Headers::new(), Some(v))
                .ok()
        },
        Duration::from_secs(60),
        |table| expected.iter().all(|(c, t)| table.get(c) == Some(t)),
    )?;
    println!("totals (Avro, read through the registry):");
    for (customer, total) in &totals {
        println!(
            "  {customer:>4} {:>7.2} over {} orders, {} items",
            total.spent, total.orders, total.items
        );
    }
    streams.close(Duration::from_secs(30));
    Ok(())
}
