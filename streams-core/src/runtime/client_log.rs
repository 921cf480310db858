//! librdkafka's log lines, forwarded to `tracing` (as rust-rdkafka's default does through
//! `log`), for the contexts of ours that look at some of them first.

use rdkafka::config::RDKafkaLogLevel;

/// Whether `level` is a problem: syslog's emergency (0) to warning (4).
pub(crate) fn is_problem(level: RDKafkaLogLevel) -> bool {
    (level as i32) <= (RDKafkaLogLevel::Warning as i32)
}

/// Forwards one librdkafka log line to `tracing` at its level.
pub(crate) fn forward(level: RDKafkaLogLevel, fac: &str, message: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", "{fac} {message}"),
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", "{fac} {message}"),
        RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
            tracing::info!(target: "librdkafka", "{fac} {message}")
        }
        RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", "{fac} {message}"),
    }
}
