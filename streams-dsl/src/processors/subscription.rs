//! The records a foreign-key join sends between its two sides (Kafka Streams'
//! `SubscriptionWrapper`, `SubscriptionResponseWrapper` and `CombinedKey`), and their byte
//! layouts: a version byte, a flags byte, fixed-width fields big-endian, and serialized keys
//! and values behind a 4-byte length.

use streams_core::{Deserializer, Encoded, Headers, SerdeError, SerdeRef, Serializer};

use super::encoding::{put_prefixed, Reader};

/// The layout version this code writes and reads.
const VERSION: u8 = 0;
const HAS_HASH: u8 = 1;
const HAS_VALUE: u8 = 2;

/// What the right side does with a subscription.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Instruction {
    /// Unsubscribe; answer nothing (the left row moved to another foreign key).
    DeleteKeyNoPropagate,
    /// Unsubscribe and answer without a value (the left row is gone, or, in a left join,
    /// moved away).
    DeleteKeyAndPropagate,
    /// Subscribe and answer, with no value if the right row does not exist (a changed left
    /// row must retract a result made with its old value).
    PropagateNullIfNoFkValAvailable,
    /// Subscribe and answer only if the right row exists (a new left row of an inner join).
    PropagateOnlyIfFkValAvailable,
}

impl Instruction {
    fn to_byte(self) -> u8 {
        match self {
            Self::DeleteKeyNoPropagate => 0,
            Self::DeleteKeyAndPropagate => 1,
            Self::PropagateNullIfNoFkValAvailable => 2,
            Self::PropagateOnlyIfFkValAvailable => 3,
        }
    }

    fn from_byte(byte: u8) -> Result<Self, SerdeError> {
        Ok(match byte {
            0 => Self::DeleteKeyNoPropagate,
            1 => Self::DeleteKeyAndPropagate,
            2 => Self::PropagateNullIfNoFkValAvailable,
            3 => Self::PropagateOnlyIfFkValAvailable,
            _ => {
                return Err(SerdeError::Custom(format!(
                    "unknown subscription instruction {byte}"
                )))
            }
        })
    }

    /// Whether the subscription is removed from the right side's store.
    pub(crate) fn unsubscribes(self) -> bool {
        matches!(
            self,
            Self::DeleteKeyNoPropagate | Self::DeleteKeyAndPropagate
        )
    }
}

/// A left row's subscription to a foreign key, sent keyed by the foreign key: the left key,
/// the hash of the left value it was made for (`None` for a deleted row) and an instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SubscriptionWrapper<K> {
    pub(crate) hash: Option<u128>,
    pub(crate) instruction: Instruction,
    pub(crate) primary_key: K,
}

/// The right side's answer to a subscription or its update, sent keyed by the left key: the
/// hash of the left value it answers and the right row (`None`: no row).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SubscriptionResponseWrapper<VO> {
    pub(crate) hash: Option<u128>,
    pub(crate) foreign_value: Option<VO>,
}

fn put_hash(hash: Option<u128>, out: &mut Vec<u8>) {
    if let Some(hash) = hash {
        out.extend_from_slice(&hash.to_be_bytes());
    }
}

fn read_hash(reader: &mut Reader<'_>, flags: u8) -> Result<Option<u128>, SerdeError> {
    if flags & HAS_HASH == 0 {
        return Ok(None);
    }
    Ok(Some(
        u128::from(reader.u64()?) << 64 | u128::from(reader.u64()?),
    ))
}

fn check_version(reader: &mut Reader<'_>) -> Result<(), SerdeError> {
    match reader.byte()? {
        VERSION => Ok(()),
        v => Err(SerdeError::Custom(format!(
            "foreign-key join record of unknown version {v}"
        ))),
    }
}

/// Layout: version, instruction, flags (bit 0: hash present), the hash (16 bytes), the left
/// key behind its length.
pub(crate) struct SubscriptionWrapperSerde<K> {
    pub(crate) key_serde: SerdeRef<K>,
}

impl<K> Serializer<SubscriptionWrapper<K>> for SubscriptionWrapperSerde<K> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        s: &SubscriptionWrapper<K>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        let flags = if s.hash.is_some() { HAS_HASH } else { 0 };
        out.extend_from_slice(&[VERSION, s.instruction.to_byte(), flags]);
        put_hash(s.hash, out);
        put_prefixed(&self.key_serde, topic, headers, &s.primary_key, out)?;
        Ok(Encoded::Bytes)
    }
}

