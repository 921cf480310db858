use std::cell::RefCell;
use std::rc::Rc;

use state_stores::{KeyValueBytesStore, StoreError};

use super::registry::ManagedStore;
use crate::{Encoded, Headers, SerdeError, SerdeRef, Serializer, StateError};

struct Engine {
    name: String,
    /// The topic name handed to serdes: the store's changelog topic, as in Kafka Streams.
    serde_topic: String,
    bytes: RefCell<Box<dyn KeyValueBytesStore>>,
    key_buf: RefCell<Vec<u8>>,
    value_buf: RefCell<Vec<u8>>,
}

/// What [`KeyValueStore::put_if_changed`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutOutcome<V> {
    /// The stored encoding already equalled the new one; nothing was written.
    Unchanged,
    /// The value was written (or deleted); `old` is what it replaced.
    Changed {
        /// The previous value.
        old: Option<V>,
    },
}

/// A typed key-value store: keys and values pass through their serdes to a byte engine, so
/// iteration follows the byte order of the serialized keys.
///
/// A handle is cheap to clone; all clones use the same store. Writing a value whose serde
/// encodes it as null (for example `None` with an optional serde) deletes the key.
pub struct KeyValueStore<K, V> {
    engine: Rc<Engine>,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
}

impl<K, V> Clone for KeyValueStore<K, V> {
    fn clone(&self) -> Self {
        Self {
            engine: Rc::clone(&self.engine),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for KeyValueStore<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueStore")
            .field("name", &self.engine.name)
            .finish()
    }
}

type Pairs<K, V> = Result<Vec<(K, V)>, StateError>;

impl<K, V> KeyValueStore<K, V> {
    /// A typed store over `bytes`; `serde_topic` is the topic name handed to the serdes.
    pub fn new(
        bytes: Box<dyn KeyValueBytesStore>,
        serde_topic: impl Into<String>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        Self {
            engine: Rc::new(Engine {
                name: bytes.name().to_owned(),
                serde_topic: serde_topic.into(),
                bytes: RefCell::new(bytes),
                key_buf: RefCell::new(Vec::new()),
                value_buf: RefCell::new(Vec::new()),
            }),
            key_serde,
            value_serde,
        }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.engine.name
    }

    fn encode_into<T>(
        &self,
        serde: &dyn Serializer<T>,
        value: &T,
        buf: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        buf.clear();
        serde.serialize(&self.engine.serde_topic, &mut Headers::new(), value, buf)
    }

    fn with_key<R>(
        &self,
        key: &K,
        f: impl FnOnce(&[u8]) -> Result<R, StateError>,
    ) -> Result<R, StateError> {
        let mut buf = self.engine.key_buf.borrow_mut();
        match self.encode_into(&*self.key_serde, key, &mut buf)? {
            Encoded::Bytes => f(&buf),
            Encoded::Null => Err(SerdeError::Custom("a store key cannot be null".into()).into()),
        }
    }

    fn decode_value(&self, bytes: Option<Vec<u8>>) -> Result<Option<V>, StateError> {
        bytes
            .map(|b| {
                self.value_serde
                    .deserialize(&self.engine.serde_topic, &Headers::new(), Some(&b))
            })
            .transpose()
            .map_err(Into::into)
    }

    fn decode_pairs(&self, pairs: impl Iterator<Item = (Vec<u8>, Vec<u8>)>) -> Pairs<K, V> {
        let topic = &self.engine.serde_topic;
        let headers = Headers::new();
        pairs
            .map(|(k, v)| {
                Ok((
                    self.key_serde.deserialize(topic, &headers, Some(&k))?,
                    self.value_serde.deserialize(topic, &headers, Some(&v))?,
                ))
            })
            .collect()
    }

    /// The value for `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>, StateError> {
        let bytes = self.with_key(key, |k| Ok(self.engine.bytes.borrow().get(k)?))?;
        self.decode_value(bytes)
    }

