//! A [`StreamsConfig`] from string properties with Kafka Streams' names (`application.id`,
//! `num.stream.threads`, `consumer.session.timeout.ms`, ...), given as pairs or read from a
//! Java properties file, and the checks every configuration passes before it runs.

use std::path::Path;
use std::time::Duration;

use crate::{LogAndContinue, LogAndFail, ProcessingGuarantee, StreamsConfig};

/// A configuration that cannot be used: the key it is about and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The key is not a Kafka Streams setting this library knows, nor a client property
    /// (give client properties a client prefix: `consumer.`, `producer.`, `admin.`, ...).
    #[error("unknown configuration `{key}`{hint}")]
    UnknownKey {
        /// The key.
        key: String,
        /// A suggestion, if there is one (starts with "; ").
        hint: String,
    },
    /// The key's value cannot be used.
    #[error("invalid value `{value}` for configuration `{key}`: {reason}")]
    InvalidValue {
        /// The key.
        key: String,
        /// The value given.
        value: String,
        /// What is expected.
        reason: String,
    },
    /// A setting every application needs is missing.
    #[error("missing required configuration `{0}`")]
    Missing(&'static str),
    /// The properties file could not be read.
    #[error("cannot read properties file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

fn number<T: std::str::FromStr>(key: &str, value: &str, what: &str) -> Result<T, ConfigError> {
    value.trim().parse().map_err(|_| invalid(key, value, what))
}

fn millis(key: &str, value: &str) -> Result<Duration, ConfigError> {
    number::<u64>(key, value, "a number of milliseconds, 0 or more").map(Duration::from_millis)
}

/// The client prefixes of Kafka Streams, each with what it passes the rest of the key to.
const CLIENT_PREFIXES: [&str; 6] = [
    "main.consumer.",
    "restore.consumer.",
    "global.consumer.",
    "consumer.",
    "producer.",
    "admin.",
];

/// Unprefixed client properties that Kafka Streams hands to every client: connection,
/// security and identity settings.
fn is_common_client_property(key: &str) -> bool {
    const PREFIXES: [&str; 4] = ["security.", "sasl.", "ssl.", "socket."];
    const KEYS: [&str; 7] = [
        "client.id",
        "client.rack",
        "request.timeout.ms",
        "metadata.max.age.ms",
        "reconnect.backoff.ms",
        "reconnect.backoff.max.ms",
        "retry.backoff.ms",
    ];
    PREFIXES.iter().any(|p| key.starts_with(p)) || KEYS.contains(&key)
}

/// Kafka Streams settings whose behaviour this library has but does not take from
/// properties, with what to use instead.
fn unsupported_hint(key: &str) -> Option<&'static str> {
    Some(match key {
        "default.key.serde" | "default.value.serde" => {
            "; serdes are chosen by type: register them with `StreamsBuilder::with_serde`"
        }
        "topology.optimization" => "; the DSL builds an optimized topology already",
        _ => return None,
    })
}

