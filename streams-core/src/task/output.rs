//! The records a task's sinks produce, serialized into one reusable byte arena so that
//! producing a record allocates nothing once the arena has grown to a batch's size.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use crate::{Encoded, Headers, ProducedRecord, Timestamp};

/// A produced record as the drivers see it: borrowed from the task's output buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputRecord<'a> {
    /// The destination topic.
    pub topic: &'a str,
    /// The destination partition, when the record must go to one (changelog records go to
    /// their task's partition); `None` leaves it to the producer's partitioner.
    pub partition: Option<i32>,
    /// The key bytes; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// The value bytes; `None` is a tombstone.
    pub value: Option<&'a [u8]>,
    /// The record's timestamp.
    pub timestamp: Timestamp,
    /// The record's headers.
    pub headers: &'a Headers,
}

impl OutputRecord<'_> {
    /// An owned copy.
    pub fn to_owned_record(&self) -> ProducedRecord {
        ProducedRecord {
            topic: Arc::from(self.topic),
            key: self.key.map(<[u8]>::to_vec),
            value: self.value.map(<[u8]>::to_vec),
            timestamp: self.timestamp,
            headers: self.headers.clone(),
        }
    }
}

#[derive(Debug)]
struct Entry {
    topic: u32,
    key: Option<Range<usize>>,
    value: Option<Range<usize>>,
    timestamp: Timestamp,
    headers: Headers,
    /// The partition a stream partitioner chose, if any.
    partition: Option<i32>,
}

/// Produced records, in order, with their bytes in one arena.
#[derive(Debug, Default)]
pub(crate) struct OutputBuffer {
    /// The partition every record of this buffer goes to, if fixed.
    pub(crate) partition: Option<i32>,
    bytes: Vec<u8>,
    entries: Vec<Entry>,
    topics: Vec<Arc<str>>,
    topic_ids: HashMap<Arc<str>, u32>,
}

impl OutputBuffer {
    /// A buffer of records that all go to partition `partition`.
    pub(crate) fn to_partition(partition: i32) -> Self {
        Self {
            partition: Some(partition),
            ..Self::default()
        }
    }

    /// The id of `topic` in this buffer, interning it on first use.
    pub(crate) fn topic_id(&mut self, topic: &str) -> u32 {
        if let Some(&id) = self.topic_ids.get(topic) {
            return id;
        }
        let id = self.topics.len() as u32;
        let topic: Arc<str> = Arc::from(topic);
        self.topics.push(Arc::clone(&topic));
        self.topic_ids.insert(topic, id);
        id
    }

    pub(crate) fn topic_name(&self, id: u32) -> &str {
        &self.topics[id as usize]
    }

    /// Serializes a record's key and value with the writers (given the topic's name, the
    /// headers and the arena) and appends it. On error nothing is appended.
    pub(crate) fn push<E>(
        &mut self,
        topic: u32,
        timestamp: Timestamp,
        mut headers: Headers,
        mut write_key: impl FnMut(&str, &mut Headers, &mut Vec<u8>) -> Result<Encoded, E>,
        mut write_value: impl FnMut(&str, &mut Headers, &mut Vec<u8>) -> Result<Encoded, E>,
    ) -> Result<(), E> {
        let name = &self.topics[topic as usize];
        let start = self.bytes.len();
        let key = match Self::write(&mut self.bytes, name, &mut headers, &mut write_key) {
            Ok(range) => range,
            Err(e) => {
                self.bytes.truncate(start);
                return Err(e);
            }
        };
        let value = match Self::write(&mut self.bytes, name, &mut headers, &mut write_value) {
            Ok(range) => range,
            Err(e) => {
                self.bytes.truncate(start);
                return Err(e);
            }
        };
        self.entries.push(Entry {
            topic,
            key,
            value,
            timestamp,
            headers,
            partition: None,
        });
        Ok(())
    }

    /// Sends the record pushed last to `partition` (a stream partitioner's choice).
    pub(crate) fn set_last_partition(&mut self, partition: i32) {
        if let Some(entry) = self.entries.last_mut() {
            entry.partition = Some(partition);
        }
    }

    /// Appends a record whose key and value are already bytes.
    pub(crate) fn push_bytes(
        &mut self,
        topic: u32,
        timestamp: Timestamp,
        headers: Headers,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
    ) {
        fn copy(
            bytes: Option<&[u8]>,
            out: &mut Vec<u8>,
        ) -> Result<Encoded, std::convert::Infallible> {
            Ok(match bytes {
                Some(b) => {
                    out.extend_from_slice(b);
                    Encoded::Bytes
                }
                None => Encoded::Null,
            })
        }
        let pushed = self.push(
            topic,
            timestamp,
            headers,
            |_, _, out| copy(key, out),
            |_, _, out| copy(value, out),
        );
        if let Err(never) = pushed {
            match never {}
        }
    }

    fn write<E>(
        bytes: &mut Vec<u8>,
        topic: &str,
        headers: &mut Headers,
        write: &mut impl FnMut(&str, &mut Headers, &mut Vec<u8>) -> Result<Encoded, E>,
    ) -> Result<Option<Range<usize>>, E> {
        let start = bytes.len();
        match write(topic, headers, bytes)? {
            Encoded::Bytes => Ok(Some(start..bytes.len())),
            Encoded::Null => {
                bytes.truncate(start);
                Ok(None)
            }
        }
    }

    /// Hands every record to `f`, oldest first, then empties the buffer (keeping its memory).
    pub(crate) fn drain(&mut self, mut f: impl FnMut(OutputRecord<'_>)) {
        for entry in &self.entries {
            f(OutputRecord {
                topic: &self.topics[entry.topic as usize],
                partition: entry.partition.or(self.partition),
                key: entry.key.clone().map(|r| &self.bytes[r]),
                value: entry.value.clone().map(|r| &self.bytes[r]),
                timestamp: entry.timestamp,
                headers: &entry.headers,
            });
        }
        self.entries.clear();
        self.bytes.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}
