//! Kafka messages as the library's records.

use rdkafka::message::{BorrowedMessage, Headers as _, Message};

use crate::{Headers, RawRecord};

/// The header that says a record's timestamp is 0 (the Unix epoch). librdkafka cannot
/// produce that timestamp, it stamps such a record with the wall clock instead; a record
/// timed at the epoch (test data, event times counted from 0) would then push every task
/// that reads it, through a repartition topic say, to the present, and make all later
/// records late. So the producer side adds this header and the consumer side gives the
/// record its 0 back and drops the header.
pub(crate) const EPOCH_TIMESTAMP_HEADER: &str = "streams.timestamp.epoch";

/// A consumed message as a task's input record (key, value and headers copied out of the
/// client's buffer, which the next poll reuses).
pub(crate) fn raw_record(message: &BorrowedMessage<'_>) -> RawRecord {
    let mut headers = Headers::new();
    if let Some(kafka_headers) = message.headers() {
        for header in kafka_headers.iter() {
            match header.value {
                _ if header.key == EPOCH_TIMESTAMP_HEADER => continue,
                Some(value) => headers.add(header.key, value),
                None => headers.add_null(header.key),
            };
        }
    }
    RawRecord {
        offset: message.offset(),
        timestamp: timestamp(message),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
    }
}

/// A consumed message's timestamp: 0 where the producer said so (see
/// [`EPOCH_TIMESTAMP_HEADER`]), -1 where it has none.
pub(crate) fn timestamp(message: &BorrowedMessage<'_>) -> i64 {
    let at_epoch = message
        .headers()
        .is_some_and(|h| h.iter().any(|h| h.key == EPOCH_TIMESTAMP_HEADER));
    match at_epoch {
        true => 0,
        false => message.timestamp().to_millis().unwrap_or(-1),
    }
}