impl StreamsConfig {
    /// A configuration from Kafka Streams properties (`application.id` is required):
    ///
    /// | key | sets |
    /// |---|---|
    /// | `application.id` | [`new`](Self::new) |
    /// | `bootstrap.servers` | [`bootstrap_servers`](Self::bootstrap_servers) |
    /// | `num.stream.threads` | [`num_stream_threads`](Self::num_stream_threads) (1 or more) |
    /// | `processing.guarantee` | `at_least_once` or `exactly_once_v2` |
    /// | `commit.interval.ms` | [`commit_interval`](Self::commit_interval) |
    /// | `statestore.cache.max.bytes`, `cache.max.bytes.buffering` | [`cache_max_bytes`](Self::cache_max_bytes) |
    /// | `state.dir` | [`state_dir`](Self::state_dir) |
    /// | `max.task.idle.ms` | [`max_task_idle`](Self::max_task_idle) |
    /// | `state.cleanup.delay.ms` | [`state_cleanup_delay`](Self::state_cleanup_delay) |
    /// | `repartition.purge.interval.ms` | [`repartition_purge_interval`](Self::repartition_purge_interval) |
    /// | `metrics.recording.level` | [`metrics_recording_level`](Self::metrics_recording_level): `INFO`, `DEBUG` (`TRACE` as `DEBUG`) |
    /// | `group.instance.id` | [`group_instance_id`](Self::group_instance_id) (static membership; each thread adds its index) |
    /// | `application.server` | [`application_server`](Self::application_server) (`host:port`) |
    /// | `group.protocol` | [`group_protocol`](Self::group_protocol) (`classic` or `consumer`; differs: Kafka Streams' `streams` protocol is not offered) |
    /// | `buffered.records.per.partition` | [`buffered_records_per_partition`](Self::buffered_records_per_partition) |
    /// | `replication.factor` | [`replication_factor`](Self::replication_factor) (-1: the broker's default) |
    /// | `default.timestamp.extractor` | only the record's own timestamp (`FailOnInvalidTimestamp`); other extractors are given per source with `Consumed` |
    /// | `deserialization.exception.handler`, `default.deserialization.exception.handler` | `LogAndFailExceptionHandler` or `LogAndContinueExceptionHandler` |
    /// | `emit.interval.ms.kstreams.windowed.aggregation` | [`windowed_aggregation_emit_interval`](Self::windowed_aggregation_emit_interval) |
    /// | `consumer.*`, `main.consumer.*`, `restore.consumer.*`, `global.consumer.*`, `producer.*`, `admin.*` | the clients' own properties |
    /// | `client.id`, `security.*`, `sasl.*`, `ssl.*`, ... | every client ([`client_property`](Self::client_property)) |
    ///
    /// A later key overrides an earlier one. Any other key is refused with
    /// [`ConfigError::UnknownKey`], and a value that does not fit with
    /// [`ConfigError::InvalidValue`], both naming the key.
    ///
    /// ```
    /// use streams_core::{ProcessingGuarantee, StreamsConfig};
    ///
    /// let config = StreamsConfig::from_properties([
    ///     ("application.id", "orders"),
    ///     ("num.stream.threads", "4"),
    ///     ("processing.guarantee", "exactly_once_v2"),
    ///     ("consumer.session.timeout.ms", "10000"),
    /// ])?;
    /// assert_eq!(config.num_stream_threads_value(), 4);
    /// assert_eq!(config.processing_guarantee_value(), ProcessingGuarantee::ExactlyOnce);
    /// assert!(StreamsConfig::from_properties([("application.id", "a"), ("num.stream.threads", "0")]).is_err());
    /// # Ok::<(), streams_core::ConfigError>(())
    /// ```
    pub fn from_properties<K, V>(
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let properties: Vec<(String, String)> = properties
            .into_iter()
            .map(|(k, v)| (k.as_ref().trim().to_owned(), v.as_ref().to_owned()))
            .collect();
        let application_id = properties
            .iter()
            .rev()
            .find(|(k, _)| k == "application.id")
            .map(|(_, v)| v.trim().to_owned())
            .ok_or(ConfigError::Missing("application.id"))?;
        if application_id.is_empty() {
            return Err(invalid("application.id", "", "an application id"));
        }
        let mut config = StreamsConfig::new(application_id);
        for (key, value) in &properties {
            config = config.with_property(key, value)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// A configuration from a Java properties file (`key=value` or `key: value` lines, `#`
    /// and `!` comments, `\` continuations), as [`from_properties`](Self::from_properties).
    pub fn from_properties_file(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_properties(parse_properties(&text))
    }

    /// Applies one property (not `application.id`, which [`new`](Self::new) takes).
    fn with_property(self, key: &str, value: &str) -> Result<Self, ConfigError> {
        let v = value.trim();
        Ok(match key {
            "application.id" => self,
            "bootstrap.servers" => {
                if v.is_empty() {
                    return Err(invalid(key, value, "host:port[,host:port...]"));
                }
                self.bootstrap_servers(v)
            }
            "num.stream.threads" => {
                let threads: usize = number(key, value, "a number of threads, 1 or more")?;
                self.num_stream_threads(threads)
            }
            "processing.guarantee" => {
                self.processing_guarantee(match v {
                    "at_least_once" => ProcessingGuarantee::AtLeastOnce,
                    "exactly_once_v2" => ProcessingGuarantee::ExactlyOnce,
                    _ => return Err(invalid(
                        key,
                        value,
                        "`at_least_once` or `exactly_once_v2` (Kafka Streams 4 removed the others)",
                    )),
                })
            }
            "commit.interval.ms" => self.commit_interval(millis(key, value)?),
            "statestore.cache.max.bytes" | "cache.max.bytes.buffering" => {
                self.cache_max_bytes(number(key, value, "a number of bytes, 0 or more")?)
            }
            "state.dir" => {
                if v.is_empty() {
                    return Err(invalid(key, value, "a directory"));
                }
                self.state_dir(v)
            }
            "max.task.idle.ms" => self.max_task_idle(millis(key, value)?),
            "state.cleanup.delay.ms" => self.state_cleanup_delay(millis(key, value)?),
            "repartition.purge.interval.ms" => self.repartition_purge_interval(millis(key, value)?),
            "metrics.recording.level" => self.metrics_recording_level(match value {
                "INFO" => crate::MetricsRecordingLevel::Info,
                // Kafka Streams' TRACE adds nothing this library records.
                "DEBUG" | "TRACE" => crate::MetricsRecordingLevel::Debug,
                _ => return Err(invalid(key, value, "INFO, DEBUG or TRACE")),
            }),
            "group.instance.id" => self.group_instance_id(value),
            "group.protocol" => self.group_protocol(match v {
                "classic" => crate::GroupProtocol::Classic,
                "consumer" => crate::GroupProtocol::Consumer,
                _ => {
                    return Err(invalid(
                        key,
                        value,
                        "`classic` or `consumer` (KIP-848; Kafka Streams' own `streams` \
                         protocol of KIP-1071 is not in librdkafka)",
                    ))
                }
            }),
            "buffered.records.per.partition" => self.buffered_records_per_partition(number(
                key,
                value,
                "a number of records, 1 or more",
            )?),
            "application.server" => match crate::HostInfo::parse(v) {
                Some(server) => self.application_server(server),
                None => return Err(invalid(key, value, "host:port")),
            },
            "replication.factor" => {
                let factor: i32 = number(key, value, "-1 or a replica count, 1 or more")?;
                if factor == 0 || factor < -1 {
                    return Err(invalid(key, value, "-1 or a replica count, 1 or more"));
                }
                self.replication_factor(factor)
            }
            "default.timestamp.extractor" => match v.rsplit('.').next() {
                Some("FailOnInvalidTimestamp") => self,
                _ => {
                    return Err(invalid(
                        key,
                        value,
                        "`FailOnInvalidTimestamp` (the record's own timestamp); give other \
                         extractors per source with `Consumed::with_timestamp_extractor`",
                    ))
                }
            },
            "deserialization.exception.handler" | "default.deserialization.exception.handler" => {
                match v.rsplit('.').next() {
                    Some("LogAndFailExceptionHandler") => self.deserialization_handler(LogAndFail),
                    Some("LogAndContinueExceptionHandler") => {
                        self.deserialization_handler(LogAndContinue)
                    }
                    _ => {
                        return Err(invalid(
                            key,
                            value,
                            "`LogAndFailExceptionHandler` or `LogAndContinueExceptionHandler`; \
                             give other handlers with `StreamsConfig::deserialization_handler`",
                        ))
                    }
                }
            }
            "emit.interval.ms.kstreams.windowed.aggregation" => {
                self.windowed_aggregation_emit_interval(millis(key, value)?)
            }
            _ => return self.with_client_property(key, value),
        })
    }

    /// Applies a client property: prefixed for one kind of client, or common to all.
    fn with_client_property(self, key: &str, value: &str) -> Result<Self, ConfigError> {
        let prefixed = CLIENT_PREFIXES
            .iter()
            .find_map(|p| key.strip_prefix(p).map(|rest| (*p, rest)));
        if let Some((prefix, rest)) = prefixed {
            if rest.is_empty() {
                return Err(ConfigError::UnknownKey {
                    key: key.to_owned(),
                    hint: "; a client prefix needs a property after it".to_owned(),
                });
            }
            return Ok(match prefix {
                "main.consumer." => self.main_consumer_property(rest, value),
                "restore.consumer." => self.restore_consumer_property(rest, value),
                "global.consumer." => self.global_consumer_property(rest, value),
                "consumer." => self.consumer_property(rest, value),
                "producer." => self.producer_property(rest, value),
                _ => self.admin_property(rest, value),
            });
        }
        if is_common_client_property(key) {
            return Ok(self.client_property(key, value));
        }
        Err(ConfigError::UnknownKey {
            key: key.to_owned(),
            hint: unsupported_hint(key)
                .unwrap_or(
                    "; give client properties a prefix (`consumer.`, `producer.`, `admin.`, ...)",
                )
                .to_owned(),
        })
    }

    /// Checks the settings that must hold whichever way they were made (Kafka Streams
    /// refuses them too): at least one stream thread, at least one buffered record per
    /// partition, a non-empty application id.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.application_id().trim().is_empty() {
            return Err(invalid(
                "application.id",
                self.application_id(),
                "an application id",
            ));
        }
        if self.num_stream_threads_value() == 0 {
            return Err(invalid(
                "num.stream.threads",
                "0",
                "a number of threads, 1 or more",
            ));
        }
        if self.buffered_records_per_partition_value() == 0 {
            return Err(invalid(
                "buffered.records.per.partition",
                "0",
                "a number of records, 1 or more",
            ));
        }
        Ok(())
    }
}

