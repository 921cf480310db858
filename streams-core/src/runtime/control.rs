//! The application's control topic, `<application.id>-control`: how one instance asks every
//! instance of the application to shut down ([`ErrorResponse::ShutdownApplication`]).
//!
//! Kafka Streams signals this through the group's assignment, which librdkafka's built-in
//! assignors cannot carry; a one-partition topic that every instance follows does the same.
//!
//! [`ErrorResponse::ShutdownApplication`]: super::ErrorResponse::ShutdownApplication

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::shared::{Shared, State};
use super::{clients, RuntimeError};
use crate::StreamsConfig;

/// The control topic of `application_id`.
pub(crate) fn control_topic(application_id: &str) -> String {
    format!("{application_id}-control")
}

/// Follows the control topic from its end (requests of earlier runs do not count) until the
/// instance shuts down, and shuts the instance down when a request arrives.
pub(crate) fn follow(
    config: &StreamsConfig,
    shared: Arc<Shared>,
) -> Result<JoinHandle<()>, RuntimeError> {
    let topic = control_topic(config.application_id());
    let consumer: BaseConsumer = clients::assigned_consumer(config, "control")
        .create()
        .map_err(RuntimeError::kafka("create the control consumer"))?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::End)
        .map_err(RuntimeError::kafka("assign the control topic"))?;
    consumer
        .assign(&assignment)
        .map_err(RuntimeError::kafka("assign the control topic"))?;
    let name = format!("{}-control", config.application_id());
    Ok(std::thread::Builder::new().name(name).spawn(move || {
        while !shared.shutting_down() {
            match consumer.poll(Duration::from_millis(200)) {
                Some(Ok(message)) => {
                    let reason = message
                        .payload()
                        .map(|p| String::from_utf8_lossy(p).into_owned())
                        .unwrap_or_default();
                    tracing::error!(%reason, "the application was asked to shut down");
                    shared.record_error(format!("application shutdown requested: {reason}"));
                    shared.transition(State::PendingError);
                    shared.request_shutdown();
                }
                Some(Err(error)) => tracing::warn!(%error, "reading the control topic"),
                None => {}
            }
        }
    })?)
}

/// Asks every instance of the application to shut down, giving `reason`.
pub(crate) fn request_shutdown(config: &StreamsConfig, reason: &str) -> Result<(), RuntimeError> {
    let producer: BaseProducer = clients::producer(config, "control", "")
        .remove("transactional.id")
        .create()
        .map_err(RuntimeError::kafka("create the control producer"))?;
    let topic = control_topic(config.application_id());
    producer
        .send(
            BaseRecord::<(), str>::to(&topic)
                .payload(reason)
                .partition(0),
        )
        .map_err(|(e, _)| RuntimeError::kafka("request the shutdown")(e))?;
    producer
        .flush(Duration::from_secs(30))
        .map_err(RuntimeError::kafka("request the shutdown"))
}
