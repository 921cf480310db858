//! What left and outer stream-stream joins keep of the records that found no partner yet:
//! one store shared by both sides (Kafka Streams' outer-join store), keyed by time first, so
//! that the records whose window has closed are read from its start.

use streams_core::{Deserializer, Encoded, Headers, SerdeError, SerdeRef, Serializer};

/// The side of a join a record came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum JoinSide {
    Left,
    Right,
}

impl JoinSide {
    /// The byte that orders the sides of one time in the store: right before left, as Kafka
    /// Streams orders them.
    fn byte(self) -> u8 {
        match self {
            JoinSide::Right => 0,
            JoinSide::Left => 1,
        }
    }
}

/// Where an unjoined record waits: its time, its side and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct UnjoinedKey<K> {
    pub(crate) time: i64,
    pub(crate) side: JoinSide,
    pub(crate) key: K,
}

/// An unjoined record's value, of the left or the right stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Unjoined<VL, VR> {
    Left(VL),
    Right(VR),
}

/// Encodes an [`UnjoinedKey`] so that byte order is time order: the time with its sign bit
/// flipped (8 bytes big-endian), the side byte, then the key's encoding.
pub(crate) struct UnjoinedKeySerde<K> {
    pub(crate) key: SerdeRef<K>,
}

const TIME_AND_SIDE: usize = 9;

impl<K> Serializer<UnjoinedKey<K>> for UnjoinedKeySerde<K> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        value: &UnjoinedKey<K>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        let ordered = (value.time as u64) ^ (1 << 63);
        out.extend_from_slice(&ordered.to_be_bytes());
        out.push(value.side.byte());
        match self.key.serialize(topic, headers, &value.key, out)? {
            Encoded::Bytes => Ok(Encoded::Bytes),
            Encoded::Null => Err(SerdeError::Custom(
                "a joined record's key cannot be null".into(),
            )),
        }
    }
}

impl<K> Deserializer<UnjoinedKey<K>> for UnjoinedKeySerde<K> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<UnjoinedKey<K>, SerdeError> {
        let data = data.ok_or(SerdeError::UnexpectedNull)?;
        if data.len() < TIME_AND_SIDE {
            return Err(SerdeError::InvalidLength {
                expected: TIME_AND_SIDE,
                actual: data.len(),
            });
        }
        let mut time = [0; 8];
        time.copy_from_slice(&data[..8]);
        let side = match data[8] {
            0 => JoinSide::Right,
            1 => JoinSide::Left,
            other => {
                return Err(SerdeError::Custom(format!(
                    "unknown join side byte {other}"
                )))
            }
        };
        Ok(UnjoinedKey {
            time: (u64::from_be_bytes(time) ^ (1 << 63)) as i64,
            side,
            key: self
                .key
                .deserialize(topic, headers, Some(&data[TIME_AND_SIDE..]))?,
        })
    }
}

/// Encodes an [`Unjoined`] value: a tag byte (0 left, 1 right), then the value's encoding.
pub(crate) struct UnjoinedSerde<VL, VR> {
    pub(crate) left: SerdeRef<VL>,
    pub(crate) right: SerdeRef<VR>,
}

impl<VL, VR> Serializer<Unjoined<VL, VR>> for UnjoinedSerde<VL, VR> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        value: &Unjoined<VL, VR>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        let encoded = match value {
            Unjoined::Left(v) => {
                out.push(0);
                self.left.serialize(topic, headers, v, out)?
            }
            Unjoined::Right(v) => {
                out.push(1);
                self.right.serialize(topic, headers, v, out)?
            }
        };
        match encoded {
            Encoded::Bytes => Ok(Encoded::Bytes),
            Encoded::Null => Err(SerdeError::Custom(
                "a joined record's value cannot be null".into(),
            )),
        }
    }
}

impl<VL, VR> Deserializer<Unjoined<VL, VR>> for UnjoinedSerde<VL, VR> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<Unjoined<VL, VR>, SerdeError> {
        match data.ok_or(SerdeError::UnexpectedNull)? {
            [0, rest @ ..] => Ok(Unjoined::Left(self.left.deserialize(
                topic,
                headers,
                Some(rest),
            )?)),
            [1, rest @ ..] => Ok(Unjoined::Right(self.right.deserialize(
                topic,
                headers,
                Some(rest),
            )?)),
            [tag, ..] => Err(SerdeError::Custom(format!(
                "unknown unjoined value tag {tag}"
            ))),
            [] => Err(SerdeError::InvalidLength {
                expected: 1,
                actual: 0,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streams_core::Serdes;

    #[test]
    fn keys_order_by_time_then_side_and_round_trip() {
        let serde = UnjoinedKeySerde {
            key: Serdes::string(),
        };
        let keys = [
            UnjoinedKey {
                time: -5,
                side: JoinSide::Left,
                key: "z".to_string(),
            },
            UnjoinedKey {
                time: 3,
                side: JoinSide::Right,
                key: "z".to_string(),
            },
            UnjoinedKey {
                time: 3,
                side: JoinSide::Left,
                key: "a".to_string(),
            },
            UnjoinedKey {
                time: 300,
                side: JoinSide::Right,
                key: "a".to_string(),
            },
        ];
        let bytes: Vec<Vec<u8>> = keys
            .iter()
            .map(|k| serde.to_bytes("t", k).unwrap().unwrap())
            .collect();
        assert!(bytes.windows(2).all(|w| w[0] < w[1]));
        for (key, b) in keys.iter().zip(&bytes) {
            assert_eq!(
                &serde.deserialize("t", &Headers::new(), Some(b)).unwrap(),
                key
            );
        }
        assert!(serde
            .deserialize("t", &Headers::new(), Some(&[0; 8]))
            .is_err());
    }

    #[test]
    fn values_round_trip_with_their_side() {
        let serde = UnjoinedSerde {
            left: Serdes::i64(),
            right: Serdes::string(),
        };
        for value in [Unjoined::Left(7), Unjoined::Right("r".to_string())] {
            let bytes = serde.to_bytes("t", &value).unwrap();
            assert_eq!(
                serde
                    .deserialize("t", &Headers::new(), bytes.as_deref())
                    .unwrap(),
                value
            );
        }
        assert!(serde
            .deserialize("t", &Headers::new(), Some(&[9, 1]))
            .is_err());
    }
}