    /// Stores `value` for `key`; a value that encodes as null deletes the key.
    pub fn put(&self, key: &K, value: &V) -> Result<(), StateError> {
        self.with_key(key, |k| {
            let mut vbuf = self.engine.value_buf.borrow_mut();
            let mut bytes = self.engine.bytes.borrow_mut();
            match self.encode_into(&*self.value_serde, value, &mut vbuf)? {
                Encoded::Bytes => bytes.put(k, &vbuf)?,
                Encoded::Null => {
                    bytes.delete(k)?;
                }
            }
            Ok(())
        })
    }

    /// Stores `value` (`None`, or a value that encodes as null, deletes) unless the stored
    /// encoding is already the same; returns what it did. Tables use this to emit only real
    /// changes.
    pub fn put_if_changed(&self, key: &K, value: Option<&V>) -> Result<PutOutcome<V>, StateError> {
        let old = self.with_key(key, |k| {
            let mut vbuf = self.engine.value_buf.borrow_mut();
            let mut bytes = self.engine.bytes.borrow_mut();
            let encoded = match value {
                Some(v) => self.encode_into(&*self.value_serde, v, &mut vbuf)?,
                None => Encoded::Null,
            };
            let old = bytes.get(k)?;
            let unchanged = match (&old, encoded) {
                (Some(old), Encoded::Bytes) => old[..] == vbuf[..],
                (None, Encoded::Null) => true,
                _ => false,
            };
            if unchanged {
                return Ok(None);
            }
            match encoded {
                Encoded::Bytes => bytes.put(k, &vbuf)?,
                Encoded::Null => {
                    bytes.delete(k)?;
                }
            }
            Ok(Some(old))
        })?;
        match old {
            None => Ok(PutOutcome::Unchanged),
            Some(old) => Ok(PutOutcome::Changed {
                old: self.decode_value(old)?,
            }),
        }
    }

    /// Stores `value` only if `key` has no value; returns the value already there.
    pub fn put_if_absent(&self, key: &K, value: &V) -> Result<Option<V>, StateError> {
        let existing = self.get(key)?;
        if existing.is_none() {
            self.put(key, value)?;
        }
        Ok(existing)
    }

    /// Removes `key`; returns the value it had.
    pub fn delete(&self, key: &K) -> Result<Option<V>, StateError> {
        let old = self.with_key(key, |k| Ok(self.engine.bytes.borrow_mut().delete(k)?))?;
        self.decode_value(old)
    }

    fn bounded<T>(
        &self,
        from: &K,
        to: &K,
        f: impl FnOnce(&dyn KeyValueBytesStore, &[u8], &[u8]) -> Result<T, StoreError>,
    ) -> Result<T, StateError> {
        let mut from_buf = Vec::new();
        let mut to_buf = Vec::new();
        self.encode_into(&*self.key_serde, from, &mut from_buf)?;
        self.encode_into(&*self.key_serde, to, &mut to_buf)?;
        let bytes = self.engine.bytes.borrow();
        Ok(f(&**bytes, &from_buf, &to_buf)?)
    }

    /// The entries with `from <= key <= to` in serialized-key order.
    pub fn range(&self, from: &K, to: &K) -> Pairs<K, V> {
        let pairs = self.bounded(from, to, |s, f, t| {
            Ok(s.range(Some(f), Some(t))?.collect::<Vec<_>>())
        })?;
        self.decode_pairs(pairs.into_iter())
    }

    /// The same entries as [`range`](Self::range), in descending order.
    pub fn reverse_range(&self, from: &K, to: &K) -> Pairs<K, V> {
        let pairs = self.bounded(from, to, |s, f, t| {
            Ok(s.reverse_range(Some(f), Some(t))?.collect::<Vec<_>>())
        })?;
        self.decode_pairs(pairs.into_iter())
    }

