//! Avro serdes over a Confluent-compatible Schema Registry (Confluent Schema Registry, or
//! Apicurio Registry's `/apis/ccompat/v7` API).
//!
//! - [`wire`]: the wire format, magic byte 0, the 4-byte big-endian schema id, the Avro body.
//! - [`SchemaRegistryClient`]: register, look up by id, latest version of a subject,
//!   compatibility; ids and schemas cached, basic auth and TLS.
//! - [`AvroSerde`] (typed, `serde` types) and [`GenericAvroSerde`] (Avro values): usable
//!   wherever a serde is (sources, sinks, stores, changelogs, repartition topics, joins).
//!   Records are read with their writer's schema resolved to the serde's, so producers on an
//!   older or newer compatible schema are read correctly, and so is state written before a
//!   compatible change of the serde's schema.
//!
//! Registry failures (unreachable, unknown id, incompatible schema) are
//! [`streams_core::SchemaRegistryError`]s inside [`streams_core::SerdeError`], so they reach
//! the deserialization handler (input) or fail the production (output) like any serde error.
//!
//! ```no_run
//! use std::sync::Arc;
//! use apache_avro::Schema;
//! use streams_avro::{AvroSerde, AvroSerdeConfig, SchemaRegistryClient, SchemaRegistryConfig};
//!
//! #[derive(serde::Serialize, serde::Deserialize)]
//! struct Order {
//!     id: i64,
//!     amount: f64,
//! }
//!
//! let schema = Schema::parse_str(
//!     r#"{"type":"record","name":"Order","fields":[
//!         {"name":"id","type":"long"},{"name":"amount","type":"double"}]}"#,
//! )?;
//! let client = Arc::new(SchemaRegistryClient::new(SchemaRegistryConfig::new("http://localhost:8081"))?);
//! let orders = Arc::new(AvroSerde::<Order>::new(client, schema, AvroSerdeConfig::value()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod avro_serde;
mod client;
mod codec;
#[cfg(feature = "registry-server")]
pub mod registry_server;
mod strategy;
pub mod wire;

pub use apache_avro;
pub use avro_serde::{AvroSerde, GenericAvroSerde};
pub use client::{
    RegisteredSchema, RegistryConfigError, SchemaRegistryClient, SchemaRegistryConfig,
};
pub use codec::AvroSerdeConfig;
pub use strategy::SubjectNameStrategy;
