//! The suppression processor: per key, the latest update waits in a time-ordered buffer until
//! its deadline, then goes downstream. The buffer lives in memory and writes through to a
//! logged store, from which a restarted task rebuilds it.

use streams_core::{
    Deserializer, Encoded, Headers, KeyValueStore, Processor, ProcessorContext, ProcessorError,
    Record, SerdeError, SerdeRef, Serializer,
};

use super::due_buffer::DueBuffer;
use super::encoding::{put_prefixed, Reader};
use crate::suppress::{BufferConfig, BufferFull, Until};
use crate::Change;

/// A key's waiting update: when it is due (and, among keys due at once, its place in
/// arrival order), the latest update's time and value, and the value downstream saw last
/// (the old value of the first waiting update).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Waiting<V> {
    deadline: i64,
    arrival: u64,
    timestamp: i64,
    new: Option<V>,
    old: Option<V>,
}

/// Encodes a [`Waiting`]: deadline, arrival and time as 8 bytes big-endian each, then the new
/// and the old value, each behind a presence byte and a 4-byte length.
pub(crate) struct WaitingSerde<V> {
    pub(crate) inner: SerdeRef<V>,
}

impl<V> WaitingSerde<V> {
    fn put_optional(
        &self,
        topic: &str,
        headers: &mut Headers,
        value: Option<&V>,
        out: &mut Vec<u8>,
    ) -> Result<(), SerdeError> {
        match value.filter(|v| !self.inner.is_null(v)) {
            Some(value) => {
                out.push(1);
                put_prefixed(&self.inner, topic, headers, value, out)
            }
            None => {
                out.push(0);
                Ok(())
            }
        }
    }

    fn optional(
        &self,
        reader: &mut Reader<'_>,
        topic: &str,
        headers: &Headers,
    ) -> Result<Option<V>, SerdeError> {
        match reader.byte()? {
            0 => Ok(None),
            _ => reader.prefixed(&self.inner, topic, headers).map(Some),
        }
    }
}

impl<V> Serializer<Waiting<V>> for WaitingSerde<V> {
    fn serialize(
        &self,
        topic: &str,
        headers: &mut Headers,
        value: &Waiting<V>,
        out: &mut Vec<u8>,
    ) -> Result<Encoded, SerdeError> {
        out.extend_from_slice(&value.deadline.to_be_bytes());
        out.extend_from_slice(&value.arrival.to_be_bytes());
        out.extend_from_slice(&value.timestamp.to_be_bytes());
        self.put_optional(topic, headers, value.new.as_ref(), out)?;
        self.put_optional(topic, headers, value.old.as_ref(), out)?;
        Ok(Encoded::Bytes)
    }
}

impl<V> Deserializer<Waiting<V>> for WaitingSerde<V> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<Waiting<V>, SerdeError> {
        let mut reader = Reader::new(data)?;
        Ok(Waiting {
            deadline: reader.i64()?,
            arrival: reader.u64()?,
            timestamp: reader.i64()?,
            new: self.optional(&mut reader, topic, headers)?,
            old: self.optional(&mut reader, topic, headers)?,
        })
    }
}

/// A waiting update and what it takes against the buffer's byte limit.
struct Held<V> {
    waiting: Waiting<V>,
    bytes: usize,
}

/// Holds back a table's updates; see the module documentation.
pub(crate) struct Suppress<K, V> {
    until: Until<K>,
    /// For `until_window_closes`: a window closes once the watermark reaches its end plus
    /// this.
    close_after_end: i64,
    buffer: BufferConfig,
    store_name: String,
    store: Option<KeyValueStore<K, Waiting<V>>>,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    /// The waiting keys, by deadline then arrival.
    waiting: DueBuffer<K, Held<V>>,
    /// What the waiting keys take against the byte limit.
    bytes: usize,
}

impl<K, V> Suppress<K, V> {
    pub(crate) fn new(
        until: Until<K>,
        close_after_end: i64,
        buffer: BufferConfig,
        store_name: String,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        Self {
            until,
            close_after_end,
            buffer,
            store_name,
            store: None,
            key_serde,
            value_serde,
            waiting: DueBuffer::new(),
            bytes: 0,
        }
    }

    fn store(&self) -> Result<&KeyValueStore<K, Waiting<V>>, ProcessorError> {
        self.store
            .as_ref()
            .ok_or_else(|| ProcessorError::UnknownStore(self.store_name.clone()))
    }

    /// The serialized key, the buffer's identity of a key.
    fn key_bytes(&self, key: &K) -> Result<Vec<u8>, ProcessorError> {
        Ok(self
            .key_serde
            .to_bytes(&self.store_name, key)?
            .unwrap_or_default())
    }

    /// What an update takes in the buffer: its key, times and (only if the buffer counts
    /// bytes) its value's encoding.
    fn size(&self, key: &[u8], waiting: &Waiting<V>) -> Result<usize, ProcessorError> {
        let value = match (&waiting.new, self.buffer.max_bytes_limit()) {
            (Some(value), Some(_)) => self
                .value_serde
                .to_bytes(&self.store_name, value)?
                .map_or(0, |b| b.len()),
            _ => 0,
        };
        Ok(key.len() + 24 + value)
    }

