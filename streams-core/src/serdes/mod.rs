//! Serializers and deserializers: how typed keys and values become bytes at the edges of a
//! topology (topics and stores), and back.
//!
//! A null (a missing key, or a tombstone value) is explicit: serializers say
//! [`Encoded::Null`], deserializers receive `None`. The built-in serdes for plain types refuse a
//! null with [`SerdeError::UnexpectedNull`]; wrap them in [`Serdes::optional`] (the default serde
//! of `Option<T>`) to read and write tombstones as `None`.
//!
//! ```
//! use streams_core::{Headers, Serdes, Serializer, Deserializer};
//!
//! let serde = Serdes::i64();
//! let bytes = serde.to_bytes("topic", &42).unwrap();
//! assert_eq!(bytes, Some(42i64.to_be_bytes().to_vec()));
//! assert_eq!(serde.deserialize("topic", &Headers::new(), bytes.as_deref()).unwrap(), 42);
//!
//! let optional = Serdes::optional(Serdes::string());
//! assert_eq!(optional.to_bytes("topic", &None).unwrap(), None);
//! ```

mod builtin;
mod list;
mod registry;

use std::sync::Arc;

use thiserror::Error;

pub use builtin::{
    BigEndianSerde, BooleanSerde, ByteBufferSerde, BytesSerde, FixedWidth, JsonSerde,
    OptionalSerde, StringSerde, UnitSerde, UuidSerde,
};
pub use list::ListSerde;
pub use registry::SerdeRegistry;

use crate::Headers;

/// Whether a serializer wrote bytes or stands for a null.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoded {
    /// The bytes written to the output buffer are the encoding.
    Bytes,
    /// The value is a null: a null key, or a tombstone value. Nothing was written.
    Null,
}

/// Why bytes could not become a value, or a value bytes.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SerdeError {
    /// A null where the type has no null; use an optional serde to accept tombstones.
    #[error("unexpected null (a missing key or a tombstone); use an optional serde to accept it")]
    UnexpectedNull,
    /// A fixed-width encoding of the wrong length.
    #[error("expected {expected} bytes, got {actual}")]
    InvalidLength {
        /// The encoding's width.
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// Bytes that are not valid UTF-8 where a string was expected.
    #[error("invalid UTF-8: {0}")]
    InvalidUtf8(String),
    /// Bytes where only a null is valid (the unit type).
    #[error("expected a null, got {0} bytes")]
    ExpectedNull(usize),
    /// JSON that does not parse into the expected type, or a value JSON cannot encode.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// Avro data that does not decode with its writer's schema, does not resolve to the
    /// reader's schema, or a value that does not fit the schema it is written with.
    #[error("invalid Avro: {0}")]
    Avro(String),
    /// Bytes that are not in the Schema Registry wire format (magic byte 0, a 4-byte schema id,
    /// the body).
    #[error("not in the Schema Registry wire format: {0}")]
    WireFormat(String),
    /// The Schema Registry could not give what the serde needed (boxed: it is rare, and
    /// keeps every serde result small).
    #[error(transparent)]
    SchemaRegistry(Box<SchemaRegistryError>),
    /// A user serde's own failure.
    #[error("{0}")]
    Custom(String),
}

impl From<SchemaRegistryError> for SerdeError {
    fn from(error: SchemaRegistryError) -> Self {
        Self::SchemaRegistry(Box::new(error))
    }
}

/// Why a Schema Registry could not give a schema or an id: the typed errors that registry
/// serdes report through [`SerdeError::SchemaRegistry`], so that they reach the
/// deserialization or production handlers.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum SchemaRegistryError {
    /// No answer from the registry (connection refused, timed out, TLS failed).
    #[error("schema registry unreachable: {0}")]
    Unreachable(String),
    /// The registry knows no schema with this id.
    #[error("schema id {0} is unknown to the schema registry")]
    UnknownSchemaId(u32),
    /// The registry knows no such subject, or not this schema under it.
    #[error("subject {subject:?} not found in the schema registry: {message}")]
    NotFound {
        /// The subject.
        subject: String,
        /// The registry's message.
        message: String,
    },
    /// The schema is incompatible with the subject's earlier versions under its
    /// compatibility rule.
    #[error("schema incompatible with subject {subject:?}: {message}")]
    Incompatible {
        /// The subject.
        subject: String,
        /// The registry's message.
        message: String,
    },
    /// The registry found the schema invalid.
    #[error("schema refused as invalid by the schema registry: {0}")]
    InvalidSchema(String),
    /// Any other refusal, with the HTTP status and the registry's error code.
    #[error("schema registry error (HTTP {status}, code {code}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The registry's `error_code`.
        code: i64,
        /// The registry's message.
        message: String,
    },
    /// An answer the client could not read.
    #[error("unreadable schema registry answer: {0}")]
    BadResponse(String),
}

