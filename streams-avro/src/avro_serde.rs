//! Avro serdes over the registry: typed (`serde` types with an Avro schema) and generic
//! (Avro values).

use std::marker::PhantomData;
use std::sync::Arc;

use apache_avro::types::Value;
use apache_avro::{AvroSchema, Schema};
use streams_core::{Deserializer, Encoded, Headers, SerdeError, Serializer};

use crate::client::SchemaRegistryClient;
use crate::codec::{avro_error, AvroSerdeConfig, Codec};
use crate::wire;

fn frame(
    codec: &Codec,
    topic: &str,
    out: &mut Vec<u8>,
    value: &Value,
) -> Result<Encoded, SerdeError> {
    let writer = codec.writer(topic)?;
    let start = out.len();
    wire::write_header(writer.id, out);
    if let Err(e) = codec.write_value(value, writer.other.as_deref(), out) {
        out.truncate(start);
        return Err(e);
    }
    Ok(Encoded::Bytes)
}

fn unframe(codec: &Codec, data: Option<&[u8]>) -> Result<Value, SerdeError> {
    let (id, mut body) = wire::split(data.ok_or(SerdeError::UnexpectedNull)?)?;
    let writer = codec.reader(id)?;
    codec.read_value(&writer, &mut body)
}

/// Values of a `serde` type `T` in Avro, framed in the Schema Registry wire format: written
/// with the serde's schema (registered on first use, see [`AvroSerdeConfig`]), read with the
/// writer's schema (fetched by the id in the frame) resolved to the serde's, so records of
/// an older or newer compatible schema read correctly.
///
/// The schema is given ([`AvroSerde::new`]) or `T`'s own ([`AvroSerde::derived`], for types
/// that implement `apache_avro::AvroSchema`, by hand or with `apache_avro`'s derive). A null (tombstone) is refused; wrap the
/// serde in `Serdes::optional` to read tombstones as `None`.
pub struct AvroSerde<T> {
    codec: Codec,
    _type: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for AvroSerde<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvroSerde")
            .field("schema", &self.codec.schema.canonical_form())
            .field("config", &self.codec.config)
            .finish()
    }
}

impl<T> AvroSerde<T> {
    /// `T` with the Avro schema `schema`.
    pub fn new(client: Arc<SchemaRegistryClient>, schema: Schema, config: AvroSerdeConfig) -> Self {
        Self {
            codec: Codec::new(client, schema, config),
            _type: PhantomData,
        }
    }

    /// The serde's (the reader's) schema.
    pub fn schema(&self) -> &Schema {
        &self.codec.schema
    }

    /// The subject this serde registers under for `topic`.
    pub fn subject(&self, topic: &str) -> String {
        self.codec.subject(topic)
    }
}

impl<T: AvroSchema> AvroSerde<T> {
    /// `T` with the schema its `AvroSchema` derive gives.
    pub fn derived(client: Arc<SchemaRegistryClient>, config: AvroSerdeConfig) -> Self {
        Self::new(client, T::get_schema(), config)
    }
}

impl<T: serde::Serialize> Serializer<T> for AvroSerde<T> {
    fn encoding(&self) -> Option<String> {
        Some(self.codec.encoding())
    }

    fn serialize(
        &self,
        topic: &str,
        _: &mut Headers,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        let value = apache_avro::to_value(value)
            .and_then(|v| v.resolve(&self.codec.schema))
            .map_err(avro_error)?;
        frame(&self.codec, topic, out, &value)
    }
}

impl<T: serde::de::DeserializeOwned> Deserializer<T> for AvroSerde<T> {
    fn reads(&self, recorded: &str) -> Result<(), String> {
        self.codec.reads(recorded)
    }

    fn reads_written(&self, data: &[u8]) -> Result<(), String> {
        self.codec.reads_written(data)
    }

    fn deserialize(&self, _: &str, _: &Headers, data: Option<&[u8]>) -> Result<T, SerdeError> {
        let value = unframe(&self.codec, data)?;
        apache_avro::from_value(&value).map_err(avro_error)
    }
}

/// Avro values of one schema, framed in the Schema Registry wire format: written with the
/// serde's schema, read with the writer's schema resolved to it (Confluent's
/// `GenericAvroSerde`, with a reader schema).
pub struct GenericAvroSerde {
    codec: Codec,
}

impl std::fmt::Debug for GenericAvroSerde {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenericAvroSerde")
            .field("schema", &self.codec.schema.canonical_form())
            .field("config", &self.codec.config)
            .finish()
    }
}

impl GenericAvroSerde {
    /// Values of `schema`.
    pub fn new(client: Arc<SchemaRegistryClient>, schema: Schema, config: AvroSerdeConfig) -> Self {
        Self {
            codec: Codec::new(client, schema, config),
        }
    }

    /// The serde's (the reader's) schema.
    pub fn schema(&self) -> &Schema {
        &self.codec.schema
    }
}

impl Serializer<Value> for GenericAvroSerde {
    fn encoding(&self) -> Option<String> {
        Some(self.codec.encoding())
    }

    fn serialize(
        &self,
        topic: &str,
        _: &mut Headers,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        frame(&self.codec, topic, out, value)
    }
}

impl Deserializer<Value> for GenericAvroSerde {
    fn reads(&self, recorded: &str) -> Result<(), String> {
        self.codec.reads(recorded)
    }

    fn reads_written(&self, data: &[u8]) -> Result<(), String> {
        self.codec.reads_written(data)
    }

    fn deserialize(&self, _: &str, _: &Headers, data: Option<&[u8]>) -> Result<Value, SerdeError> {
        unframe(&self.codec, data)
    }
}
