//! Application configuration and the handler for input that cannot become a record.

use std::sync::Arc;

use crate::{RawRecord, StreamsError};

/// What to do with a record that cannot be deserialized or has an invalid timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandlerResponse {
    /// Skip the record, count it, and go on.
    Continue,
    /// Stop with the error.
    Fail,
}

/// Decides the fate of input records that cannot become typed records.
pub trait DeserializationHandler: Send + Sync {
    /// Called with the error (which names the record's topic, partition and offset) and the
    /// record's bytes.
    fn handle(&self, error: &StreamsError, record: &RawRecord) -> HandlerResponse;
}

/// Fails on the first bad record: the default, as in Kafka Streams.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogAndFail;

impl DeserializationHandler for LogAndFail {
    fn handle(&self, error: &StreamsError, _: &RawRecord) -> HandlerResponse {
        tracing::error!(%error, "failing on a record that cannot be read");
        HandlerResponse::Fail
    }
}

/// Logs a bad record, counts it in the task's `skipped` metric, and goes on.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogAndContinue;

impl DeserializationHandler for LogAndContinue {
    fn handle(&self, _: &StreamsError, _: &RawRecord) -> HandlerResponse {
        HandlerResponse::Continue
    }
}

/// The configuration of a streams application.
///
/// ```
/// use streams_core::{LogAndContinue, StreamsConfig};
///
/// let config = StreamsConfig::new("word-count").deserialization_handler(LogAndContinue);
/// assert_eq!(config.application_id(), "word-count");
/// ```
#[derive(Clone)]
pub struct StreamsConfig {
    application_id: String,
    deserialization_handler: Arc<dyn DeserializationHandler>,
}

impl StreamsConfig {
    /// A configuration for the application `application_id`, which names its consumer group
    /// and prefixes its internal topics.
    pub fn new(application_id: impl Into<String>) -> Self {
        Self {
            application_id: application_id.into(),
            deserialization_handler: Arc::new(LogAndFail),
        }
    }

    /// Sets the handler for records that cannot be deserialized (default: [`LogAndFail`]).
    pub fn deserialization_handler(
        mut self,
        handler: impl DeserializationHandler + 'static,
    ) -> Self {
        self.deserialization_handler = Arc::new(handler);
        self
    }

    /// The application id.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// The handler for records that cannot be deserialized.
    pub fn deserialization_handler_ref(&self) -> &Arc<dyn DeserializationHandler> {
        &self.deserialization_handler
    }
}

impl std::fmt::Debug for StreamsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsConfig")
            .field("application_id", &self.application_id)
            .finish_non_exhaustive()
    }
}
