//! The registry client against a registry that follows the Confluent REST API: register,
//! look up, latest, compatibility, typed refusals, basic auth, an API prefix (Apicurio's),
//! and the caches that keep the registry off the hot path.

use std::sync::Arc;
use std::time::Duration;

use apache_avro::types::Value;
use apache_avro::Schema;
use serde::{Deserialize, Serialize};
use streams_avro::registry_server::{RegistryServer, ServerOptions};
use streams_avro::{
    AvroSerde, AvroSerdeConfig, GenericAvroSerde, SchemaRegistryClient, SchemaRegistryConfig,
    SubjectNameStrategy,
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

fn schema(text: &str) -> Schema {
    Schema::parse_str(text).expect("schema")
}

fn client(url: &str) -> Arc<SchemaRegistryClient> {
    Arc::new(
        SchemaRegistryClient::new(SchemaRegistryConfig::new(url).timeout(Duration::from_secs(5)))
            .expect("client"),
    )
}

#[test]
fn schemas_register_once_and_are_found_by_id_and_subject() {
    let registry = RegistryServer::start().unwrap();
    let client = client(registry.url());
    let id = client.register("orders-value", &schema(V1)).unwrap();
    // The same schema again (from another client, so not from a cache) has the same id.
    assert_eq!(
        self::client(registry.url())
            .register("orders-value", &schema(V1))
            .unwrap(),
        id
    );
    assert_eq!(
        *self::client(registry.url()).schema_by_id(id).unwrap(),
        schema(V1)
    );
    let latest = client.latest("orders-value").unwrap();
    assert_eq!((latest.id, latest.version), (id, 1));
    assert_eq!(client.id_of("orders-value", &schema(V1)).unwrap(), id);

    assert!(client.is_compatible("orders-value", &schema(V2)).unwrap());
    assert!(!client
        .is_compatible("orders-value", &schema(V2_NO_DEFAULT))
        .unwrap());
    let v2 = client.register("orders-value", &schema(V2)).unwrap();
    assert_ne!(v2, id);
    let latest = self::client(registry.url()).latest("orders-value").unwrap();
    assert_eq!((latest.id, latest.version), (v2, 2));
}

#[test]
fn refusals_are_typed_errors() {
    let registry = RegistryServer::start().unwrap();
    let client = client(registry.url());
    client.register("orders-value", &schema(V1)).unwrap();
    match client.register("orders-value", &schema(V2_NO_DEFAULT)) {
        Err(SchemaRegistryError::Incompatible { subject, message }) => {
            assert_eq!(subject, "orders-value");
            assert!(message.contains("incompatible"), "{message}");
        }
        other => panic!("expected an incompatible schema, got {other:?}"),
    }
    assert_eq!(
        client.schema_by_id(999).unwrap_err(),
        SchemaRegistryError::UnknownSchemaId(999)
    );
    assert!(matches!(
        client.latest("nothing-value"),
        Err(SchemaRegistryError::NotFound { subject, .. }) if subject == "nothing-value"
    ));
    assert!(matches!(
        client.id_of("orders-value", &schema(V2)),
        Err(SchemaRegistryError::NotFound { .. })
    ));
}

#[test]
fn basic_auth_and_an_api_prefix_reach_the_registry() {
    let registry = RegistryServer::start_with(ServerOptions {
        prefix: "/apis/ccompat/v7".into(),
        basic_auth: Some(("app".into(), "s3cret".into())),
    })
    .unwrap();
    assert!(registry.url().ends_with("/apis/ccompat/v7"));
    let anonymous = client(registry.url());
    assert!(matches!(
        anonymous.register("t-value", &schema(V1)),
        Err(SchemaRegistryError::Rejected { status: 401, .. })
    ));
    let wrong = SchemaRegistryClient::new(
        SchemaRegistryConfig::new(registry.url()).basic_auth("app", "guess"),
    )
    .unwrap();
    assert!(matches!(
        wrong.register("t-value", &schema(V1)),
        Err(SchemaRegistryError::Rejected { status: 401, .. })
    ));
    let user = SchemaRegistryClient::new(
        SchemaRegistryConfig::new(registry.url()).basic_auth("app", "s3cret"),
    )
    .unwrap();
    let id = user.register("t-value", &schema(V1)).unwrap();
    assert_eq!(*user.schema_by_id(id).unwrap(), schema(V1));
}

#[test]
fn typed_values_are_framed_with_their_schema_id() {
    let registry = RegistryServer::start().unwrap();
    let serde =
        AvroSerde::<Order>::new(client(registry.url()), schema(V1), AvroSerdeConfig::value());
    let order = Order {
        id: 1,
        item: "ab".into(),
    };
    let bytes = serde.to_bytes("orders", &order).unwrap().unwrap();
    // Magic byte, schema id 1 big-endian, then Avro binary: the long 1 as the zig-zag varint
    // 0x02, the string "ab" as its length 2 (0x04) and its bytes.
    assert_eq!(bytes, [0, 0, 0, 0, 1, 0x02, 0x04, b'a', b'b']);
    assert_eq!(
        serde
            .deserialize("orders", &Headers::new(), Some(&bytes))
            .unwrap(),
        order
    );
    assert_eq!(serde.subject("orders"), "orders-value");
    assert_eq!(
        AvroSerde::<Order>::new(
            client(registry.url()),
            schema(V1),
            AvroSerdeConfig::key().subject_strategy(SubjectNameStrategy::TopicRecordName)
        )
        .subject("orders"),
        "orders-shop.Order"
    );
}

#[test]
fn records_of_an_older_or_newer_schema_resolve_to_the_readers() {
    let registry = RegistryServer::start().unwrap();
    let v1 = GenericAvroSerde::new(client(registry.url()), schema(V1), AvroSerdeConfig::value());
    let v2 = GenericAvroSerde::new(client(registry.url()), schema(V2), AvroSerdeConfig::value());
    let old = Value::Record(vec![
        ("id".into(), Value::Long(1)),
        ("item".into(), Value::String("tea".into())),
    ]);
    let new = Value::Record(vec![
        ("id".into(), Value::Long(2)),
        ("item".into(), Value::String("cake".into())),
        ("quantity".into(), Value::Int(3)),
    ]);
    let old_bytes = v1.to_bytes("orders", &old).unwrap();
    let new_bytes = v2.to_bytes("orders", &new).unwrap();
    let h = Headers::new();
    // v2 reads v1's record with the default quantity; v1 reads v2's without the new field.
    assert_eq!(
        v2.deserialize("orders", &h, old_bytes.as_deref()).unwrap(),
        Value::Record(vec![
            ("id".into(), Value::Long(1)),
            ("item".into(), Value::String("tea".into())),
            ("quantity".into(), Value::Int(1)),
        ])
    );
    let typed =
        AvroSerde::<Order>::new(client(registry.url()), schema(V1), AvroSerdeConfig::value());
    assert_eq!(
        typed
            .deserialize("orders", &h, new_bytes.as_deref())
            .unwrap(),
        Order {
            id: 2,
            item: "cake".into()
        }
    );
}

#[test]
fn without_auto_register_an_unregistered_schema_is_refused_and_latest_version_is_used() {
    let registry = RegistryServer::start().unwrap();
    let no_register = AvroSerdeConfig::value().auto_register(false);
    let serde = AvroSerde::<Order>::new(client(registry.url()), schema(V1), no_register);
    let order = Order {
        id: 5,
        item: "x".into(),
    };
    assert!(matches!(
        serde.to_bytes("orders", &order),
        Err(SerdeError::SchemaRegistry(e)) if matches!(*e, SchemaRegistryError::NotFound { .. })
    ));
    // Registered by someone else (an operator, a deploy), the same serde now writes.
    let admin = client(registry.url());
    let id = admin.register("orders-value", &schema(V1)).unwrap();
    let serde = AvroSerde::<Order>::new(client(registry.url()), schema(V1), no_register);
    assert_eq!(
        serde.to_bytes("orders", &order).unwrap().unwrap()[1..5],
        id.to_be_bytes()
    );

    // With use-latest-version, the record is written with the subject's latest schema (v2),
    // its new field taking its default.
    let v2 = admin.register("orders-value", &schema(V2)).unwrap();
    let latest = AvroSerde::<Order>::new(
        client(registry.url()),
        schema(V1),
        no_register.use_latest_version(true),
    );
    let bytes = latest.to_bytes("orders", &order).unwrap().unwrap();
    assert_eq!(bytes[1..5], v2.to_be_bytes());
    let reader =
        GenericAvroSerde::new(client(registry.url()), schema(V2), AvroSerdeConfig::value());
    assert_eq!(
        reader
            .deserialize("orders", &Headers::new(), Some(&bytes))
            .unwrap(),
        Value::Record(vec![
            ("id".into(), Value::Long(5)),
            ("item".into(), Value::String("x".into())),
            ("quantity".into(), Value::Int(1)),
        ])
    );
}

#[test]
fn after_warm_up_no_record_calls_the_registry() {
    let registry = RegistryServer::start().unwrap();
    let serde =
        AvroSerde::<Order>::new(client(registry.url()), schema(V1), AvroSerdeConfig::value());
    let order = Order {
        id: 9,
        item: "warm".into(),
    };
    let h = Headers::new();
    let bytes = serde.to_bytes("orders", &order).unwrap();
    serde.deserialize("orders", &h, bytes.as_deref()).unwrap();
    drop(registry);
    // The registry is gone: writes and reads of known topics and ids still work...
    for _ in 0..3 {
        let again = serde.to_bytes("orders", &order).unwrap();
        assert_eq!(again, bytes);
        assert_eq!(
            serde.deserialize("orders", &h, again.as_deref()).unwrap(),
            order
        );
    }
    // ...while a new topic needs it, and says it is unreachable.
    assert!(matches!(
        serde.to_bytes("other", &order),
        Err(SerdeError::SchemaRegistry(e)) if matches!(*e, SchemaRegistryError::Unreachable(_))
    ));
}

#[test]
fn bad_frames_and_bad_bodies_are_typed_errors() {
    let registry = RegistryServer::start().unwrap();
    let serde =
        AvroSerde::<Order>::new(client(registry.url()), schema(V1), AvroSerdeConfig::value());
    let h = Headers::new();
    assert!(matches!(
        serde.deserialize("orders", &h, Some(b"{\"json\":1}")),
        Err(SerdeError::WireFormat(_))
    ));
    assert_eq!(
        serde.deserialize("orders", &h, None),
        Err(SerdeError::UnexpectedNull)
    );
    let good = serde
        .to_bytes(
            "orders",
            &Order {
                id: 1,
                item: "abc".into(),
            },
        )
        .unwrap()
        .unwrap();
    // The body cut short in the string.
    assert!(matches!(
        serde.deserialize("orders", &h, Some(&good[..good.len() - 2])),
        Err(SerdeError::Avro(_))
    ));
    assert_eq!(
        serde.deserialize("orders", &h, Some(&[0, 0, 0, 0, 42, 2])),
        Err(SchemaRegistryError::UnknownSchemaId(42).into())
    );
}