    /// Puts `waiting` for `key` in the buffer, in deadline and arrival order.
    fn hold(
        &mut self,
        key_bytes: Vec<u8>,
        key: K,
        waiting: Waiting<V>,
    ) -> Result<(), ProcessorError> {
        let bytes = self.size(&key_bytes, &waiting)?;
        self.bytes += bytes;
        let place = (waiting.deadline, waiting.arrival);
        self.waiting
            .hold(key_bytes, key, Held { waiting, bytes }, place);
        Ok(())
    }

    /// When a key's first waiting update, at `timestamp`, is due.
    fn deadline(&self, key: &K, timestamp: i64) -> i64 {
        match &self.until {
            Until::WindowCloses(end) => end(key).saturating_add(self.close_after_end),
            Until::TimeLimit(limit) => timestamp.saturating_add(*limit),
        }
    }

    /// The time that deadlines are compared with: the watermark for windows closing, stream
    /// time for a time limit.
    fn now<KO, VO>(&self, ctx: &ProcessorContext<'_, KO, VO>) -> i64 {
        match self.until {
            Until::WindowCloses(_) => ctx.watermark(),
            Until::TimeLimit(_) => ctx.stream_time(),
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Suppress<K, V> {
    /// Emits the key due first if it is due at `now` (any key, without `now`); returns
    /// whether there was one.
    fn emit_first(
        &mut self,
        now: Option<i64>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<bool, ProcessorError> {
        let Some((_, key, held)) = self.waiting.pop_due(now) else {
            return Ok(false);
        };
        self.bytes -= held.bytes;
        self.store()?.delete(&key)?;
        let Waiting {
            timestamp,
            new,
            old,
            ..
        } = held.waiting;
        // A final result that deletes a window nobody saw (a session a merge replaced)
        // says nothing: dropped, as Kafka Streams does.
        if new.is_some() || !matches!(self.until, Until::WindowCloses(_)) {
            ctx.forward(Record::new(key, Change::new(new, old), timestamp))?;
        }
        Ok(true)
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, Change<V>, K, Change<V>>
    for Suppress<K, V>
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<(), ProcessorError> {
        let store: KeyValueStore<K, Waiting<V>> = ctx.key_value_store(&self.store_name)?;
        let restored = store.all()?;
        self.store = Some(store);
        for (key, waiting) in restored {
            let key_bytes = self.key_bytes(&key)?;
            self.hold(key_bytes, key, waiting)?;
        }
        Ok(())
    }

    /// A watermark raised without a record (quiet inputs) makes keys due: they go now.
    fn on_watermark(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        let now = self.now(ctx);
        while self.emit_first(Some(now), ctx)? {}
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        let key_bytes = self.key_bytes(&r.key)?;
        let waiting = match self.waiting.release(&key_bytes) {
            Some((_, held)) => {
                // The key keeps its place and the value downstream saw last.
                self.bytes -= held.bytes;
                Waiting {
                    timestamp: r.timestamp,
                    new: r.value.new,
                    ..held.waiting
                }
            }
            None => Waiting {
                deadline: self.deadline(&r.key, r.timestamp),
                arrival: self.waiting.next_arrival(),
                timestamp: r.timestamp,
                new: r.value.new,
                old: r.value.old,
            },
        };
        self.store()?.put(&r.key, &waiting)?;
        self.hold(key_bytes, r.key, waiting)?;
        let now = self.now(ctx);
        while self.emit_first(Some(now), ctx)? {}
        while self.buffer.is_exceeded(self.waiting.len(), self.bytes) {
            match self.buffer.on_full() {
                BufferFull::EmitEarly => {
                    self.emit_first(None, ctx)?;
                }
                BufferFull::Fail => {
                    return Err(ProcessorError::BufferFull {
                        buffer: self.store_name.clone(),
                        records: self.waiting.len(),
                        bytes: self.bytes,
                    })
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use streams_core::Serdes;

    #[test]
    fn waiting_updates_round_trip() {
        let serde = WaitingSerde {
            inner: Serdes::string(),
        };
        for (new, old) in [
            (Some("new"), Some("old")),
            (None, Some("")),
            (Some(""), None),
            (None, None),
        ] {
            let waiting = Waiting {
                deadline: -5,
                arrival: 3,
                timestamp: 7,
                new: new.map(str::to_owned),
                old: old.map(str::to_owned),
            };
            let bytes = serde.to_bytes("t", &waiting).unwrap();
            let back = serde.deserialize("t", &Headers::new(), bytes.as_deref());
            assert_eq!(back.unwrap(), waiting);
            let bytes = bytes.unwrap();
            assert!(serde
                .deserialize("t", &Headers::new(), Some(&bytes[..23]))
                .is_err());
        }
    }
}
