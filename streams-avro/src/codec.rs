//! What typed and generic Avro serdes share: which schema id to write a topic's values with,
//! and the writer's schema of an id read, both cached so that after the first record of a
//! topic (and of each writer schema) no record calls the registry.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use apache_avro::Schema;
use streams_core::SerdeError;

use crate::client::SchemaRegistryClient;
use crate::SubjectNameStrategy;

/// How an Avro serde uses the registry (Confluent's serde settings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvroSerdeConfig {
    /// Whether the serde is for keys (subjects end in `-key`) or values.
    pub is_key: bool,
    /// Registers the serde's schema on first use (`auto.register.schemas`, default on). Off,
    /// the schema must already be registered under the subject.
    pub auto_register: bool,
    /// Writes with the latest schema of the subject instead of the serde's own
    /// (`use.latest.version`, default off); the value is resolved to it.
    pub use_latest_version: bool,
    /// How subjects are named.
    pub subject_strategy: SubjectNameStrategy,
}

impl Default for AvroSerdeConfig {
    fn default() -> Self {
        Self::value()
    }
}

impl AvroSerdeConfig {
    /// The defaults for values: auto-register, the serde's own schema, topic subjects.
    pub fn value() -> Self {
        Self {
            is_key: false,
            auto_register: true,
            use_latest_version: false,
            subject_strategy: SubjectNameStrategy::TopicName,
        }
    }

    /// The defaults for keys.
    pub fn key() -> Self {
        Self {
            is_key: true,
            ..Self::value()
        }
    }

    /// With auto-registration on or off.
    pub fn auto_register(mut self, on: bool) -> Self {
        self.auto_register = on;
        self
    }

    /// Writing with the subject's latest schema, or not.
    pub fn use_latest_version(mut self, on: bool) -> Self {
        self.use_latest_version = on;
        self
    }

    /// With another subject name strategy.
    pub fn subject_strategy(mut self, strategy: SubjectNameStrategy) -> Self {
        self.subject_strategy = strategy;
        self
    }
}

/// The schema a topic's records are written with.
#[derive(Clone, Debug)]
pub(crate) struct WriterSchema {
    pub(crate) id: u32,
    /// `None` when it is the serde's own schema; the subject's latest otherwise.
    pub(crate) other: Option<Arc<Schema>>,
}

/// The schema an id read names, and whether its encoding is the reader's own.
#[derive(Clone, Debug)]
pub(crate) struct ReadSchema {
    pub(crate) schema: Arc<Schema>,
    pub(crate) same_as_reader: bool,
}

pub(crate) struct Codec {
    pub(crate) client: Arc<SchemaRegistryClient>,
    pub(crate) schema: Arc<Schema>,
    canonical: String,
    pub(crate) config: AvroSerdeConfig,
    writers: RwLock<HashMap<String, WriterSchema>>,
    readers: RwLock<HashMap<u32, ReadSchema>>,
    /// Whether the serde's schema reads the writer's schema of an id: judged once per id.
    verdicts: RwLock<HashMap<u32, Result<(), String>>>,
}

pub(crate) fn avro_error(e: apache_avro::Error) -> SerdeError {
    SerdeError::Avro(e.to_string())
}

impl Codec {
    pub(crate) fn new(
        client: Arc<SchemaRegistryClient>,
        schema: Schema,
        config: AvroSerdeConfig,
    ) -> Self {
        Self {
            client,
            canonical: schema.canonical_form(),
            schema: Arc::new(schema),
            config,
            writers: RwLock::default(),
            readers: RwLock::default(),
            verdicts: RwLock::default(),
        }
    }

    /// The serde's schema as a store records it: its full JSON.
    pub(crate) fn encoding(&self) -> String {
        crate::client::schema_text(&self.schema)
    }

