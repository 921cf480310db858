use std::marker::PhantomData;

use super::{Deserializer, Encoded, SerdeError, SerdeRef, Serializer};
use crate::Headers;

fn require(data: Option<&[u8]>) -> Result<&[u8], SerdeError> {
    data.ok_or(SerdeError::UnexpectedNull)
}

/// UTF-8 strings.
#[derive(Clone, Copy, Debug, Default)]
pub struct StringSerde;

impl Serializer<String> for StringSerde {
    fn serialize(
        &self,
        _: &str,
        _: &mut Headers,
        value: &String,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        out.extend_from_slice(value.as_bytes());
        Ok(Encoded::Bytes)
    }
}

impl Deserializer<String> for StringSerde {
    fn deserialize(&self, _: &str, _: &Headers, data: Option<&[u8]>) -> Result<String, SerdeError> {
        let bytes = require(data)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|e| SerdeError::InvalidUtf8(e.to_string()))
    }
}

/// Raw bytes, unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesSerde;

impl Serializer<Vec<u8>> for BytesSerde {
    fn serialize(
        &self,
        _: &str,
        _: &mut Headers,
        value: &Vec<u8>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        out.extend_from_slice(value);
        Ok(Encoded::Bytes)
    }
}

impl Deserializer<Vec<u8>> for BytesSerde {
    fn deserialize(
        &self,
        _: &str,
        _: &Headers,
        data: Option<&[u8]>,
    ) -> Result<Vec<u8>, SerdeError> {
        require(data).map(<[u8]>::to_vec)
    }
}

/// Numbers with a fixed-width big-endian encoding, as Kafka's numeric serdes write them.
pub trait FixedWidth: Copy + Send + Sync + 'static {
    /// The encoding's width in bytes.
    const WIDTH: usize;
    /// Appends the big-endian encoding.
    fn write_be(self, out: &mut Vec<u8>);
    /// Reads the big-endian encoding from exactly `WIDTH` bytes.
    fn read_be(bytes: &[u8]) -> Self;
}

macro_rules! fixed_width {
    ($($t:ty),*) => {
        $(impl FixedWidth for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            fn write_be(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn read_be(bytes: &[u8]) -> Self {
                let mut array = [0u8; std::mem::size_of::<$t>()];
                array.copy_from_slice(bytes);
                <$t>::from_be_bytes(array)
            }
        })*
    };
}

fixed_width!(i16, i32, i64, u32, u64, f32, f64);

/// A number in its fixed-width big-endian encoding.
#[derive(Debug)]
pub struct BigEndianSerde<T>(PhantomData<fn() -> T>);

impl<T> BigEndianSerde<T> {
    /// The serde.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for BigEndianSerde<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: FixedWidth> Serializer<T> for BigEndianSerde<T> {
    fn serialize(
        &self,
        _: &str,
        _: &mut Headers,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        value.write_be(out);
        Ok(Encoded::Bytes)
    }
}

impl<T: FixedWidth> Deserializer<T> for BigEndianSerde<T> {
    fn deserialize(&self, _: &str, _: &Headers, data: Option<&[u8]>) -> Result<T, SerdeError> {
        let bytes = require(data)?;
        if bytes.len() != T::WIDTH {
            return Err(SerdeError::InvalidLength {
                expected: T::WIDTH,
                actual: bytes.len(),
            });
        }
        Ok(T::read_be(bytes))
    }
}

/// Booleans in one byte, `0x01` or `0x00`, as Kafka's `BooleanSerde`; any other byte is an
/// error.
#[derive(Clone, Copy, Debug, Default)]
pub struct BooleanSerde;

impl Serializer<bool> for BooleanSerde {
    fn serialize(
        &self,
        _: &str,
        _: &mut Headers,
        value: &bool,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        out.push(u8::from(*value));
        Ok(Encoded::Bytes)
    }
}

impl Deserializer<bool> for BooleanSerde {
    fn deserialize(&self, _: &str, _: &Headers, data: Option<&[u8]>) -> Result<bool, SerdeError> {
        match require(data)? {
            [0x01] => Ok(true),
            [0x00] => Ok(false),
            [other] => Err(SerdeError::Custom(format!(
                "a boolean is the byte 0x00 or 0x01, got 0x{other:02x}"
            ))),
            bytes => Err(SerdeError::InvalidLength {
                expected: 1,
                actual: bytes.len(),
            }),
        }
    }
}

/// UUIDs as Kafka's `UUIDSerde` writes them: the 36-character text form (lower-case hex with
/// hyphens) in UTF-8. Reading accepts any case.
#[derive(Clone, Copy, Debug, Default)]
pub struct UuidSerde;

impl Serializer<uuid::Uuid> for UuidSerde {
    fn serialize(
        &self,
        _: &str,
        _: &mut Headers,
        value: &uuid::Uuid,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        let mut text = uuid::Uuid::encode_buffer();
        out.extend_from_slice(value.hyphenated().encode_lower(&mut text).as_bytes());
        Ok(Encoded::Bytes)
    }
}

