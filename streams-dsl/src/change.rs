//! Table updates: a new value and the old one it replaces.

use streams_core::{Deserializer, Encoded, Headers, SerdeError, SerdeRef, Serializer};

/// An update of a table row: the new value and the old one (`None` where the row did not
/// exist, or is deleted). Table operators forward changes so that downstream aggregations can
/// retract the old value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Change<V> {
    /// The row's new value; `None` deletes it.
    pub new: Option<V>,
    /// The row's previous value.
    pub old: Option<V>,
}

impl<V> Change<V> {
    /// A change from `old` to `new`.
    pub fn new(new: Option<V>, old: Option<V>) -> Self {
        Self { new, old }
    }

    /// Applies `f` to both sides.
    pub fn map<V2>(self, mut f: impl FnMut(V) -> V2) -> Change<V2> {
        Change {
            new: self.new.map(&mut f),
            old: self.old.map(f),
        }
    }

    /// Whether both sides are empty (nothing to tell downstream).
    pub fn is_empty(&self) -> bool {
        self.new.is_none() && self.old.is_none()
    }
}

/// Encodes a [`Change`] for a repartition topic: a flags byte (bit 0: new present, bit 1: old
/// present), the new value's length as 4 bytes big-endian and its bytes, then the old value's
/// bytes.
pub(crate) struct ChangeSerde<V> {
    pub(crate) inner: SerdeRef<V>,
}

const NEW: u8 = 1;
const OLD: u8 = 2;

impl<V> ChangeSerde<V> {
    fn encode_side(
        &self,
        topic: &str,
        headers: &mut Headers,
        v: Option<&V>,
        out: &mut Vec<u8>,
    ) -> Result<bool, SerdeError> {
        match v {
            None => Ok(false),
            Some(v) => Ok(self.inner.serialize(topic, headers, v, out)? == Encoded::Bytes),
        }
    }
}

impl<V> Serializer<Change<V>> for ChangeSerde<V> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        change: &Change<V>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        let start = out.len();
        out.extend_from_slice(&[0, 0, 0, 0, 0]);
        let has_new = self.encode_side(topic, headers, change.new.as_ref(), out)?;
        let new_len = u32::try_from(out.len() - start - 5)
            .map_err(|_| SerdeError::Custom("a table value over 4 GiB".into()))?;
        let has_old = self.encode_side(topic, headers, change.old.as_ref(), out)?;
        out[start] = if has_new { NEW } else { 0 } | if has_old { OLD } else { 0 };
        out[start + 1..start + 5].copy_from_slice(&new_len.to_be_bytes());
        Ok(Encoded::Bytes)
    }
}

impl<V> Deserializer<Change<V>> for ChangeSerde<V> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<Change<V>, SerdeError> {
        let data = data.ok_or(SerdeError::UnexpectedNull)?;
        if data.len() < 5 {
            return Err(SerdeError::InvalidLength {
                expected: 5,
                actual: data.len(),
            });
        }
        let flags = data[0];
        let new_len = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
        let rest = &data[5..];
        if new_len > rest.len() {
            return Err(SerdeError::InvalidLength {
                expected: 5 + new_len,
                actual: data.len(),
            });
        }
        let (new_bytes, old_bytes) = rest.split_at(new_len);
        let side = |present: bool, bytes: &[u8]| -> Result<Option<V>, SerdeError> {
            if present {
                self.inner
                    .deserialize(topic, headers, Some(bytes))
                    .map(Some)
            } else {
                Ok(None)
            }
        };
        Ok(Change {
            new: side(flags & NEW != 0, new_bytes)?,
            old: side(flags & OLD != 0, old_bytes)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streams_core::Serdes;

    #[test]
    fn changes_round_trip_with_either_side_missing() {
        let serde = ChangeSerde {
            inner: Serdes::string(),
        };
        for change in [
            Change::new(Some("new".to_string()), Some("old".to_string())),
            Change::new(Some("n".to_string()), None),
            Change::new(None, Some("o".to_string())),
            Change::new(Some(String::new()), Some(String::new())),
        ] {
            let bytes = serde.to_bytes("t", &change).unwrap();
            assert_eq!(
                serde
                    .deserialize("t", &Headers::new(), bytes.as_deref())
                    .unwrap(),
                change
            );
        }
        assert!(serde
            .deserialize("t", &Headers::new(), Some(&[1, 0, 0, 0, 9, 1]))
            .is_err());
    }
}
