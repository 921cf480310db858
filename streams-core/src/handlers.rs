//! The handlers of records that fail while they are processed or produced (Kafka Streams'
//! `processing.exception.handler` and `production.exception.handler`), next to the
//! deserialization handler of [`config`](crate::config). All three answer with a
//! [`HandlerResponse`] and share one dead-letter mechanism: [`DeadLetterQueue`] writes the
//! failing record's key and value unchanged to its topic, with the error, the node and the
//! origin in [`dead_letter_headers`](crate::config::dead_letter_headers).

use crate::config::{DeadLetterQueue, HandlerResponse, LogAndContinue, LogAndFail};
use crate::{Headers, ProcessorError, RecordPart, SerdeError, TaskId, Timestamp};

/// Where a failed record came from and where it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorContext<'a> {
    /// The task that processed (or produced) the record, when known (a delivery report that
    /// arrives after the send does not say).
    pub task: Option<TaskId>,
    /// The processor node that failed (for a sink, the sink's name); empty when the error
    /// comes from the producer.
    pub node: &'a str,
    /// The topic of the record: the input topic it was read from, or, for a send error, the
    /// topic it was sent to.
    pub topic: &'a str,
    /// Its partition there (-1 when the producer had not picked one yet).
    pub partition: i32,
    /// Its offset there (-1 for a record that was never written).
    pub offset: i64,
}

/// A failed record's bytes: the input record as it was read (processing errors and
/// serialization errors), or the record the producer could not send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailedRecord<'a> {
    /// The key bytes; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// The value bytes; `None` is a tombstone.
    pub value: Option<&'a [u8]>,
    /// The record's timestamp.
    pub timestamp: Timestamp,
    /// The record's headers.
    pub headers: &'a Headers,
}

/// Why a record could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum ProductionError {
    /// A sink could not serialize the record's key or value.
    #[error("cannot serialize the {part} for topic `{topic}`: {source}")]
    Serialization {
        /// The destination topic.
        topic: String,
        /// Key or value.
        part: RecordPart,
        /// The serde's error.
        source: SerdeError,
    },
    /// The producer (or the broker) refused the record.
    #[error("cannot send a record to `{topic}`: {reason}")]
    Send {
        /// The destination topic.
        topic: String,
        /// Whether the record is larger than the producer's `message.max.bytes` or the
        /// topic's `max.message.bytes` on the broker.
        record_too_large: bool,
        /// The producer's error.
        reason: String,
    },
}

/// Decides the fate of a record whose processing failed: an error returned by a processor,
/// or a panic in user code (caught, as [`ProcessorError::Panic`]). Kafka Streams'
/// `processing.exception.handler`; the default is [`LogAndFail`].
pub trait ProcessingExceptionHandler: Send + Sync {
    /// Called with where the record failed, its bytes as read, and the error (whose
    /// [`root`](ProcessorError::root) is the node's own error).
    fn handle(
        &self,
        context: &ErrorContext<'_>,
        record: &FailedRecord<'_>,
        error: &ProcessorError,
    ) -> HandlerResponse;

    /// The topic that [`HandlerResponse::DeadLetter`] sends records to, if the handler uses
    /// one.
    fn dead_letter_topic(&self) -> Option<&str> {
        None
    }
}

/// Decides the fate of a record that could not be produced: a sink could not serialize it,
/// or the producer or broker refused it (for example a record larger than the topic's
/// `max.message.bytes`). Kafka Streams' `production.exception.handler`; the default is
/// [`LogAndFail`].
pub trait ProductionExceptionHandler: Send + Sync {
    /// Called with where the record failed, its bytes (the input record for a
    /// serialization error, the produced record for a send error) and the error.
    fn handle(
        &self,
        context: &ErrorContext<'_>,
        record: &FailedRecord<'_>,
        error: &ProductionError,
    ) -> HandlerResponse;

    /// The topic that [`HandlerResponse::DeadLetter`] sends records to, if the handler uses
    /// one.
    fn dead_letter_topic(&self) -> Option<&str> {
        None
    }
}

impl ProcessingExceptionHandler for LogAndFail {
    fn handle(
        &self,
        c: &ErrorContext<'_>,
        _: &FailedRecord<'_>,
        e: &ProcessorError,
    ) -> HandlerResponse {
        tracing::error!(
            task = ?c.task, node = c.node, topic = c.topic, partition = c.partition,
            offset = c.offset, error = %e, "processing failed"
        );
        HandlerResponse::Fail
    }
}

impl ProductionExceptionHandler for LogAndFail {
    fn handle(
        &self,
        c: &ErrorContext<'_>,
        _: &FailedRecord<'_>,
        e: &ProductionError,
    ) -> HandlerResponse {
        tracing::error!(
            task = ?c.task, node = c.node, topic = c.topic, partition = c.partition,
            offset = c.offset, error = %e, "producing failed"
        );
        HandlerResponse::Fail
    }
}

/// Skips the record: the caller counts it (the task's `skipped`, or the instance's skipped
/// sends) and logs it, at most one line per interval.
impl ProcessingExceptionHandler for LogAndContinue {
    fn handle(
        &self,
        _: &ErrorContext<'_>,
        _: &FailedRecord<'_>,
        _: &ProcessorError,
    ) -> HandlerResponse {
        HandlerResponse::Continue
    }
}

/// Skips the record: the caller counts it and logs it, at most one line per interval.
impl ProductionExceptionHandler for LogAndContinue {
    fn handle(
        &self,
        _: &ErrorContext<'_>,
        _: &FailedRecord<'_>,
        _: &ProductionError,
    ) -> HandlerResponse {
        HandlerResponse::Continue
    }
}

impl ProcessingExceptionHandler for DeadLetterQueue {
    fn handle(
        &self,
        c: &ErrorContext<'_>,
        _: &FailedRecord<'_>,
        e: &ProcessorError,
    ) -> HandlerResponse {
        tracing::warn!(
            task = ?c.task, node = c.node, topic = c.topic, partition = c.partition,
            offset = c.offset, error = %e, dead_letter_topic = self.topic(),
            "dead-lettering a record whose processing failed"
        );
        HandlerResponse::DeadLetter
    }

    fn dead_letter_topic(&self) -> Option<&str> {
        Some(self.topic())
    }
}

impl ProductionExceptionHandler for DeadLetterQueue {
    fn handle(
        &self,
        c: &ErrorContext<'_>,
        _: &FailedRecord<'_>,
        e: &ProductionError,
    ) -> HandlerResponse {
        tracing::warn!(
            task = ?c.task, node = c.node, topic = c.topic, partition = c.partition,
            offset = c.offset, error = %e, dead_letter_topic = self.topic(),
            "dead-lettering a record that could not be produced"
        );
        HandlerResponse::DeadLetter
    }

    fn dead_letter_topic(&self) -> Option<&str> {
        Some(self.topic())
    }
}

/// The headers of a dead-lettered record: its own, then the error's reason, the failing
/// node (if any) and the origin (topic, partition, offset).
pub(crate) fn dead_letter_headers_for(
    own: &Headers,
    reason: &str,
    context: &ErrorContext<'_>,
) -> Headers {
    use crate::config::dead_letter_headers as h;
    let mut headers = own.clone();
    headers
        .add(h::REASON, reason)
        .add(h::TOPIC, context.topic)
        .add(h::PARTITION, context.partition.to_string())
        .add(h::OFFSET, context.offset.to_string());
    if !context.node.is_empty() {
        headers.add(h::NODE, context.node);
    }
    headers
}