impl Deserializer<uuid::Uuid> for UuidSerde {
    fn deserialize(
        &self,
        _: &str,
        _: &Headers,
        data: Option<&[u8]>,
    ) -> Result<uuid::Uuid, SerdeError> {
        let bytes = require(data)?;
        let text =
            std::str::from_utf8(bytes).map_err(|e| SerdeError::InvalidUtf8(e.to_string()))?;
        uuid::Uuid::try_parse(text)
            .map_err(|e| SerdeError::Custom(format!("invalid UUID {text:?}: {e}")))
    }
}

/// Shared byte buffers ([`bytes::Bytes`]), unchanged: Kafka's `ByteBufferSerde` layout (the
/// buffer's bytes), without copying on reads of a shared buffer's clones.
#[derive(Clone, Copy, Debug, Default)]
pub struct ByteBufferSerde;

impl Serializer<bytes::Bytes> for ByteBufferSerde {
    fn serialize(
        &self,
        _: &str,
        _: &mut Headers,
        value: &bytes::Bytes,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        out.extend_from_slice(value);
        Ok(Encoded::Bytes)
    }
}

impl Deserializer<bytes::Bytes> for ByteBufferSerde {
    fn deserialize(
        &self,
        _: &str,
        _: &Headers,
        data: Option<&[u8]>,
    ) -> Result<bytes::Bytes, SerdeError> {
        require(data).map(bytes::Bytes::copy_from_slice)
    }
}

/// The unit type: always a null, as Kafka's `VoidSerde`.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnitSerde;

impl Serializer<()> for UnitSerde {
    fn is_null(&self, _: &()) -> bool {
        true
    }

    fn serialize(
        &self,
        _: &str,
        _: &mut Headers,
        _: &(),
        _: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        Ok(Encoded::Null)
    }
}

impl Deserializer<()> for UnitSerde {
    fn deserialize(&self, _: &str, _: &Headers, data: Option<&[u8]>) -> Result<(), SerdeError> {
        match data {
            None => Ok(()),
            Some(bytes) => Err(SerdeError::ExpectedNull(bytes.len())),
        }
    }
}

/// JSON through `serde_json`, for any `serde` type.
#[derive(Debug)]
pub struct JsonSerde<T>(PhantomData<fn() -> T>);

impl<T> JsonSerde<T> {
    /// The serde.
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Default for JsonSerde<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: serde::Serialize> Serializer<T> for JsonSerde<T> {
    fn serialize(
        &self,
        _: &str,
        _: &mut Headers,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        serde_json::to_writer(out, value).map_err(|e| SerdeError::Json(e.to_string()))?;
        Ok(Encoded::Bytes)
    }
}

impl<T: serde::de::DeserializeOwned> Deserializer<T> for JsonSerde<T> {
    fn deserialize(&self, _: &str, _: &Headers, data: Option<&[u8]>) -> Result<T, SerdeError> {
        serde_json::from_slice(require(data)?).map_err(|e| SerdeError::Json(e.to_string()))
    }
}

/// `Option<T>`: `None` is a null (a tombstone), `Some(v)` is `v` in the inner serde.
pub struct OptionalSerde<T> {
    inner: SerdeRef<T>,
}

impl<T> OptionalSerde<T> {
    /// `Option<T>` over `inner`.
    pub fn new(inner: SerdeRef<T>) -> Self {
        Self { inner }
    }
}

impl<T> std::fmt::Debug for OptionalSerde<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OptionalSerde")
    }
}

impl<T> Serializer<Option<T>> for OptionalSerde<T> {
    fn encoding(&self) -> Option<String> {
        self.inner.encoding()
    }

    fn is_null(&self, value: &Option<T>) -> bool {
        value.as_ref().is_none_or(|v| self.inner.is_null(v))
    }

    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        value: &Option<T>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        match value {
            Some(v) => self.inner.serialize(topic, headers, v, out),
            None => Ok(Encoded::Null),
        }
    }
}

impl<T> Deserializer<Option<T>> for OptionalSerde<T> {
    fn reads(&self, recorded: &str) -> Result<(), String> {
        self.inner.reads(recorded)
    }