    /// Whether data written with the schema `recorded` (JSON) resolves to the serde's.
    pub(crate) fn reads(&self, recorded: &str) -> Result<(), String> {
        let writer = Schema::parse_str(recorded)
            .map_err(|e| format!("the recorded schema does not parse: {e}"))?;
        apache_avro::schema_compatibility::SchemaCompatibility::can_read(&writer, &self.schema)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Whether the serde reads `data`, a framed value, by the writer's schema its id names.
    /// A registry that cannot be reached leaves the question open (`Ok`): the value's first
    /// read then meets the same registry and reports its error as any read does.
    pub(crate) fn reads_written(&self, data: &[u8]) -> Result<(), String> {
        let (id, _) = crate::wire::split(data).map_err(|e| {
            format!(
                "is not a value of the Schema Registry wire format that Avro serdes write ({e})"
            )
        })?;
        if let Some(verdict) = self
            .verdicts
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            return verdict.clone();
        }
        let verdict = match self.reader(id) {
            Ok(writer) if writer.same_as_reader => Ok(()),
            Ok(writer) => apache_avro::schema_compatibility::SchemaCompatibility::can_read(
                &writer.schema,
                &self.schema,
            )
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "was written with schema id {id}, {}, which the serde's schema cannot \
                         read ({e})",
                    crate::client::schema_text(&writer.schema)
                )
            }),
            Err(SerdeError::SchemaRegistry(e))
                if matches!(*e, streams_core::SchemaRegistryError::Unreachable(_)) =>
            {
                return Ok(());
            }
            Err(e) => Err(format!(
                "was written with schema id {id}, which cannot be read: {e}"
            )),
        };
        self.verdicts
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, verdict.clone());
        verdict
    }

    /// The subject of the serde's schema in `topic`.
    pub(crate) fn subject(&self, topic: &str) -> String {
        self.config
            .subject_strategy
            .subject(topic, self.config.is_key, &self.schema)
    }

    /// The schema to write `topic`'s records with: looked up (or registered) once per topic.
    pub(crate) fn writer(&self, topic: &str) -> Result<WriterSchema, SerdeError> {
        if let Some(writer) = self
            .writers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
        {
            return Ok(writer.clone());
        }
        let subject = self.subject(topic);
        let writer = if self.config.use_latest_version {
            let latest = self.client.latest(&subject)?;
            let other = (latest.schema.canonical_form() != self.canonical).then_some(latest.schema);
            WriterSchema {
                id: latest.id,
                other,
            }
        } else if self.config.auto_register {
            WriterSchema {
                id: self.client.register(&subject, &self.schema)?,
                other: None,
            }
        } else {
            WriterSchema {
                id: self.client.id_of(&subject, &self.schema)?,
                other: None,
            }
        };
        self.writers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(topic.to_string(), writer.clone());
        Ok(writer)
    }

    /// The writer's schema of id `id`, fetched once per id.
    pub(crate) fn reader(&self, id: u32) -> Result<ReadSchema, SerdeError> {
        if let Some(read) = self
            .readers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&id)
        {
            return Ok(read.clone());
        }
        let schema = self.client.schema_by_id(id)?;
        let read = ReadSchema {
            same_as_reader: schema.canonical_form() == self.canonical,
            schema,
        };
        self.readers
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, read.clone());
        Ok(read)
    }

    /// Decodes `body`, written with `writer`, as a value of the serde's schema.
    pub(crate) fn read_value(
        &self,
        writer: &ReadSchema,
        body: &mut &[u8],
    ) -> Result<apache_avro::types::Value, SerdeError> {
        let reader = apache_avro::reader::datum::GenericDatumReader::builder(&writer.schema);
        let reader = if writer.same_as_reader {
            reader.build()
        } else {
            reader.reader_schema(&self.schema).build()
        };
        reader
            .map_err(avro_error)?
            .read_value(body)
            .map_err(avro_error)
    }

    /// Encodes `value` (of the serde's schema) with `schema`, resolving it first if that is
    /// another schema.
    pub(crate) fn write_value(
        &self,
        value: &apache_avro::types::Value,
        other: Option<&Schema>,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        let (value, schema) = match other {
            Some(schema) => (
                std::borrow::Cow::Owned(value.clone().resolve(schema).map_err(avro_error)?),
                schema,
            ),
            None => (std::borrow::Cow::Borrowed(value), &*self.schema),
        };
        apache_avro::writer::datum::GenericDatumWriter::builder(schema)
            .build()
            .map_err(avro_error)?
            .write_value_ref(out, &value)
            .map_err(avro_error)?;
        Ok(())
    }
}