/// The key-value pairs of a Java properties file, in order.
fn parse_properties(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut logical = String::new();
    for line in text.lines() {
        let line = line.trim_start();
        if logical.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        // An odd number of trailing backslashes continues the line.
        let trailing = line.chars().rev().take_while(|c| *c == '\\').count();
        if trailing % 2 == 1 {
            logical.push_str(&line[..line.len() - 1]);
            continue;
        }
        logical.push_str(line);
        pairs.push(split_property(&logical));
        logical.clear();
    }
    if !logical.is_empty() {
        pairs.push(split_property(&logical));
    }
    pairs
}

/// A line's key and value: the key ends at the first unescaped `=`, `:` or whitespace.
fn split_property(line: &str) -> (String, String) {
    let mut key = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    key.push(unescape(next));
                }
            }
            '=' | ':' => break,
            c if c.is_whitespace() => {
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                if chars.peek().is_some_and(|c| *c == '=' || *c == ':') {
                    chars.next();
                }
                break;
            }
            c => key.push(c),
        }
    }
    while chars.peek().is_some_and(|c| c.is_whitespace()) {
        chars.next();
    }
    let mut value = String::new();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    value.push(unescape(next));
                }
            }
            c => value.push(c),
        }
    }
    (key, value)
}

fn unescape(c: char) -> char {
    match c {
        't' => '\t',
        'n' => '\n',
        'r' => '\r',
        'f' => '\u{c}',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_properties_file_has_comments_separators_and_continuations() {
        let text = "# a comment\n! another\n\napplication.id = orders\nbootstrap.servers:b1:9092,\\\n    b2:9092\nstate.dir /tmp/a\\ b\n";
        assert_eq!(
            parse_properties(text),
            [
                ("application.id".to_owned(), "orders".to_owned()),
                ("bootstrap.servers".to_owned(), "b1:9092,b2:9092".to_owned()),
                ("state.dir".to_owned(), "/tmp/a b".to_owned()),
            ]
        );
    }

    #[test]
    fn the_group_protocol_is_classic_or_consumer() {
        let config = StreamsConfig::from_properties([
            ("application.id", "a"),
            ("group.protocol", "consumer"),
        ])
        .unwrap();
        let expected = StreamsConfig::new("a").group_protocol(crate::GroupProtocol::Consumer);
        assert_eq!(
            config.client_properties().main_consumer,
            expected.client_properties().main_consumer
        );
        let error = StreamsConfig::from_properties([
            ("application.id", "a"),
            ("group.protocol", "streams"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("group.protocol") && error.contains("KIP-1071"),
            "{error}"
        );
    }
}
