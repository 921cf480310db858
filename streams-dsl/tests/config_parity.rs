//! Configuration with Kafka Streams' names: from properties and a properties file, with
//! typed errors naming the key; invalid window and config values refused, not clamped.

use std::time::Duration;

use streams_core::{ConfigError, ProcessingGuarantee};
use streams_dsl::prelude::*;

type Error = Box<dyn std::error::Error>;

/// Every setting that properties can make, as the builder reports it.
fn settings(config: &StreamsConfig) -> Vec<String> {
    let clients = config.client_properties();
    vec![
        config.application_id().to_owned(),
        config.bootstrap_servers_value().to_owned(),
        config.num_stream_threads_value().to_string(),
        format!("{:?}", config.processing_guarantee_value()),
        format!("{:?}", config.commit_interval_value()),
        config.cache_max_bytes_value().to_string(),
        config.state_dir_path().display().to_string(),
        format!("{:?}", config.max_task_idle_value()),
        config.buffered_records_per_partition_value().to_string(),
        config.replication_factor_value().to_string(),
        config.windowed_aggregation_emit_interval_ms().to_string(),
        format!(
            "{:?}",
            (
                clients.common,
                clients.consumer,
                clients.main_consumer,
                clients.restore_consumer,
                clients.global_consumer,
                clients.producer,
                clients.admin
            )
        ),
    ]
}

const FILE: &str = r"# An application's configuration, as a Kafka Streams user writes it.
application.id=orders
bootstrap.servers = broker-1:9092,\
                    broker-2:9092
num.stream.threads: 3
processing.guarantee=exactly_once_v2
commit.interval.ms=250
statestore.cache.max.bytes=1048576
state.dir=/var/lib/orders
max.task.idle.ms=40
buffered.records.per.partition=500
replication.factor=3
default.timestamp.extractor=org.apache.kafka.streams.processor.FailOnInvalidTimestamp
deserialization.exception.handler=org.apache.kafka.streams.errors.LogAndContinueExceptionHandler
emit.interval.ms.kstreams.windowed.aggregation=2000
security.protocol=SASL_SSL
consumer.session.timeout.ms=10000
main.consumer.fetch.min.bytes=1024
restore.consumer.fetch.max.bytes=52428800
global.consumer.client.rack=rack-a
producer.linger.ms=20
admin.request.timeout.ms=5000
";

#[test]
fn a_properties_file_gives_the_config_the_builder_gives() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("streams.properties");
    std::fs::write(&path, FILE)?;
    let from_file = StreamsConfig::from_properties_file(&path)?;
    let built = StreamsConfig::new("orders")
        .bootstrap_servers("broker-1:9092,broker-2:9092")
        .num_stream_threads(3)
        .processing_guarantee(ProcessingGuarantee::ExactlyOnce)
        .commit_interval(Duration::from_millis(250))
        .cache_max_bytes(1 << 20)
        .state_dir("/var/lib/orders")
        .max_task_idle(Duration::from_millis(40))
        .buffered_records_per_partition(500)
        .replication_factor(3)
        .deserialization_handler(LogAndContinue)
        .windowed_aggregation_emit_interval(Duration::from_secs(2))
        .client_property("security.protocol", "SASL_SSL")
        .consumer_property("session.timeout.ms", "10000")
        .main_consumer_property("fetch.min.bytes", "1024")
        .restore_consumer_property("fetch.max.bytes", "52428800")
        .global_consumer_property("client.rack", "rack-a")
        .producer_property("linger.ms", "20")
        .admin_property("request.timeout.ms", "5000");
    assert_eq!(settings(&from_file), settings(&built));
    // The handler is the one named: it lets a bad record through.
    let record = RawRecord {
        offset: 0,
        timestamp: 0,
        key: None,
        value: None,
        headers: Headers::new(),
    };
    let error = StreamsError::UnknownStore("x".to_owned());
    assert_eq!(
        from_file
            .deserialization_handler_ref()
            .handle(&error, &record),
        streams_core::HandlerResponse::Continue
    );
    // The deprecated cache name means the same.
    let old_name = StreamsConfig::from_properties([
        ("application.id", "a"),
        ("cache.max.bytes.buffering", "77"),
    ])?;
    assert_eq!(old_name.cache_max_bytes_value(), 77);
    Ok(())
}

fn refused(properties: &[(&str, &str)]) -> ConfigError {
    match StreamsConfig::from_properties(properties.iter().copied()) {
        Ok(config) => panic!("{properties:?} accepted as {config:?}"),
        Err(error) => error,
    }
}

fn invalid_key(error: &ConfigError) -> Option<&str> {
    match error {
        ConfigError::InvalidValue { key, .. } => Some(key),
        _ => None,
    }
}

#[test]
fn a_bad_value_or_an_unknown_key_is_a_typed_error_naming_the_key() {
    let app = ("application.id", "a");
    for (key, value) in [
        ("num.stream.threads", "0"),
        ("num.stream.threads", "two"),
        ("processing.guarantee", "exactly_once"),
        ("commit.interval.ms", "-5"),
        ("buffered.records.per.partition", "0"),
        ("replication.factor", "0"),
        ("default.timestamp.extractor", "WallclockTimestampExtractor"),
        ("deserialization.exception.handler", "com.acme.MyHandler"),
    ] {
        let error = refused(&[app, (key, value)]);
        assert_eq!(invalid_key(&error), Some(key), "{error}");
        assert!(error.to_string().contains(key), "{error}");
    }
    assert!(matches!(
        refused(&[app, ("num.streams.threads", "2")]),
        ConfigError::UnknownKey { key, .. } if key == "num.streams.threads"
    ));
    assert!(matches!(
        refused(&[app, ("default.key.serde", "StringSerde")]),
        ConfigError::UnknownKey { hint, .. } if hint.contains("with_serde")
    ));
    assert_eq!(
        refused(&[("num.stream.threads", "2")]),
        ConfigError::Missing("application.id")
    );
    let missing = StreamsConfig::from_properties_file("/nonexistent/streams.properties");
    assert!(matches!(missing, Err(ConfigError::File { .. })));
}

#[test]
fn zero_threads_from_the_builder_are_refused_not_clamped() {
    let config = StreamsConfig::new("a").num_stream_threads(0);
    assert_eq!(config.num_stream_threads_value(), 0);
    let error = config.validate().expect_err("0 threads refused");
    assert_eq!(invalid_key(&error), Some("num.stream.threads"));
    assert!(StreamsConfig::new("a")
        .num_stream_threads(2)
        .validate()
        .is_ok());
}

fn windowed_build(windows: TimeWindows) -> Result<Topology, TopologyError> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by(windows)
        .count();
    builder.build()
}

#[test]
fn invalid_windows_fail_the_build_instead_of_being_clamped() {
    let second = Duration::from_secs(1);
    for windows in [
        TimeWindows::of_size_with_no_grace(Duration::ZERO),
        TimeWindows::of_size_with_no_grace(second).advance_by(Duration::ZERO),
        TimeWindows::of_size_with_no_grace(second).advance_by(2 * second),
    ] {
        assert!(
            matches!(
                windowed_build(windows),
                Err(TopologyError::InvalidOperation(_))
            ),
            "{windows:?} accepted"
        );
    }
    assert!(windowed_build(TimeWindows::of_size_with_no_grace(second).advance_by(second)).is_ok());
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, String>("in")
        .group_by_key()
        .windowed_by_sessions(SessionWindows::of_inactivity_gap_with_no_grace(
            Duration::ZERO,
        ))
        .count();
    assert!(matches!(
        builder.build(),
        Err(TopologyError::InvalidOperation(_))
    ));
}