/// Turns values of type `T` into bytes.
pub trait Serializer<T: ?Sized>: Send + Sync {
    /// Appends the encoding of `value` to `out`, or returns [`Encoded::Null`] for a null.
    /// `topic` is where the bytes go; the serializer may add headers.
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError>;

    /// Whether `value` encodes as a null, without encoding it (stores and caches use this to
    /// treat such a value as a delete). Serdes that can produce [`Encoded::Null`] override it.
    fn is_null(&self, value: &T) -> bool {
        let _ = value;
        false
    }

    /// A description of the encoding this serde writes (an Avro serde gives its schema),
    /// which a store records beside its data so that a later start detects a changed serde;
    /// `None` (the default) records nothing.
    fn encoding(&self) -> Option<String> {
        None
    }

    /// The encoding of `value` in a new buffer, `None` for a null; headers are not kept.
    fn to_bytes(&self, topic: &str, value: &T) -> Result<Option<Vec<u8>>, SerdeError> {
        let mut out = Vec::new();
        match self.serialize(topic, &mut Headers::new(), value, &mut out)? {
            Encoded::Bytes => Ok(Some(out)),
            Encoded::Null => Ok(None),
        }
    }
}

/// Turns bytes back into values of type `T`.
pub trait Deserializer<T>: Send + Sync {
    /// The value encoded by `data`; `None` is a null (a missing key or a tombstone).
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<T, SerdeError>;

    /// Whether this serde reads data written in `recorded`, an encoding that a serde's
    /// [`Serializer::encoding`] described (for Avro: whether the recorded writer's schema
    /// resolves to this serde's); the reason if not. The default reads anything.
    fn reads(&self, recorded: &str) -> Result<(), String> {
        let _ = recorded;
        Ok(())
    }

    /// Whether this serde reads `data`, a value some serde wrote earlier, judged by what the
    /// bytes say of their writer (for an Avro registry serde: the schema id in the frame)
    /// without decoding them; if not, how the bytes were written and why that cannot be read.
    /// Stores check each value they restore from a changelog with it, so that a store rebuilt
    /// on a new machine refuses an incompatible serde at start, as [`reads`](Self::reads)
    /// makes a local copy do, and not at its first read. The default reads anything.
    fn reads_written(&self, data: &[u8]) -> Result<(), String> {
        let _ = data;
        Ok(())
    }
}

/// A serializer and deserializer pair for `T`.
pub trait Serde<T>: Serializer<T> + Deserializer<T> {}

impl<T, S: Serializer<T> + Deserializer<T>> Serde<T> for S {}

/// A shared, type-erased serde, as configuration objects hold them.
pub type SerdeRef<T> = Arc<dyn Serde<T>>;

/// Types with a serde chosen by their type: the serde used where none is given.
///
/// Implemented for `String`, `Vec<u8>`, `bytes::Bytes`, `i16`, `i32`, `i64`, `u32`, `u64`, `f32`,
/// `f64`, `bool`, `uuid::Uuid`, `()` and `Option<T>`.
/// Implement it for a type of your own to use the DSL's methods that take no serdes.
pub trait DefaultSerde: Sized + 'static {
    /// The serde for this type.
    fn default_serde() -> SerdeRef<Self>;
}

/// Constructors for the built-in serdes.
#[derive(Debug)]
pub struct Serdes;

