//! The metadata client that `start()` checks the cluster with. It remembers what librdkafka
//! reported while trying to reach the brokers, so that an unreachable cluster fails with the
//! address and the cause (name resolution, connection refused, ...), not only "timed out".

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use super::{client_log, clients, RuntimeError};
use crate::StreamsConfig;

/// Keeps the last connection problem librdkafka reported.
#[derive(Default)]
pub(crate) struct StartupContext {
    last_problem: Mutex<Option<String>>,
}

impl StartupContext {
    fn remember(&self, problem: String) {
        let mut last = self.last_problem.lock().unwrap_or_else(|p| p.into_inner());
        *last = Some(problem);
    }

    fn last_problem(&self) -> Option<String> {
        self.last_problem
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ClientContext for StartupContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        if client_log::is_problem(level) {
            self.remember(log_message.to_owned());
        }
        client_log::forward(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "Kafka client error while starting");
        // "1/1 brokers are down" says less than the resolution or connection failure
        // reported just before it.
        if !reason.contains("brokers are down") {
            self.remember(reason.to_owned());
        }
    }
}

impl ConsumerContext for StartupContext {}

/// The client `start()` reads the cluster's metadata with.
pub(crate) type MetadataClient = BaseConsumer<StartupContext>;

pub(crate) fn metadata_client(config: &StreamsConfig) -> Result<MetadataClient, RuntimeError> {
    clients::assigned_consumer(config, "startup")
        .create_with_context(StartupContext::default())
        .map_err(RuntimeError::kafka("create the metadata client"))
}

/// Turns a failed metadata request into an error naming the cluster and, where librdkafka
/// said why, the cause; or into [`RuntimeError::Authentication`] when the cluster refused
/// the client's login or TLS handshake.
pub(crate) fn unreachable(
    client: &MetadataClient,
    config: &StreamsConfig,
    timeout: Duration,
    error: KafkaError,
) -> RuntimeError {
    // librdkafka hands its log lines and errors over as events, which only a poll serves
    // (this consumer has no partitions: a poll serves events and returns their errors). A
    // refused login or TLS handshake is its own error; the bound keeps a client that keeps
    // reconnecting from holding us here.
    for _ in 0..100 {
        if let Some(Err(e)) = client.poll(Duration::ZERO) {
            if let Some(code @ (RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SSL)) =
                e.rdkafka_error_code()
            {
                return RuntimeError::Authentication(code);
            }
        }
    }
    RuntimeError::Unreachable {
        bootstrap_servers: config.bootstrap_servers_value().to_owned(),
        timeout,
        cause: client
            .client()
            .context()
            .last_problem()
            .unwrap_or_else(|| error.to_string()),
    }
}
