//! Lists of values: each element's encoding behind its length, so that any inner serde
//! (fixed width or not) round-trips.

use super::{Deserializer, Encoded, SerdeError, SerdeRef, Serializer};
use crate::Headers;

/// The length written for an element that encodes as a null.
const NULL_ELEMENT: u32 = u32::MAX;

/// `Vec<T>`: per element, its length as 4 bytes big-endian, then its encoding in `inner`.
///
/// ```
/// use streams_core::{Deserializer, Headers, Serdes, Serializer};
///
/// let serde = Serdes::list(Serdes::string());
/// let bytes = serde.to_bytes("t", &vec!["a".to_string(), "bc".to_string()]).unwrap();
/// let back = serde.deserialize("t", &Headers::new(), bytes.as_deref()).unwrap();
/// assert_eq!(back, vec!["a".to_string(), "bc".to_string()]);
/// ```
pub struct ListSerde<T> {
    inner: SerdeRef<T>,
}

impl<T> ListSerde<T> {
    /// Lists whose elements use `inner`.
    pub fn new(inner: SerdeRef<T>) -> Self {
        Self { inner }
    }
}

impl<T> Serializer<Vec<T>> for ListSerde<T> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        value: &Vec<T>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        for element in value {
            let at = out.len();
            out.extend_from_slice(&[0; 4]);
            let length = match self.inner.serialize(topic, headers, element, out)? {
                Encoded::Bytes => {
                    u32::try_from(out.len() - at - 4).map_err(|_| SerdeError::InvalidLength {
                        expected: NULL_ELEMENT as usize - 1,
                        actual: out.len() - at - 4,
                    })?
                }
                Encoded::Null => NULL_ELEMENT,
            };
            out[at..at + 4].copy_from_slice(&length.to_be_bytes());
        }
        Ok(Encoded::Bytes)
    }
}

impl<T> Deserializer<Vec<T>> for ListSerde<T> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<Vec<T>, SerdeError> {
        let mut rest = data.ok_or(SerdeError::UnexpectedNull)?;
        let mut list = Vec::new();
        while !rest.is_empty() {
            let (length, tail) = rest.split_at_checked(4).ok_or(SerdeError::InvalidLength {
                expected: 4,
                actual: rest.len(),
            })?;
            let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
            if length == NULL_ELEMENT {
                list.push(self.inner.deserialize(topic, headers, None)?);
                rest = tail;
                continue;
            }
            let (element, tail) =
                tail.split_at_checked(length as usize)
                    .ok_or(SerdeError::InvalidLength {
                        expected: length as usize,
                        actual: tail.len(),
                    })?;
            list.push(self.inner.deserialize(topic, headers, Some(element))?);
            rest = tail;
        }
        Ok(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Serdes;

    #[test]
    fn lists_round_trip_with_empty_and_null_elements() {
        let serde = ListSerde::new(Serdes::optional(Serdes::string()));
        let list = vec![Some("a".to_string()), None, Some(String::new())];
        let bytes = serde.to_bytes("t", &list).unwrap();
        let back = serde.deserialize("t", &Headers::new(), bytes.as_deref());
        assert_eq!(back.unwrap(), list);
        let empty = serde.to_bytes("t", &Vec::new()).unwrap();
        assert_eq!(empty.as_deref(), Some(&[][..]));
    }

    #[test]
    fn truncated_lists_are_an_error() {
        let serde = ListSerde::new(Serdes::string());
        let bytes = serde
            .to_bytes("t", &vec!["abc".to_string()])
            .unwrap()
            .unwrap();
        for cut in 1..bytes.len() {
            let result = serde.deserialize("t", &Headers::new(), Some(&bytes[..cut]));
            assert!(result.is_err(), "cut at {cut}");
        }
    }
}
