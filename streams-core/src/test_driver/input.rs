use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;

use super::{DriverState, Pending, TestRecord};
use crate::{Encoded, Headers, SerdeRef, StreamsError, Timestamp};

/// A typed input topic of a [`TopologyTestDriver`](super::TopologyTestDriver). Every pipe is
/// processed at once, with everything it causes downstream.
///
/// Records piped without a timestamp get the topic's current time, which starts at the
/// driver's wall-clock time (or [`with_start_time`](Self::with_start_time)) and moves by the
/// auto-advance step after each record.
pub struct TestInputTopic<K, V> {
    state: Rc<RefCell<DriverState>>,
    topic: String,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    current_time: Cell<Timestamp>,
    auto_advance: Cell<i64>,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl<K, V> TestInputTopic<K, V> {
    pub(super) fn new(
        state: Rc<RefCell<DriverState>>,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        start: Timestamp,
    ) -> Self {
        Self {
            state,
            topic: topic.to_owned(),
            key_serde,
            value_serde,
            current_time: Cell::new(start),
            auto_advance: Cell::new(0),
        }
    }

    /// Sets the time of the next record piped without a timestamp.
    pub fn with_start_time(self, start: Timestamp) -> Self {
        self.current_time.set(start);
        self
    }

    /// Moves the topic's time by `step` after every record piped without a timestamp.
    pub fn with_auto_advance(self, step: Duration) -> Self {
        self.auto_advance.set(millis(step));
        self
    }

    /// Moves the topic's time forward by `by`.
    pub fn advance_time(&self, by: Duration) {
        self.current_time
            .set(self.current_time.get().saturating_add(millis(by)));
    }

    /// The topic's name.
    pub fn name(&self) -> &str {
        &self.topic
    }

    fn next_time(&self) -> Timestamp {
        let now = self.current_time.get();
        self.current_time
            .set(now.saturating_add(self.auto_advance.get()));
        now
    }

    fn encode<T>(
        &self,
        serde: &SerdeRef<T>,
        headers: &mut Headers,
        value: Option<&T>,
    ) -> Result<Option<Vec<u8>>, StreamsError> {
        let Some(value) = value else { return Ok(None) };
        let mut out = Vec::new();
        match serde.serialize(&self.topic, headers, value, &mut out) {
            Ok(Encoded::Bytes) => Ok(Some(out)),
            Ok(Encoded::Null) => Ok(None),
            Err(source) => Err(StreamsError::Serde {
                topic: self.topic.clone(),
                source,
            }),
        }
    }

    /// Pipes a whole record; a `None` timestamp takes the topic's current time.
    pub fn pipe_record(&self, record: TestRecord<K, V>) -> Result<(), StreamsError> {
        let TestRecord {
            key,
            value,
            timestamp,
            mut headers,
        } = record;
        let timestamp = timestamp.unwrap_or_else(|| self.next_time());
        let key = self.encode(&self.key_serde, &mut headers, key.as_ref())?;
        let value = self.encode(&self.value_serde, &mut headers, value.as_ref())?;
        self.state.borrow_mut().pipe(Pending {
            topic: self.topic.clone(),
            key,
            value,
            timestamp,
            headers,
        })
    }

    /// Pipes a value with a null key.
    pub fn pipe_value(&self, value: V) -> Result<(), StreamsError> {
        self.pipe_record(TestRecord {
            key: None,
            value: Some(value),
            timestamp: None,
            headers: Headers::new(),
        })
    }

    /// Pipes a value with a null key at time `timestamp` (a keyless record, as most topics
    /// written by plain producers carry).
    pub fn pipe_value_at(&self, value: V, timestamp: Timestamp) -> Result<(), StreamsError> {
        self.pipe_record(TestRecord {
            key: None,
            value: Some(value),
            timestamp: Some(timestamp),
            headers: Headers::new(),
        })
    }

    /// Pipes a key and a value.
    pub fn pipe_key_value(&self, key: K, value: V) -> Result<(), StreamsError> {
        self.pipe_record(TestRecord::new(key, value))
    }

    /// Pipes a key and a value at time `timestamp`.
    pub fn pipe_key_value_at(
        &self,
        key: K,
        value: V,
        timestamp: Timestamp,
    ) -> Result<(), StreamsError> {
        self.pipe_record(TestRecord::new(key, value).at(timestamp))
    }

    /// Pipes a tombstone (a null value) for `key`.
    pub fn pipe_tombstone(&self, key: K) -> Result<(), StreamsError> {
        self.pipe_record(TestRecord::tombstone(key))
    }

    /// Pipes key-value pairs in order.
    pub fn pipe_key_values(
        &self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<(), StreamsError> {
        pairs
            .into_iter()
            .try_for_each(|(k, v)| self.pipe_key_value(k, v))
    }

    /// Pipes values (with null keys) in order.
    pub fn pipe_values(&self, values: impl IntoIterator<Item = V>) -> Result<(), StreamsError> {
        values.into_iter().try_for_each(|v| self.pipe_value(v))
    }

    /// Pipes records in order.
    pub fn pipe_records(
        &self,
        records: impl IntoIterator<Item = TestRecord<K, V>>,
    ) -> Result<(), StreamsError> {
        records.into_iter().try_for_each(|r| self.pipe_record(r))
    }

    /// Pipes a record as raw bytes, bypassing this topic's serdes: `key` and `value` reach
    /// the topology's source as they would arrive from Kafka (`None` is a null), at time
    /// `timestamp`. For input that no serde produces: bytes a deserializer refuses (to test
    /// the deserialization handler), or a null for a type that has none.
    pub fn pipe_raw(
        &self,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: Timestamp,
    ) -> Result<(), StreamsError> {
        self.state.borrow_mut().pipe(Pending {
            topic: self.topic.clone(),
            key,
            value,
            timestamp,
            headers: Headers::new(),
        })
    }
}