impl Serdes {
    /// UTF-8 strings.
    pub fn string() -> SerdeRef<String> {
        Arc::new(StringSerde)
    }

    /// Raw bytes, unchanged.
    pub fn bytes() -> SerdeRef<Vec<u8>> {
        Arc::new(BytesSerde)
    }

    /// Shared byte buffers, unchanged (Kafka's `ByteBufferSerde`).
    pub fn byte_buffer() -> SerdeRef<bytes::Bytes> {
        Arc::new(ByteBufferSerde)
    }

    /// `i16`, 2 bytes big-endian (Kafka's `ShortSerde`).
    pub fn i16() -> SerdeRef<i16> {
        Arc::new(BigEndianSerde::<i16>::new())
    }

    /// `i32`, 4 bytes big-endian (Kafka's `IntegerSerde`).
    pub fn i32() -> SerdeRef<i32> {
        Arc::new(BigEndianSerde::<i32>::new())
    }

    /// `i64`, 8 bytes big-endian (Kafka's `LongSerde`).
    pub fn i64() -> SerdeRef<i64> {
        Arc::new(BigEndianSerde::<i64>::new())
    }

    /// `u32`, 4 bytes big-endian.
    pub fn u32() -> SerdeRef<u32> {
        Arc::new(BigEndianSerde::<u32>::new())
    }

    /// `u64`, 8 bytes big-endian.
    pub fn u64() -> SerdeRef<u64> {
        Arc::new(BigEndianSerde::<u64>::new())
    }

    /// `f32`, 4 bytes big-endian IEEE 754 (Kafka's `FloatSerde`).
    pub fn f32() -> SerdeRef<f32> {
        Arc::new(BigEndianSerde::<f32>::new())
    }

    /// `bool`, one byte `0x01` or `0x00` (Kafka's `BooleanSerde`).
    pub fn boolean() -> SerdeRef<bool> {
        Arc::new(BooleanSerde)
    }

    /// UUIDs as their 36-character text in UTF-8 (Kafka's `UUIDSerde`).
    pub fn uuid() -> SerdeRef<uuid::Uuid> {
        Arc::new(UuidSerde)
    }

    /// `f64`, 8 bytes big-endian IEEE 754 (Kafka's `DoubleSerde`).
    pub fn f64() -> SerdeRef<f64> {
        Arc::new(BigEndianSerde::<f64>::new())
    }

    /// The unit type, always a null (Kafka's `VoidSerde`): for topics without keys.
    pub fn unit() -> SerdeRef<()> {
        Arc::new(UnitSerde)
    }

    /// JSON for any `serde` type.
    pub fn json<T>() -> SerdeRef<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + 'static,
    {
        Arc::new(JsonSerde::<T>::new())
    }

    /// `Option<T>` over `inner`: `None` is a null (a tombstone), `Some` uses `inner`.
    pub fn optional<T: 'static>(inner: SerdeRef<T>) -> SerdeRef<Option<T>> {
        Arc::new(OptionalSerde::new(inner))
    }

    /// `Vec<T>` over `inner`: each element behind its length.
    pub fn list<T: 'static>(inner: SerdeRef<T>) -> SerdeRef<Vec<T>> {
        Arc::new(ListSerde::new(inner))
    }
}

macro_rules! default_serde {
    ($($t:ty => $ctor:ident),* $(,)?) => {
        $(impl DefaultSerde for $t {
            fn default_serde() -> SerdeRef<Self> {
                Serdes::$ctor()
            }
        })*
    };
}

default_serde!(
    String => string,
    Vec<u8> => bytes,
    bytes::Bytes => byte_buffer,
    i16 => i16,
    i32 => i32,
    i64 => i64,
    u32 => u32,
    u64 => u64,
    f32 => f32,
    f64 => f64,
    bool => boolean,
    uuid::Uuid => uuid,
    () => unit,
);

impl<T: DefaultSerde> DefaultSerde for Option<T> {
    fn default_serde() -> SerdeRef<Self> {
        Serdes::optional(T::default_serde())
    }
}

impl DefaultSerde for serde_json::Value {
    fn default_serde() -> SerdeRef<Self> {
        Serdes::json()
    }
}
