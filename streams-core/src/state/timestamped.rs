//! Timestamped values: a store value together with the time of its last update, as Kafka
//! Streams' timestamped stores keep them.

use std::sync::Arc;

use super::{KeyValueStore, KeyValueStoreBuilder, KeyValueStoreSupplier, Stores};
use crate::{Deserializer, Encoded, Headers, SerdeError, SerdeRef, Serializer};

/// A value and the time (ms) of the update that set it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ValueAndTimestamp<V> {
    /// The value.
    pub value: V,
    /// The time of its last update.
    pub timestamp: i64,
}

impl<V> ValueAndTimestamp<V> {
    /// `value`, updated at `timestamp`.
    pub fn new(value: V, timestamp: i64) -> Self {
        Self { value, timestamp }
    }
}

/// A key-value store of timestamped values.
pub type TimestampedKeyValueStore<K, V> = KeyValueStore<K, ValueAndTimestamp<V>>;

/// Encodes a [`ValueAndTimestamp`] as the timestamp (8 bytes big-endian) followed by the
/// value's encoding, as Kafka Streams' timestamped stores do.
pub struct TimestampedSerde<V> {
    inner: SerdeRef<V>,
}

impl<V> TimestampedSerde<V> {
    /// Timestamped values over `inner`.
    pub fn new(inner: SerdeRef<V>) -> Self {
        Self { inner }
    }
}

impl<V> Serializer<ValueAndTimestamp<V>> for TimestampedSerde<V> {
    fn encoding(&self) -> Option<String> {
        self.inner.encoding()
    }

    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        v: &ValueAndTimestamp<V>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        let start = out.len();
        out.extend_from_slice(&v.timestamp.to_be_bytes());
        match self.inner.serialize(topic, headers, &v.value, out)? {
            Encoded::Bytes => Ok(Encoded::Bytes),
            Encoded::Null => {
                out.truncate(start);
                Ok(Encoded::Null)
            }
        }
    }
}

impl<V> Deserializer<ValueAndTimestamp<V>> for TimestampedSerde<V> {
    fn reads(&self, recorded: &str) -> Result<(), String> {
        self.inner.reads(recorded)
    }

    fn reads_written(&self, data: &[u8]) -> Result<(), String> {
        match data.get(8..) {
            Some(value) => self.inner.reads_written(value),
            None => Err(format!(
                "is {} bytes long, shorter than the time in front of a timestamped value",
                data.len()
            )),
        }
    }

    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<ValueAndTimestamp<V>, SerdeError> {
        let data = data.ok_or(SerdeError::UnexpectedNull)?;
        if data.len() < 8 {
            return Err(SerdeError::InvalidLength {
                expected: 8,
                actual: data.len(),
            });
        }
        let (time, value) = data.split_at(8);
        Ok(ValueAndTimestamp {
            value: self.inner.deserialize(topic, headers, Some(value))?,
            timestamp: i64::from_be_bytes(time.try_into().map_err(|_| {
                SerdeError::InvalidLength {
                    expected: 8,
                    actual: time.len(),
                }
            })?),
        })
    }
}

impl Stores {
    /// A builder of typed key-value stores whose values carry the time of their last update.
    pub fn timestamped_key_value_store_builder<K, V: 'static>(
        supplier: KeyValueStoreSupplier,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> KeyValueStoreBuilder<K, ValueAndTimestamp<V>> {
        Stores::key_value_store_builder(
            supplier,
            key_serde,
            Arc::new(TimestampedSerde::new(value_serde)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Serdes;

    #[test]
    fn the_timestamp_comes_first() {
        let serde = TimestampedSerde::new(Serdes::string());
        let v = ValueAndTimestamp::new("hi".to_string(), 258);
        let bytes = serde.to_bytes("t", &v).unwrap().unwrap();
        assert_eq!(bytes, [&258i64.to_be_bytes()[..], b"hi"].concat());
        assert_eq!(
            serde
                .deserialize("t", &Headers::new(), Some(&bytes))
                .unwrap(),
            v
        );
        assert!(serde
            .deserialize("t", &Headers::new(), Some(&[1, 2]))
            .is_err());
    }
}