    fn reads_written(&self, data: &[u8]) -> Result<(), String> {
        self.inner.reads_written(data)
    }

    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<Option<T>, SerdeError> {
        match data {
            Some(_) => self.inner.deserialize(topic, headers, data).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{DefaultSerde, Serdes};
    use super::*;

    fn round_trip<T: DefaultSerde + PartialEq + std::fmt::Debug>(value: T) -> Option<Vec<u8>> {
        let serde = T::default_serde();
        let bytes = serde.to_bytes("t", &value).unwrap();
        let back = serde
            .deserialize("t", &Headers::new(), bytes.as_deref())
            .unwrap();
        assert_eq!(back, value);
        bytes
    }

    #[test]
    fn numbers_use_kafkas_big_endian_encodings() {
        assert_eq!(round_trip(1i32), Some(vec![0, 0, 0, 1]));
        assert_eq!(round_trip(-2i64), Some((-2i64).to_be_bytes().to_vec()));
        assert_eq!(round_trip(7u32), Some(vec![0, 0, 0, 7]));
        assert_eq!(round_trip(u64::MAX), Some(vec![255; 8]));
        assert_eq!(round_trip(1.5f64), Some(1.5f64.to_be_bytes().to_vec()));
    }

    #[test]
    fn strings_bytes_unit_and_options_round_trip() {
        assert_eq!(
            round_trip("héllo".to_string()),
            Some("héllo".as_bytes().to_vec())
        );
        assert_eq!(round_trip(vec![0u8, 255]), Some(vec![0, 255]));
        assert_eq!(round_trip(()), None);
        assert_eq!(round_trip(Some(3i32)), Some(vec![0, 0, 0, 3]));
        assert_eq!(round_trip(None::<i32>), None);
    }

    /// Byte sequences from Kafka's serializers (`ShortSerializer`, `FloatSerializer`:
    /// `Float.floatToRawIntBits` big-endian, `BooleanSerializer`, `UUIDSerializer`: the UTF-8
    /// of `UUID.toString()`, `ByteBufferSerializer`).
    #[test]
    fn java_types_use_kafkas_byte_layouts() {
        assert_eq!(round_trip(-2i16), Some(vec![0xff, 0xfe]));
        assert_eq!(round_trip(258i16), Some(vec![0x01, 0x02]));
        assert_eq!(round_trip(1.0f32), Some(vec![0x3f, 0x80, 0x00, 0x00]));
        assert_eq!(round_trip(-2.5f32), Some(vec![0xc0, 0x20, 0x00, 0x00]));
        assert_eq!(round_trip(1.5f64), Some(vec![0x3f, 0xf8, 0, 0, 0, 0, 0, 0]));
        assert_eq!(round_trip(true), Some(vec![0x01]));
        assert_eq!(round_trip(false), Some(vec![0x00]));
        let id = uuid::Uuid::from_u128(0x123e4567_e89b_12d3_a456_426614174000);
        assert_eq!(
            round_trip(id),
            Some(b"123e4567-e89b-12d3-a456-426614174000".to_vec())
        );
        assert_eq!(
            round_trip(bytes::Bytes::from_static(&[0, 1, 255])),
            Some(vec![0, 1, 255])
        );
    }

    #[test]
    fn bad_java_encodings_are_typed_errors() {
        let h = Headers::new();
        assert!(matches!(
            Serdes::boolean().deserialize("t", &h, Some(&[2])),
            Err(SerdeError::Custom(_))
        ));
        assert_eq!(
            Serdes::boolean().deserialize("t", &h, Some(&[1, 0])),
            Err(SerdeError::InvalidLength {
                expected: 1,
                actual: 2
            })
        );
        assert_eq!(
            Serdes::i16().deserialize("t", &h, Some(&[1])),
            Err(SerdeError::InvalidLength {
                expected: 2,
                actual: 1
            })
        );
        assert!(matches!(
            Serdes::uuid().deserialize("t", &h, Some(b"not-a-uuid")),
            Err(SerdeError::Custom(_))
        ));
        // Java's UUID.fromString accepts upper case too.
        assert_eq!(
            Serdes::uuid()
                .deserialize("t", &h, Some(b"123E4567-E89B-12D3-A456-426614174000"))
                .unwrap(),
            uuid::Uuid::from_u128(0x123e4567_e89b_12d3_a456_426614174000)
        );
    }

    #[test]
    fn bad_bytes_are_typed_errors() {
        let h = Headers::new();
        assert_eq!(
            Serdes::i64().deserialize("t", &h, Some(&[1, 2, 3])),
            Err(SerdeError::InvalidLength {
                expected: 8,
                actual: 3
            })
        );
        assert_eq!(
            Serdes::string().deserialize("t", &h, None),
            Err(SerdeError::UnexpectedNull)
        );
        assert!(matches!(
            Serdes::string().deserialize("t", &h, Some(&[0xff, 0xfe])),
            Err(SerdeError::InvalidUtf8(_))
        ));
        assert_eq!(
            Serdes::unit().deserialize("t", &h, Some(b"x")),
            Err(SerdeError::ExpectedNull(1))
        );
        assert!(matches!(
            Serdes::json::<Vec<u32>>().deserialize("t", &h, Some(b"{not json")),
            Err(SerdeError::Json(_))
        ));
    }

    #[test]
    fn json_round_trips_serde_types() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Order {
            id: u32,
            item: String,
        }
        let serde = Serdes::json::<Order>();
        let order = Order {
            id: 7,
            item: "tea".into(),
        };
        let bytes = serde.to_bytes("t", &order).unwrap().unwrap();
        assert_eq!(bytes, br#"{"id":7,"item":"tea"}"#.to_vec());
        assert_eq!(
            serde
                .deserialize("t", &Headers::new(), Some(&bytes))
                .unwrap(),
            order
        );
    }
}