impl<K> Deserializer<SubscriptionWrapper<K>> for SubscriptionWrapperSerde<K> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<SubscriptionWrapper<K>, SerdeError> {
        let mut reader = Reader::new(data)?;
        check_version(&mut reader)?;
        let instruction = Instruction::from_byte(reader.byte()?)?;
        let flags = reader.byte()?;
        Ok(SubscriptionWrapper {
            hash: read_hash(&mut reader, flags)?,
            instruction,
            primary_key: reader.prefixed(&self.key_serde, topic, headers)?,
        })
    }
}

/// Layout: version, flags (bit 0: hash present, bit 1: value present), the hash (16 bytes),
/// the right value behind its length.
pub(crate) struct SubscriptionResponseWrapperSerde<VO> {
    pub(crate) value_serde: SerdeRef<VO>,
}

impl<VO> Serializer<SubscriptionResponseWrapper<VO>> for SubscriptionResponseWrapperSerde<VO> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        r: &SubscriptionResponseWrapper<VO>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        let flags = if r.hash.is_some() { HAS_HASH } else { 0 }
            | if r.foreign_value.is_some() {
                HAS_VALUE
            } else {
                0
            };
        out.extend_from_slice(&[VERSION, flags]);
        put_hash(r.hash, out);
        if let Some(value) = &r.foreign_value {
            put_prefixed(&self.value_serde, topic, headers, value, out)?;
        }
        Ok(Encoded::Bytes)
    }
}

impl<VO> Deserializer<SubscriptionResponseWrapper<VO>> for SubscriptionResponseWrapperSerde<VO> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<SubscriptionResponseWrapper<VO>, SerdeError> {
        let mut reader = Reader::new(data)?;
        check_version(&mut reader)?;
        let flags = reader.byte()?;
        let hash = read_hash(&mut reader, flags)?;
        let foreign_value = if flags & HAS_VALUE != 0 {
            Some(reader.prefixed(&self.value_serde, topic, headers)?)
        } else {
            None
        };
        Ok(SubscriptionResponseWrapper {
            hash,
            foreign_value,
        })
    }
}

/// The subscription store's key (foreign key, left key): the foreign key behind its length,
/// then the left key, so that the subscriptions of one foreign key share a byte prefix.
pub(crate) struct CombinedKeySerde<KO, K> {
    pub(crate) foreign_key_serde: SerdeRef<KO>,
    pub(crate) primary_key_serde: SerdeRef<K>,
}

impl<KO, K> Serializer<(KO, K)> for CombinedKeySerde<KO, K> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        (foreign_key, primary_key): &(KO, K),
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        put_prefixed(&self.foreign_key_serde, topic, headers, foreign_key, out)?;
        match self
            .primary_key_serde
            .serialize(topic, headers, primary_key, out)?
        {
            Encoded::Bytes => Ok(Encoded::Bytes),
            Encoded::Null => Err(SerdeError::Custom(
                "a foreign-key join's left key cannot encode as a null".to_owned(),
            )),
        }
    }
}

impl<KO, K> Deserializer<(KO, K)> for CombinedKeySerde<KO, K> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<(KO, K), SerdeError> {
        let mut reader = Reader::new(data)?;
        let foreign_key = reader.prefixed(&self.foreign_key_serde, topic, headers)?;
        let primary_key =
            self.primary_key_serde
                .deserialize(topic, headers, Some(reader.rest()))?;
        Ok((foreign_key, primary_key))
    }
}

/// The byte prefix of every subscription store key of one foreign key.
pub(crate) struct ForeignKeyPrefix<KO>(pub(crate) SerdeRef<KO>);

impl<KO> Serializer<KO> for ForeignKeyPrefix<KO> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        foreign_key: &KO,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        put_prefixed(&self.0, topic, headers, foreign_key, out)?;
        Ok(Encoded::Bytes)
    }
}

/// A value hash in a store: 16 bytes big-endian.
pub(crate) struct HashSerde;

