use std::sync::Arc;

use crate::Headers;

/// Milliseconds since the Unix epoch: the unit of every record time, stream time and window.
pub type Timestamp = i64;

/// A typed record as it travels between the operators of a topology.
///
/// Operators move records; they are cloned only where the graph fans out.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record<K, V> {
    /// The key.
    pub key: K,
    /// The value.
    pub value: V,
    /// The record's event time, in ms since the epoch.
    pub timestamp: Timestamp,
    /// The record's headers.
    pub headers: Headers,
}

impl<K, V> Record<K, V> {
    /// A record without headers.
    pub fn new(key: K, value: V, timestamp: Timestamp) -> Self {
        Self {
            key,
            value,
            timestamp,
            headers: Headers::new(),
        }
    }

    /// The same record with another key (of any type).
    pub fn with_key<K2>(self, key: K2) -> Record<K2, V> {
        Record {
            key,
            value: self.value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another value (of any type).
    pub fn with_value<V2>(self, value: V2) -> Record<K, V2> {
        Record {
            key: self.key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with its value replaced by `f(&key, value)`.
    pub fn map_value<V2>(self, f: impl FnOnce(&K, V) -> V2) -> Record<K, V2> {
        let value = f(&self.key, self.value);
        Record {
            key: self.key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another key and value.
    pub fn with_key_value<K2, V2>(self, key: K2, value: V2) -> Record<K2, V2> {
        Record {
            key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another timestamp.
    pub fn with_timestamp(mut self, timestamp: Timestamp) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// The same record with other headers.
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }
}

/// Where the record being processed came from. Absent during punctuation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordMetadata<'a> {
    /// The source topic.
    pub topic: &'a str,
    /// The source partition.
    pub partition: i32,
    /// The record's offset in that partition.
    pub offset: i64,
}

/// A topic and a partition number.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    /// The topic's name.
    pub topic: String,
    /// The partition number.
    pub partition: i32,
}

impl TopicPartition {
    /// `topic`, partition `partition`.
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// A record as read from a topic partition: bytes, before deserialization.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawRecord {
    /// The record's offset in its partition.
    pub offset: i64,
    /// The Kafka timestamp of the record.
    pub timestamp: Timestamp,
    /// The key bytes; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// The value bytes; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// The record's headers.
    pub headers: Headers,
}

/// A record that a task writes to a topic: bytes, after serialization.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducedRecord {
    /// The destination topic.
    pub topic: Arc<str>,
    /// The key bytes; `None` is a null key.
    pub key: Option<Vec<u8>>,
    /// The value bytes; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// The record's timestamp.
    pub timestamp: Timestamp,
    /// The record's headers.
    pub headers: Headers,
}
