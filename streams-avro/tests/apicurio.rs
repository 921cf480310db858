//! The registry client, the Avro serdes and a topology using them against a real registry: Apicurio Registry, built
//! from Maven Central and started by `scripts/apicurio.sh` once per test binary (its
//! Confluent-compatible API under `/apis/ccompat/v7`, in-memory storage, the global
//! compatibility rule BACKWARD), or the Confluent-compatible registry named by the
//! `STREAMS_TEST_SCHEMA_REGISTRY_URL` environment variable. The tests share it, so each uses
//! subjects of its own and asserts no absolute schema id, and they take turns: Apicurio
//! 2.4.2's in-memory (H2) storage fails concurrent first registrations with "Timeout trying
//! to lock table" (HTTP 500), a registry defect these tests are not about.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use apache_avro::types::Value;
use apache_avro::Schema;
use serde::{Deserialize, Serialize};
use streams_avro::{
    AvroSerde, AvroSerdeConfig, GenericAvroSerde, SchemaRegistryClient, SchemaRegistryConfig,
};
use streams_core::{Deserializer, Headers, SchemaRegistryError, SerdeError, Serializer};

const V1: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
    {"name":"id","type":"long"},{"name":"item","type":"string"}]}"#;
const V2: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
    {"name":"id","type":"long"},{"name":"item","type":"string"},
    {"name":"quantity","type":"int","default":1}]}"#;
/// `quantity` without a default: data of v1 cannot be read with it.
const V2_NO_DEFAULT: &str = r#"{"type":"record","name":"Order","namespace":"shop","fields":[
    {"name":"id","type":"long"},{"name":"item","type":"string"},
    {"name":"quantity","type":"int"}]}"#;

/// A record of schema `V1`.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Order {
    id: i64,
    item: String,
}

/// The registry's Confluent API base URL: started on first use, stopped by the script once
/// this test binary exits.
fn registry_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        std::env::var("STREAMS_TEST_SCHEMA_REGISTRY_URL")
            .ok()
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(start_apicurio)
    })
}

fn start_apicurio() -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/apicurio.sh");
    let pid = std::process::id().to_string();
    let output = Command::new("bash")
        .arg(script)
        .args(["start", "--owner", &pid])
        .output()
        .expect("scripts/apicurio.sh runs");
    assert!(
        output.status.success(),
        "scripts/apicurio.sh start failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let url = stdout
        .split_whitespace()
        .next()
        .expect("scripts/apicurio.sh prints URL PID");
    assert!(url.ends_with("/apis/ccompat/v7"), "{url}");
    url.to_string()
}

