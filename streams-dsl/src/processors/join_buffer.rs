//! The buffer of a stream-table join with a grace period (Kafka Streams'
//! `RocksDBTimeOrderedKeyValueBuffer` as `KStreamKTableJoinProcessor` uses it): stream records
//! wait, ordered by time, until the buffer's stream time passes their time plus the grace
//! period.
//!
//! Stored in a logged key-value store of bytes: a record's key is its time (8 bytes, sign bit
//! flipped, big-endian), its key's bytes and a sequence number (4 bytes big-endian), so that
//! records leave in time order, then key bytes, then arrival, as in Kafka Streams. Its value
//! is the headers (see [`put_headers`]) and then the value's bytes. The buffer's stream time
//! lives under the empty key, so that a restarted task buffers and evicts exactly as the
//! uninterrupted one would.

use streams_core::{
    Encoded, Headers, ProcessorContext, ProcessorError, Record, SerdeError, SerdeRef,
};

use super::StoreSlot;

/// The key of the buffer's stream time.
const STREAM_TIME_KEY: Vec<u8> = Vec::new();

/// `t` as 8 bytes that sort as `t` does among signed numbers.
fn ordered(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

fn from_ordered(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

/// A time-ordered buffer of the stream records of one join.
pub(crate) struct JoinBuffer<K, V> {
    store: StoreSlot<Vec<u8>, Vec<u8>>,
    grace: i64,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    /// The topic name handed to the serdes.
    topic: String,
    /// The largest time of a record put so far.
    observed: i64,
    seq: u32,
}

impl<K: 'static, V: 'static> JoinBuffer<K, V> {
    pub(crate) fn new(
        store_name: String,
        grace: i64,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        Self {
            topic: store_name.clone(),
            store: StoreSlot::new(store_name),
            grace,
            key_serde,
            value_serde,
            observed: i64::MIN,
            seq: 0,
        }
    }

    /// Opens the store and picks up the stream time and sequence where they were.
    pub(crate) fn open<KO, VO>(
        &mut self,
        ctx: &ProcessorContext<'_, KO, VO>,
    ) -> Result<(), ProcessorError> {
        self.store.open(ctx)?;
        let store = self.store.get()?;
        self.observed = match store.get(&STREAM_TIME_KEY)? {
            Some(bytes) => i64::from_be_bytes(bytes.as_slice().try_into().map_err(|_| {
                SerdeError::InvalidLength {
                    expected: 8,
                    actual: bytes.len(),
                }
            })?),
            None => i64::MIN,
        };
        let mut next = 0;
        for (key, _) in store.all()? {
            if let Some(seq) = key.len().checked_sub(4).map(|at| &key[at..]) {
                let seq = u32::from_be_bytes(seq.try_into().unwrap_or_default());
                next = next.max(seq.wrapping_add(1) & 0x7FFF_FFFF);
            }
        }
        self.seq = next;
        Ok(())
    }

    fn limit(&self) -> i64 {
        self.observed.saturating_sub(self.grace)
    }

    /// Buffers `r` unless it is already older than stream time minus grace (then it must be
    /// joined at once, and `r` is handed back).
    pub(crate) fn put(&mut self, r: Record<K, V>) -> Result<Option<Record<K, V>>, ProcessorError> {
        if self.observed != i64::MIN && self.limit() > r.timestamp {
            return Ok(Some(r));
        }
        let store = self.store.get()?;
        if r.timestamp > self.observed {
            self.observed = r.timestamp;
            store.put(&STREAM_TIME_KEY, &r.timestamp.to_be_bytes().to_vec())?;
        }
        let mut key = ordered(r.timestamp).to_vec();
        let mut headers = r.headers;
        if self
            .key_serde
            .serialize(&self.topic, &mut headers, &r.key, &mut key)?
            == Encoded::Null
        {
            return Err(SerdeError::Custom("a buffered key cannot encode as a null".into()).into());
        }
        key.extend_from_slice(&self.seq.to_be_bytes());
        self.seq = self.seq.wrapping_add(1) & 0x7FFF_FFFF;
        let mut value = Vec::new();
        put_headers(&headers, &mut value)?;
        if self
            .value_serde
            .serialize(&self.topic, &mut headers, &r.value, &mut value)?
            == Encoded::Null
        {
            return Err(
                SerdeError::Custom("a buffered value cannot encode as a null".into()).into(),
            );
        }
        store.put(&key, &value)?;
        Ok(None)
    }

    /// Removes every record whose time is at most stream time minus grace, in order, and
    /// hands each to `f`.
    pub(crate) fn evict(
        &mut self,
        mut f: impl FnMut(Record<K, V>) -> Result<(), ProcessorError>,
    ) -> Result<(), ProcessorError> {
        if self.observed == i64::MIN {
            return Ok(());
        }
        let store = self.store.get()?;
        let limit = self.limit();
        // Every key of a record at `limit` sorts below the 8 bytes of `limit + 1`.
        let to = match limit.checked_add(1) {
            Some(next) => ordered(next).to_vec(),
            None => vec![0xff; 9],
        };
        for (key, value) in store.range(&ordered(i64::MIN).to_vec(), &to)? {
            store.delete(&key)?;
            f(self.decode(&key, &value)?)?;
        }
        Ok(())
    }

    fn decode(&self, key: &[u8], value: &[u8]) -> Result<Record<K, V>, ProcessorError> {
        let short = || SerdeError::InvalidLength {
            expected: 12,
            actual: key.len(),
        };
        let (time, rest) = key.split_at_checked(8).ok_or_else(short)?;
        let key_bytes = rest.get(..rest.len().checked_sub(4).ok_or_else(short)?);
        let (headers, value) = take_headers(value)?;
        let timestamp = from_ordered(time.try_into().map_err(|_| short())?);
        Ok(Record {
            key: self
                .key_serde
                .deserialize(&self.topic, &headers, key_bytes)?,
            value: self
                .value_serde
                .deserialize(&self.topic, &headers, Some(value))?,
            timestamp,
            headers,
        })
    }
}

/// Appends `headers`: their count (4 bytes), then each key behind its length (4 bytes) and
/// its value behind its length, or -1 for a null value (4 bytes, signed).
fn put_headers(headers: &Headers, out: &mut Vec<u8>) -> Result<(), SerdeError> {
    let length = |n: usize| {
        u32::try_from(n).map_err(|_| SerdeError::InvalidLength {
            expected: u32::MAX as usize,
            actual: n,
        })
    };
    out.extend_from_slice(&length(headers.len())?.to_be_bytes());
    for header in headers.iter() {
        out.extend_from_slice(&length(header.key.len())?.to_be_bytes());
        out.extend_from_slice(header.key.as_bytes());
        match &header.value {
            Some(value) => {
                out.extend_from_slice(&length(value.len())?.to_be_bytes());
                out.extend_from_slice(value);
            }
            None => out.extend_from_slice(&u32::MAX.to_be_bytes()),
        }
    }
    Ok(())
}

/// Splits `n` bytes off the front of `data`.
fn take<'a>(data: &mut &'a [u8], n: usize) -> Result<&'a [u8], SerdeError> {
    let (head, tail) = data.split_at_checked(n).ok_or(SerdeError::InvalidLength {
        expected: n,
        actual: data.len(),
    })?;
    *data = tail;
    Ok(head)
}

