//! Kafka messages as the library's records.

use rdkafka::message::{BorrowedMessage, Headers as _, Message};

use crate::{Headers, RawRecord};

/// A consumed message as a task's input record (key, value and headers copied out of the
/// client's buffer, which the next poll reuses).
pub(crate) fn raw_record(message: &BorrowedMessage<'_>) -> RawRecord {
    let mut headers = Headers::new();
    if let Some(kafka_headers) = message.headers() {
        for header in kafka_headers.iter() {
            match header.value {
                Some(value) => headers.add(header.key, value),
                None => headers.add_null(header.key),
            };
        }
    }
    RawRecord {
        offset: message.offset(),
        timestamp: message.timestamp().to_millis().unwrap_or(-1),
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
    }
}