/// The registry to this test alone until the guard drops (see the top of this file).
fn turn() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh client (so nothing comes from another client's caches).
fn client() -> Arc<SchemaRegistryClient> {
    Arc::new(
        SchemaRegistryClient::new(
            SchemaRegistryConfig::new(registry_url()).timeout(Duration::from_secs(10)),
        )
        .expect("client"),
    )
}

fn schema(text: &str) -> Schema {
    Schema::parse_str(text).expect("schema")
}

#[test]
fn schemas_register_once_and_are_found_by_id_and_subject() {
    let _turn = turn();
    let subject = "lookups-value";
    let id = client().register(subject, &schema(V1)).unwrap();
    assert_eq!(client().register(subject, &schema(V1)).unwrap(), id);
    assert_eq!(*client().schema_by_id(id).unwrap(), schema(V1));
    let latest = client().latest(subject).unwrap();
    assert_eq!((latest.id, latest.version), (id, 1));
    assert_eq!(*latest.schema, schema(V1));
    assert_eq!(client().id_of(subject, &schema(V1)).unwrap(), id);

    assert!(client().is_compatible(subject, &schema(V2)).unwrap());
    assert!(!client()
        .is_compatible(subject, &schema(V2_NO_DEFAULT))
        .unwrap());
    let v2 = client().register(subject, &schema(V2)).unwrap();
    assert_ne!(v2, id);
    let latest = client().latest(subject).unwrap();
    assert_eq!((latest.id, latest.version), (v2, 2));
    assert_eq!(client().id_of(subject, &schema(V2)).unwrap(), v2);
}

#[test]
fn refusals_are_typed_errors() {
    let _turn = turn();
    let subject = "refusals-value";
    let client = client();
    client.register(subject, &schema(V1)).unwrap();
    match client.register(subject, &schema(V2_NO_DEFAULT)) {
        Err(SchemaRegistryError::Incompatible {
            subject: s,
            message,
        }) => {
            assert_eq!(s, subject);
            assert!(message.to_lowercase().contains("incompatible"), "{message}");
        }
        other => panic!("expected an incompatible schema, got {other:?}"),
    }
    // Still one version: the refused schema was not registered.
    assert_eq!(client.latest(subject).unwrap().version, 1);
    assert_eq!(
        client.schema_by_id(987_654).unwrap_err(),
        SchemaRegistryError::UnknownSchemaId(987_654)
    );
    assert!(matches!(
        client.latest("nothing-value"),
        Err(SchemaRegistryError::NotFound { subject, .. }) if subject == "nothing-value"
    ));
    assert!(matches!(
        client.id_of(subject, &schema(V2)),
        Err(SchemaRegistryError::NotFound { .. })
    ));
}

#[test]
fn records_of_v1_and_v2_read_with_either_schema() {
    let _turn = turn();
    let topic = "mixed";
    let v1 = GenericAvroSerde::new(client(), schema(V1), AvroSerdeConfig::value());
    let v2 = GenericAvroSerde::new(client(), schema(V2), AvroSerdeConfig::value());
    let old = Value::Record(vec![
        ("id".into(), Value::Long(1)),
        ("item".into(), Value::String("tea".into())),
    ]);
    let new = Value::Record(vec![
        ("id".into(), Value::Long(2)),
        ("item".into(), Value::String("cake".into())),
        ("quantity".into(), Value::Int(3)),
    ]);
    // v1 registers first (auto-register), then the compatible v2.
    let old_bytes = v1.to_bytes(topic, &old).unwrap();
    let new_bytes = v2.to_bytes(topic, &new).unwrap();
    let frame_id = |bytes: &Option<Vec<u8>>| {
        let bytes = bytes.as_deref().expect("a value");
        assert_eq!(bytes[0], 0, "magic byte");
        u32::from_be_bytes(bytes[1..5].try_into().expect("4 bytes"))
    };
    let latest = client().latest("mixed-value").unwrap();
    assert_eq!(latest.version, 2);
    assert_eq!(frame_id(&new_bytes), latest.id);
    assert_ne!(frame_id(&old_bytes), latest.id);

    // Read by fresh serdes, whose writer schemas come from the registry by id.
    let h = Headers::new();
    let reader_v2 = GenericAvroSerde::new(client(), schema(V2), AvroSerdeConfig::value());
    assert_eq!(
        reader_v2
            .deserialize(topic, &h, old_bytes.as_deref())
            .unwrap(),
        Value::Record(vec![
            ("id".into(), Value::Long(1)),
            ("item".into(), Value::String("tea".into())),
            ("quantity".into(), Value::Int(1)),
        ])
    );
    assert_eq!(
        reader_v2
            .deserialize(topic, &h, new_bytes.as_deref())
            .unwrap(),
        new
    );
    let typed_v1 = AvroSerde::<Order>::new(client(), schema(V1), AvroSerdeConfig::value());
    assert_eq!(
        typed_v1
            .deserialize(topic, &h, new_bytes.as_deref())
            .unwrap(),
        Order {
            id: 2,
            item: "cake".into()
        }
    );
    assert_eq!(
        typed_v1
            .deserialize(topic, &h, old_bytes.as_deref())
            .unwrap(),
        Order {
            id: 1,
            item: "tea".into()
        }
    );
}

#[test]
fn serdes_surface_refusals_and_unknown_ids_as_typed_errors() {
    let _turn = turn();
    let topic = "serde-refusals";
    let order = Order {
        id: 7,
        item: "pen".into(),
    };
    let h = Headers::new();
    // Without auto-register, an unregistered schema is refused by the serializer.
    let no_register = AvroSerde::<Order>::new(
        client(),
        schema(V1),
        AvroSerdeConfig::value().auto_register(false),
    );
    assert!(matches!(
        no_register.to_bytes(topic, &order),
        Err(SerdeError::SchemaRegistry(e)) if matches!(*e, SchemaRegistryError::NotFound { .. })
    ));
    let writer = AvroSerde::<Order>::new(client(), schema(V1), AvroSerdeConfig::value());
    let bytes = writer.to_bytes(topic, &order).unwrap().unwrap();
    assert_eq!(writer.deserialize(topic, &h, Some(&bytes)).unwrap(), order);
    // A producer whose schema breaks the subject's rule gets the registry's refusal.
    let broken = GenericAvroSerde::new(client(), schema(V2_NO_DEFAULT), AvroSerdeConfig::value());
    let value = Value::Record(vec![
        ("id".into(), Value::Long(8)),
        ("item".into(), Value::String("ink".into())),
        ("quantity".into(), Value::Int(2)),
    ]);
    assert!(matches!(
        broken.to_bytes(topic, &value),
        Err(SerdeError::SchemaRegistry(e))
            if matches!(*e, SchemaRegistryError::Incompatible { .. })
    ));
    // A frame naming an id the registry does not know.
    let mut unknown = bytes.clone();
    unknown[1..5].copy_from_slice(&987_655u32.to_be_bytes());
    assert_eq!(
        writer.deserialize(topic, &h, Some(&unknown)),
        Err(SchemaRegistryError::UnknownSchemaId(987_655).into())
    );
}

const SALE_V1: &str = r#"{"type":"record","name":"Sale","namespace":"shop","fields":[
    {"name":"customer","type":"string"},{"name":"amount","type":"double"}]}"#;