impl Serializer<u128> for HashSerde {
    fn serialize(
        &self,
        _: &str,
        _: &mut Headers,
        hash: &u128,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        out.extend_from_slice(&hash.to_be_bytes());
        Ok(Encoded::Bytes)
    }
}

impl Deserializer<u128> for HashSerde {
    fn deserialize(&self, _: &str, _: &Headers, data: Option<&[u8]>) -> Result<u128, SerdeError> {
        let mut reader = Reader::new(data)?;
        let hash = read_hash(&mut reader, HAS_HASH)?;
        match (hash, reader.rest().len()) {
            (Some(hash), 0) => Ok(hash),
            (_, extra) => Err(SerdeError::InvalidLength {
                expected: 16,
                actual: 16 + extra,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use streams_core::Serdes;

    use super::*;

    fn round_trip<T: PartialEq + std::fmt::Debug>(
        serializer: &dyn Serializer<T>,
        deserializer: &dyn Deserializer<T>,
        value: &T,
    ) {
        let bytes = serializer.to_bytes("t", value).unwrap();
        let back = deserializer
            .deserialize("t", &Headers::new(), bytes.as_deref())
            .unwrap();
        assert_eq!(&back, value);
    }

    #[test]
    fn subscriptions_round_trip() {
        let serde = SubscriptionWrapperSerde {
            key_serde: Serdes::string(),
        };
        for (hash, instruction) in [
            (
                Some(u128::MAX - 7),
                Instruction::PropagateOnlyIfFkValAvailable,
            ),
            (None, Instruction::DeleteKeyAndPropagate),
            (Some(1), Instruction::DeleteKeyNoPropagate),
            (Some(0), Instruction::PropagateNullIfNoFkValAvailable),
        ] {
            let s = SubscriptionWrapper {
                hash,
                instruction,
                primary_key: "left-key".to_string(),
            };
            round_trip(&serde, &serde, &s);
        }
        let bytes = serde
            .to_bytes(
                "t",
                &SubscriptionWrapper {
                    hash: None,
                    instruction: Instruction::DeleteKeyAndPropagate,
                    primary_key: "k".to_string(),
                },
            )
            .unwrap()
            .unwrap();
        assert_eq!(bytes, [0, 1, 0, 0, 0, 0, 1, b'k']);
        // A newer version, an unknown instruction and short input are refused.
        for bad in [
            &[1, 1, 0, 0, 0, 0, 0][..],
            &[0, 9, 0, 0, 0, 0, 0],
            &[0, 2, 1, 5],
        ] {
            assert!(serde.deserialize("t", &Headers::new(), Some(bad)).is_err());
        }
    }

    #[test]
    fn responses_round_trip() {
        let serde = SubscriptionResponseWrapperSerde {
            value_serde: Serdes::i64(),
        };
        for (hash, foreign_value) in [(Some(42), Some(-5)), (Some(42), None), (None, None)] {
            round_trip(
                &serde,
                &serde,
                &SubscriptionResponseWrapper {
                    hash,
                    foreign_value,
                },
            );
        }
        assert!(serde
            .deserialize("t", &Headers::new(), Some(&[0, HAS_VALUE, 0, 0, 0, 8, 1]))
            .is_err());
    }

    #[test]
    fn combined_keys_round_trip_and_share_their_foreign_key_prefix() {
        let serde = CombinedKeySerde {
            foreign_key_serde: Serdes::string(),
            primary_key_serde: Serdes::string(),
        };
        let key = ("ab".to_string(), "c".to_string());
        round_trip(&serde, &serde, &key);
        let bytes = serde.to_bytes("t", &key).unwrap().unwrap();
        let prefix = ForeignKeyPrefix(Serdes::string())
            .to_bytes("t", &"ab".to_string())
            .unwrap()
            .unwrap();
        assert!(bytes.starts_with(&prefix));
        // "a" + "bc" must not share the prefix of "ab": the length tells them apart.
        let other = serde
            .to_bytes("t", &("a".to_string(), "bc".to_string()))
            .unwrap()
            .unwrap();
        assert!(!other.starts_with(&prefix));
        round_trip(&HashSerde, &HashSerde, &(u128::MAX / 3));
        assert!(HashSerde
            .deserialize("t", &Headers::new(), Some(&[0; 17]))
            .is_err());
    }
}