    /// Every entry, in serialized-key order.
    pub fn all(&self) -> Pairs<K, V> {
        let bytes = self.engine.bytes.borrow();
        let pairs: Vec<_> = bytes.all()?.collect();
        self.decode_pairs(pairs.into_iter())
    }

    /// Every entry, in descending serialized-key order.
    pub fn reverse_all(&self) -> Pairs<K, V> {
        let bytes = self.engine.bytes.borrow();
        let pairs: Vec<_> = bytes.reverse_range(None, None)?.collect();
        self.decode_pairs(pairs.into_iter())
    }

    /// The entries whose serialized key starts with the encoding of `prefix` by `prefix_serde`.
    pub fn prefix_scan<P>(&self, prefix: &P, prefix_serde: &dyn Serializer<P>) -> Pairs<K, V> {
        let mut buf = Vec::new();
        self.encode_into(prefix_serde, prefix, &mut buf)?;
        let bytes = self.engine.bytes.borrow();
        let pairs: Vec<_> = bytes.prefix_scan(&buf)?.collect();
        self.decode_pairs(pairs.into_iter())
    }

    /// An estimate of the number of entries.
    pub fn approximate_num_entries(&self) -> Result<u64, StateError> {
        Ok(self.engine.bytes.borrow().approximate_num_entries()?)
    }
}

impl<K, V> ManagedStore for KeyValueStore<K, V> {
    fn name(&self) -> &str {
        &self.engine.name
    }

    fn flush(&mut self) -> Result<(), StoreError> {
        self.engine.bytes.borrow_mut().flush()
    }

    fn close(&mut self) {
        self.engine.bytes.borrow_mut().close();
    }
}

#[cfg(test)]
mod tests {
    use state_stores::InMemoryKeyValueStore;

    use super::*;
    use crate::Serdes;

    fn store() -> KeyValueStore<String, Option<i64>> {
        KeyValueStore::new(
            Box::new(InMemoryKeyValueStore::new("s")),
            "app-s-changelog",
            Serdes::string(),
            Serdes::optional(Serdes::i64()),
        )
    }

    #[test]
    fn typed_reads_and_writes() {
        let s = store();
        let k = |x: &str| x.to_string();
        s.put(&k("b"), &Some(2)).unwrap();
        s.put(&k("a"), &Some(1)).unwrap();
        s.put(&k("c"), &Some(3)).unwrap();
        assert_eq!(s.get(&k("a")).unwrap(), Some(Some(1)));
        assert_eq!(
            s.range(&k("a"), &k("b")).unwrap(),
            vec![(k("a"), Some(1)), (k("b"), Some(2))]
        );
        assert_eq!(s.reverse_all().unwrap()[0], (k("c"), Some(3)));
        assert_eq!(s.prefix_scan(&k("c"), &*Serdes::string()).unwrap().len(), 1);
        // A null value deletes.
        s.put(&k("a"), &None).unwrap();
        assert_eq!(s.get(&k("a")).unwrap(), None);
        assert_eq!(s.put_if_absent(&k("b"), &Some(9)).unwrap(), Some(Some(2)));
        assert_eq!(s.delete(&k("b")).unwrap(), Some(Some(2)));
        assert_eq!(s.approximate_num_entries().unwrap(), 1);
    }

    #[test]
    fn put_if_changed_compares_encodings() {
        let s = store();
        let k = "a".to_string();
        assert_eq!(
            s.put_if_changed(&k, Some(&Some(1))).unwrap(),
            PutOutcome::Changed { old: None }
        );
        assert_eq!(
            s.put_if_changed(&k, Some(&Some(1))).unwrap(),
            PutOutcome::Unchanged
        );
        assert_eq!(
            s.put_if_changed(&k, Some(&None)).unwrap(),
            PutOutcome::Changed { old: Some(Some(1)) }
        );
        assert_eq!(s.put_if_changed(&k, None).unwrap(), PutOutcome::Unchanged);
    }
}
