use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::rc::Rc;

use super::{DriverState, TestRecord};
use crate::{ProducedRecord, SerdeRef, StreamsError};

/// A typed output topic of a [`TopologyTestDriver`](super::TopologyTestDriver). Reading
/// consumes records, oldest first.
pub struct TestOutputTopic<K, V> {
    state: Rc<RefCell<DriverState>>,
    topic: String,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
}

impl<K, V> TestOutputTopic<K, V> {
    pub(super) fn new(
        state: Rc<RefCell<DriverState>>,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        Self {
            state,
            topic: topic.to_owned(),
            key_serde,
            value_serde,
        }
    }

    fn next(&self) -> Result<ProducedRecord, StreamsError> {
        self.state
            .borrow_mut()
            .outputs
            .get_mut(&self.topic)
            .and_then(|q| q.pop_front())
            .ok_or_else(|| StreamsError::NoRecord(self.topic.clone()))
    }

    fn drain(&self) -> Vec<ProducedRecord> {
        self.state
            .borrow_mut()
            .outputs
            .get_mut(&self.topic)
            .map(|q| q.drain(..).collect())
            .unwrap_or_default()
    }

    fn serde_error(&self, source: crate::SerdeError) -> StreamsError {
        StreamsError::Serde {
            topic: self.topic.clone(),
            source,
        }
    }

    fn key(&self, r: &ProducedRecord) -> Result<K, StreamsError> {
        self.key_serde
            .deserialize(&self.topic, &r.headers, r.key.as_deref())
            .map_err(|e| self.serde_error(e))
    }

    fn value(&self, r: &ProducedRecord) -> Result<V, StreamsError> {
        self.value_serde
            .deserialize(&self.topic, &r.headers, r.value.as_deref())
            .map_err(|e| self.serde_error(e))
    }

    fn record(&self, r: ProducedRecord) -> Result<TestRecord<K, V>, StreamsError> {
        let key = r.key.as_ref().map(|_| self.key(&r)).transpose()?;
        let value = r.value.as_ref().map(|_| self.value(&r)).transpose()?;
        Ok(TestRecord {
            key,
            value,
            timestamp: Some(r.timestamp),
            headers: r.headers,
        })
    }

    /// The next value. A tombstone reads as the value serde's null (an error for plain
    /// types, `None` for `Option` types).
    pub fn read_value(&self) -> Result<V, StreamsError> {
        let r = self.next()?;
        self.value(&r)
    }

    /// The next key and value.
    pub fn read_key_value(&self) -> Result<(K, V), StreamsError> {
        let r = self.next()?;
        Ok((self.key(&r)?, self.value(&r)?))
    }

    /// The next record, with its timestamp and headers; nulls read as `None`.
    pub fn read_record(&self) -> Result<TestRecord<K, V>, StreamsError> {
        let r = self.next()?;
        self.record(r)
    }

    /// Every remaining value.
    pub fn read_values_to_list(&self) -> Result<Vec<V>, StreamsError> {
        self.drain().iter().map(|r| self.value(r)).collect()
    }

    /// Every remaining key and value.
    pub fn read_key_values_to_list(&self) -> Result<Vec<(K, V)>, StreamsError> {
        self.drain()
            .iter()
            .map(|r| Ok((self.key(r)?, self.value(r)?)))
            .collect()
    }

    /// Every remaining record.
    pub fn read_records_to_list(&self) -> Result<Vec<TestRecord<K, V>>, StreamsError> {
        self.drain().into_iter().map(|r| self.record(r)).collect()
    }

    /// The latest value of every key among the remaining records; a tombstone removes its key.
    pub fn read_key_values_to_map(&self) -> Result<HashMap<K, V>, StreamsError>
    where
        K: Hash + Eq,
    {
        let mut map = HashMap::new();
        for r in self.drain() {
            let key = self.key(&r)?;
            if r.value.is_some() {
                map.insert(key, self.value(&r)?);
            } else {
                map.remove(&key);
            }
        }
        Ok(map)
    }

    /// Whether no record is left to read.
    pub fn is_empty(&self) -> bool {
        self.queue_size() == 0
    }

    /// The number of records left to read.
    pub fn queue_size(&self) -> usize {
        self.state
            .borrow()
            .outputs
            .get(&self.topic)
            .map_or(0, |q| q.len())
    }
}