const SALE_V2: &str = r#"{"type":"record","name":"Sale","namespace":"shop","fields":[
    {"name":"customer","type":"string"},{"name":"amount","type":"double"},
    {"name":"quantity","type":"int","default":1}]}"#;
const TOTAL: &str = r#"{"type":"record","name":"Total","namespace":"shop","fields":[
    {"name":"sales","type":"long"},{"name":"items","type":"long"},
    {"name":"spent","type":"double"}]}"#;

/// A sale of schema `SALE_V1`.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct SaleV1 {
    customer: String,
    amount: f64,
}

/// A sale of schema `SALE_V2`: a quantity, 1 for sales written before it existed.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct SaleV2 {
    customer: String,
    amount: f64,
    quantity: i32,
}

/// The aggregate of schema `TOTAL`, in the store, its changelog and the output topic.
#[derive(Serialize, Deserialize, Debug, PartialEq, Clone, Default)]
struct Total {
    sales: i64,
    items: i64,
    spent: f64,
}

fn avro<T>(schema_text: &str) -> streams_core::SerdeRef<T>
where
    T: Serialize + serde::de::DeserializeOwned + 'static,
{
    Arc::new(AvroSerde::<T>::new(
        client(),
        schema(schema_text),
        AvroSerdeConfig::value(),
    ))
}

/// Sales (read as v2) summed per customer, the totals in Avro in the store and out.
fn sales_topology() -> streams_dsl::prelude::Topology {
    use streams_dsl::prelude::*;
    let builder = StreamsBuilder::new();
    let totals = avro::<Total>(TOTAL);
    builder
        .stream_with(
            "sales",
            Consumed::with(Serdes::string(), avro::<SaleV2>(SALE_V2)),
        )
        .group_by_key()
        .aggregate_with(
            Total::default,
            |_, sale: SaleV2, total: Total| Total {
                sales: total.sales + 1,
                items: total.items + i64::from(sale.quantity),
                spent: total.spent + sale.amount,
            },
            Materialized::named("totals")
                .with_key_serde(Serdes::string())
                .with_value_serde(totals.clone()),
        )
        .to_stream()
        .to_with(
            "sale-totals",
            Produced::with(Serdes::string(), Serdes::optional(totals)),
        );
    builder.build().unwrap()
}

#[test]
fn a_topology_reads_v1_and_v2_producers_and_skips_unknown_ids() {
    use streams_dsl::prelude::*;
    let _turn = turn();
    let driver = TopologyTestDriver::new(
        sales_topology(),
        StreamsConfig::new("apicurio-sales").deserialization_handler(LogAndContinue),
    )
    .unwrap();
    let old = driver
        .input_topic_with("sales", Serdes::string(), avro::<SaleV1>(SALE_V1))
        .unwrap();
    let new = driver
        .input_topic_with("sales", Serdes::string(), avro::<SaleV2>(SALE_V2))
        .unwrap();
    let v1 = |customer: &str, amount| SaleV1 {
        customer: customer.into(),
        amount,
    };
    let v2 = |customer: &str, amount, quantity| SaleV2 {
        customer: customer.into(),
        amount,
        quantity,
    };
    old.pipe_key_value("ann".into(), v1("ann", 10.0)).unwrap();
    new.pipe_key_value("ann".into(), v2("ann", 5.0, 4)).unwrap();
    old.pipe_key_value("bob".into(), v1("bob", 1.5)).unwrap();
    // A record whose schema id the registry does not know is skipped and counted.
    let mut unknown = vec![0];
    unknown.extend_from_slice(&987_656u32.to_be_bytes());
    unknown.push(0x02);
    new.pipe_raw(Some(b"ann".to_vec()), Some(unknown), 1)
        .unwrap();
    new.pipe_key_value("ann".into(), v2("ann", 2.5, 2)).unwrap();
    assert_eq!(driver.metrics().skipped, 1);

    let read_totals = |driver: &TopologyTestDriver| {
        driver
            .output_topic_with("sale-totals", Serdes::string(), avro::<Total>(TOTAL))
            .unwrap()
            .read_key_values_to_list()
            .unwrap()
    };
    let total = |sales, items, spent| Total {
        sales,
        items,
        spent,
    };
    assert_eq!(
        read_totals(&driver),
        vec![
            ("ann".to_string(), total(1, 1, 10.0)),
            ("ann".to_string(), total(2, 5, 15.0)),
            ("bob".to_string(), total(1, 1, 1.5)),
            ("ann".to_string(), total(3, 7, 17.5)),
        ]
    );
    let latest = client().latest("sales-value").unwrap();
    assert_eq!((latest.version, &*latest.schema), (2, &schema(SALE_V2)));
    // The state carries over a restart from its changelog (Avro values with Apicurio's ids).
    driver.restart().unwrap();
    new.pipe_key_value("bob".into(), v2("bob", 0.5, 3)).unwrap();
    assert_eq!(
        read_totals(&driver),
        vec![("bob".to_string(), total(2, 4, 2.0))]
    );
}