fn take_u32(data: &mut &[u8]) -> Result<u32, SerdeError> {
    let bytes = take(data, 4)?;
    Ok(u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Headers written by [`put_headers`] at the front of `data`, and what follows them.
fn take_headers(mut data: &[u8]) -> Result<(Headers, &[u8]), SerdeError> {
    let mut headers = Headers::new();
    for _ in 0..take_u32(&mut data)? {
        let length = take_u32(&mut data)? as usize;
        let key = String::from_utf8(take(&mut data, length)?.to_vec())
            .map_err(|e| SerdeError::Custom(e.to_string()))?;
        match take_u32(&mut data)? {
            u32::MAX => headers.add_null(key),
            length => headers.add(key, take(&mut data, length as usize)?),
        };
    }
    Ok((headers, data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_times_sort_as_numbers() {
        let mut headers = Headers::new();
        headers.add("a", "1").add_null("b").add("a", "");
        let mut out = Vec::new();
        put_headers(&headers, &mut out).unwrap();
        out.extend_from_slice(b"rest");
        let (read, rest) = take_headers(&out).unwrap();
        assert_eq!(read, headers);
        assert_eq!(rest, b"rest");
        assert!(take_headers(&out[..5]).is_err());
        assert!(ordered(-1) < ordered(0) && ordered(0) < ordered(1));
        assert_eq!(from_ordered(ordered(-5)), -5);
    }
}
