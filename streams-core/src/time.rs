//! Event time: where a record's time comes from.

use crate::{RawRecord, Timestamp};

/// Gives a record its event time. Runs on the record's bytes, before deserialization, so the
/// task can order its input partitions by time. A negative result is invalid input and goes to
/// the deserialization handler.
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

/// The record's own Kafka timestamp: the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecordTimestamp;

impl TimestampExtractor for RecordTimestamp {
    fn extract(&self, record: &RawRecord, _: Timestamp) -> Timestamp {
        record.timestamp
    }
}
