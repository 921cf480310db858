//! Event time: where a record's time comes from.
//!
//! A source takes each record's time from a timestamp extractor when the record arrives, so
//! that a task can process its input partitions in time order. An extractor sees either the
//! record's bytes ([`TimestampExtractor`]) or, as Kafka Streams' extractors do, the record as
//! the source's serdes read it ([`TypedTimestampExtractor`]; the record is then deserialized
//! once, on arrival, not again when it is processed).
//!
//! # Invalid times
//!
//! A negative time is invalid. The record does not advance stream time and goes to the
//! deserialization handler (`StreamsConfig::deserialization_handler`), which either skips and
//! counts it (Kafka Streams' `LogAndSkipOnInvalidTimestamp`) or stops the task with
//! `StreamsError::InvalidTimestamp` (its `FailOnInvalidTimestamp`). To use the partition's
//! time for such records instead (its `UsePartitionTimeOnInvalidTimestamp`), wrap an
//! extractor in [`UsePartitionTimeOnInvalid`].

use crate::{RawRecord, Timestamp};

/// Gives a record its event time from its bytes, before deserialization. A negative result
/// is invalid (see the [module docs](self)).
pub trait TimestampExtractor: Send + Sync {
    /// The record's time; `partition_time` is the largest time seen on its partition so far
    /// (-1 before any).
    fn extract(&self, record: &RawRecord, partition_time: Timestamp) -> Timestamp;
}

impl<F> TimestampExtractor for F
where
    F: Fn(&RawRecord, Timestamp) -> Timestamp + Send + Sync,
{
    fn extract(&self, record: &RawRecord, partition_time: Timestamp) -> Timestamp {
        self(record, partition_time)
    }
}

/// Gives a record its event time from the record as the source's serdes read it: its key,
/// its value, and its Kafka timestamp. A negative result is invalid (see the
/// [module docs](self)).
///
/// ```
/// use streams_core::TypedTimestampExtractor;
///
/// struct Order { placed_at: i64 }
///
/// let extractor = |_id: &String, order: &Order, _record_time: i64, _partition_time: i64| {
///     order.placed_at
/// };
/// assert_eq!(extractor.extract(&"o-1".to_owned(), &Order { placed_at: 42 }, 7, -1), 42);
/// ```
pub trait TypedTimestampExtractor<K, V>: Send + Sync {
    /// The time of the record with `key` and `value`; `record_time` is its Kafka timestamp,
    /// `partition_time` the largest time seen on its partition so far (-1 before any).
    fn extract(
        &self,
        key: &K,
        value: &V,
        record_time: Timestamp,
        partition_time: Timestamp,
    ) -> Timestamp;
}

impl<K, V, F> TypedTimestampExtractor<K, V> for F
where
    F: Fn(&K, &V, Timestamp, Timestamp) -> Timestamp + Send + Sync,
{
    fn extract(
        &self,
        key: &K,
        value: &V,
        record_time: Timestamp,
        partition_time: Timestamp,
    ) -> Timestamp {
        self(key, value, record_time, partition_time)
    }
}

/// The record's own Kafka timestamp: the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecordTimestamp;

impl TimestampExtractor for RecordTimestamp {
    fn extract(&self, record: &RawRecord, _: Timestamp) -> Timestamp {
        record.timestamp
    }
}

/// An extractor whose invalid (negative) times are replaced by the partition's time, the
/// largest time seen on the record's partition so far, as Kafka Streams'
/// `UsePartitionTimeOnInvalidTimestamp`. Before the partition has a time, the record stays
/// invalid and goes to the deserialization handler.
///
/// ```
/// use streams_core::{RawRecord, RecordTimestamp, TimestampExtractor, UsePartitionTimeOnInvalid};
///
/// let extractor = UsePartitionTimeOnInvalid(RecordTimestamp);
/// let record = RawRecord { timestamp: -1, ..RawRecord::default() };
/// assert_eq!(extractor.extract(&record, 1_000), 1_000);
/// assert_eq!(extractor.extract(&record, -1), -1);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct UsePartitionTimeOnInvalid<E>(pub E);

impl<E: TimestampExtractor> TimestampExtractor for UsePartitionTimeOnInvalid<E> {
    fn extract(&self, record: &RawRecord, partition_time: Timestamp) -> Timestamp {
        match self.0.extract(record, partition_time) {
            t if t < 0 => partition_time,
            t => t,
        }
    }
}

impl<K, V, E: TypedTimestampExtractor<K, V>> TypedTimestampExtractor<K, V>
    for UsePartitionTimeOnInvalid<E>
{
    fn extract(
        &self,
        key: &K,
        value: &V,
        record_time: Timestamp,
        partition_time: Timestamp,
    ) -> Timestamp {
        match self.0.extract(key, value, record_time, partition_time) {
            t if t < 0 => partition_time,
            t => t,
        }
    }
}
