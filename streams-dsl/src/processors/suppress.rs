//! The suppression processor: per key, the latest update waits in a time-ordered buffer until
//! its deadline, then goes downstream. The buffer lives in memory and writes through to a
//! logged store, from which a restarted task rebuilds it.

use std::collections::{BTreeMap, HashMap};

use streams_core::{
    Deserializer, Encoded, Headers, KeyValueStore, Processor, ProcessorContext, ProcessorError,
    Record, SerdeError, SerdeRef, Serializer,
};

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

/// Encodes a [`Waiting`]: deadline, arrival and time as 8 bytes big-endian each, then the new value
/// behind a presence byte and a 4-byte length, then the old value behind a presence byte.
pub(crate) struct WaitingSerde<V> {
    pub(crate) inner: SerdeRef<V>,
}

impl<V> WaitingSerde<V> {
    fn put_value(
        &self,
        topic: &str,
        headers: &mut Headers,
        value: Option<&V>,
        out: &mut Vec<u8>,
        with_length: bool,
    ) -> Result<(), SerdeError> {
        let Some(value) = value else {
            out.push(0);
            return Ok(());
        };
        out.push(1);
        let at = out.len();
        if with_length {
            out.extend_from_slice(&[0; 4]);
        }
        if self.inner.serialize(topic, headers, value, out)? == Encoded::Null {
            out.truncate(at - 1);
            out.push(0);
            return Ok(());
        }
        if with_length {
            let length =
                u32::try_from(out.len() - at - 4).map_err(|_| SerdeError::InvalidLength {
                    expected: u32::MAX as usize,
                    actual: out.len() - at - 4,
                })?;
            out[at..at + 4].copy_from_slice(&length.to_be_bytes());
        }
        Ok(())
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
        self.put_value(topic, headers, value.new.as_ref(), out, true)?;
        self.put_value(topic, headers, value.old.as_ref(), out, false)?;
        Ok(Encoded::Bytes)
    }
}

fn split(data: &[u8], at: usize) -> Result<(&[u8], &[u8]), SerdeError> {
    data.split_at_checked(at).ok_or(SerdeError::InvalidLength {
        expected: at,
        actual: data.len(),
    })
}

fn time(bytes: &[u8]) -> i64 {
    let mut array = [0; 8];
    array.copy_from_slice(bytes);
    i64::from_be_bytes(array)
}

impl<V> Deserializer<Waiting<V>> for WaitingSerde<V> {
    fn deserialize(
        &self,
        topic: &str,
        headers: &Headers,
        data: Option<&[u8]>,
    ) -> Result<Waiting<V>, SerdeError> {
        let data = data.ok_or(SerdeError::UnexpectedNull)?;
        let (times, rest) = split(data, 24)?;
        let (present, rest) = split(rest, 1)?;
        let (new, rest) = if present[0] == 1 {
            let (length, rest) = split(rest, 4)?;
            let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
            let (value, rest) = split(rest, length as usize)?;
            (
                Some(self.inner.deserialize(topic, headers, Some(value))?),
                rest,
            )
        } else {
            (None, rest)
        };
        let (present, rest) = split(rest, 1)?;
        let old = if present[0] == 1 {
            Some(self.inner.deserialize(topic, headers, Some(rest))?)
        } else {
            None
        };
        Ok(Waiting {
            deadline: time(&times[..8]),
            arrival: time(&times[8..16]) as u64,
            timestamp: time(&times[16..]),
            new,
            old,
        })
    }
}

/// A waiting key in memory: the key, its update, its place in deadline order and its size.
struct Slot<K, V> {
    key: K,
    waiting: Waiting<V>,
    place: (i64, u64),
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
    /// Waiting keys by serialized key.
    slots: HashMap<Vec<u8>, Slot<K, V>>,
    /// Serialized keys by deadline, then arrival.
    order: BTreeMap<(i64, u64), Vec<u8>>,
    arrivals: u64,
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
            slots: HashMap::new(),
            order: BTreeMap::new(),
            arrivals: 0,
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

    /// Puts `waiting` for `key` in memory, in deadline and arrival order.
    fn hold(&mut self, key_bytes: Vec<u8>, key: K, waiting: Waiting<V>, bytes: usize) {
        let place = (waiting.deadline, waiting.arrival);
        self.arrivals = self.arrivals.max(waiting.arrival + 1);
        self.order.insert(place, key_bytes.clone());
        self.bytes += bytes;
        self.slots.insert(
            key_bytes,
            Slot {
                key,
                waiting,
                place,
                bytes,
            },
        );
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
    /// Emits the key that has waited longest.
    fn emit_first(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        let Some((_, key_bytes)) = self.order.pop_first() else {
            return Ok(());
        };
        let Some(slot) = self.slots.remove(&key_bytes) else {
            return Ok(());
        };
        self.bytes -= slot.bytes;
        self.store()?.delete(&slot.key)?;
        let Waiting {
            timestamp,
            new,
            old,
            ..
        } = slot.waiting;
        // A final result that deletes a window nobody saw (a session a merge replaced)
        // says nothing: dropped, as Kafka Streams does.
        if new.is_none() && matches!(self.until, Until::WindowCloses(_)) {
            return Ok(());
        }
        ctx.forward(Record::new(slot.key, Change::new(new, old), timestamp))
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
            let bytes = self.size(&key_bytes, &waiting)?;
            self.hold(key_bytes, key, waiting, bytes);
        }
        Ok(())
    }

    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
    ) -> Result<(), ProcessorError> {
        let key_bytes = self.key_bytes(&r.key)?;
        let waiting = match self.slots.remove(&key_bytes) {
            Some(slot) => {
                // The key keeps its place and the value downstream saw last.
                self.order.remove(&slot.place);
                self.bytes -= slot.bytes;
                Waiting {
                    timestamp: r.timestamp,
                    new: r.value.new,
                    ..slot.waiting
                }
            }
            None => Waiting {
                deadline: self.deadline(&r.key, r.timestamp),
                arrival: self.arrivals,
                timestamp: r.timestamp,
                new: r.value.new,
                old: r.value.old,
            },
        };
        self.store()?.put(&r.key, &waiting)?;
        let bytes = self.size(&key_bytes, &waiting)?;
        self.hold(key_bytes, r.key, waiting, bytes);
        let now = self.now(ctx);
        while self
            .order
            .first_key_value()
            .is_some_and(|(p, _)| p.0 <= now)
        {
            self.emit_first(ctx)?;
        }
        while self.buffer.is_exceeded(self.slots.len(), self.bytes) {
            match self.buffer.on_full() {
                BufferFull::EmitEarly => self.emit_first(ctx)?,
                BufferFull::Fail => {
                    return Err(ProcessorError::BufferFull {
                        buffer: self.store_name.clone(),
                        records: self.slots.len(),
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
