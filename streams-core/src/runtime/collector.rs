//! The record collector: hands what tasks produce to the thread's producer, tracks delivery
//! (errors, and the changelog offsets that checkpoints need), and runs transactions under
//! exactly-once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers as _, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, TopicPartitionList};

use super::messages::EPOCH_TIMESTAMP_HEADER;
use super::shared::Metrics;
use super::RuntimeError;
use crate::config::HandlerResponse;
use crate::handlers::{
    dead_letter_headers_for, ErrorContext, FailedRecord, ProductionError,
    ProductionExceptionHandler,
};
use crate::task::LogLimit;
use crate::{Headers, OutputRecord, Timestamp};

/// Sees every record before the producer does; an error fails the send as a producer error
/// would. For auditing, and for fault injection in tests of the runtime's recovery.
pub trait SendInterceptor: Send + Sync {
    /// Called with the destination of each record about to be sent.
    fn on_send(&self, topic: &str, partition: Option<i32>) -> Result<(), String>;

    /// Called after each commit of the thread (its records are then durable, or its
    /// transaction committed).
    fn on_commit(&self) {}
}

/// A record that the production handler sent to the dead-letter topic after its delivery
/// failed: sent at the next flush, from the thread that owns the producer.
struct DeadLetter {
    topic: String,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: Timestamp,
    headers: Headers,
}

/// What delivery reports have told so far.
#[derive(Default)]
struct Deliveries {
    first_error: Option<(String, String)>,
    /// The offset of the last delivered record of each changelog partition.
    changelog_offsets: HashMap<(String, i32), i64>,
    /// Failed records the production handler dead-lettered, to send.
    dead_letters: Vec<DeadLetter>,
    /// Limits the log lines about records the production handler skipped.
    skip_log: LogLimit,
}

/// How a failed send is handled: the production handler, and the counters of its choices.
#[derive(Clone)]
pub(crate) struct SendFailures {
    pub(crate) handler: Arc<dyn ProductionExceptionHandler>,
    pub(crate) metrics: Arc<Metrics>,
}

/// The producer's context: delivery reports arrive on the producer's own polling thread.
struct DeliveryTracker {
    deliveries: Arc<Mutex<Deliveries>>,
    failures: SendFailures,
}

/// Marks records whose delivered offset a checkpoint needs (those with a fixed partition:
/// changelog records).
const TRACK_OFFSET: usize = 1;
/// Marks dead-lettered records: their own failure is not handled again (it fails).
const DEAD_LETTERED: usize = 2;

/// Why a record was not handed to the producer.
enum SendFailure {
    /// The producer refused the record itself: for the production handler.
    Refused(KafkaError),
    /// The runtime failed (the interceptor, or the transaction).
    Runtime(RuntimeError),
}

/// The producer's error for a record it could not send.
fn send_error(topic: &str, error: &KafkaError) -> ProductionError {
    ProductionError::Send {
        topic: topic.to_owned(),
        record_too_large: error.rdkafka_error_code() == Some(RDKafkaErrorCode::MessageSizeTooLarge),
        reason: error.to_string(),
    }
}

impl SendFailures {
    /// Asks the handler about a record that could not be sent; a record to dead-letter
    /// comes back with its headers. Counts and logs skipped records.
    fn handle(
        &self,
        record: &FailedRecord<'_>,
        context: &ErrorContext<'_>,
        error: &ProductionError,
        skip_log: &mut LogLimit,
    ) -> Result<Option<(String, Headers)>, RuntimeError> {
        match self.handler.handle(context, record, error) {
            HandlerResponse::Continue => {
                self.metrics.add_skipped_send();
                if let Some(skipped) = skip_log.note(1) {
                    tracing::warn!(
                        topic = context.topic, partition = context.partition, %error, skipped,
                        "skipping a record that could not be sent (this record and others \
                         since the last such line)"
                    );
                }
                Ok(None)
            }
            HandlerResponse::DeadLetter => match self.handler.dead_letter_topic() {
                Some(topic) => {
                    let headers =
                        dead_letter_headers_for(record.headers, &error.to_string(), context);
                    Ok(Some((topic.to_owned(), headers)))
                }
                None => Err(RuntimeError::Send {
                    topic: context.topic.to_owned(),
                    reason: error.to_string(),
                }),
            },
            HandlerResponse::Fail => Err(RuntimeError::Send {
                topic: context.topic.to_owned(),
                reason: error.to_string(),
            }),
        }
    }
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let Ok(mut deliveries) = self.deliveries.lock() else {
            return;
        };
        match result {
            Ok(message) if opaque == TRACK_OFFSET => {
                let slot = deliveries
                    .changelog_offsets
                    .entry((message.topic().to_owned(), message.partition()))
                    .or_insert(-1);
                *slot = (*slot).max(message.offset());
            }
            Ok(_) => {}
            // Records purged by an abort: dropped on purpose, not failed.
            Err((
                KafkaError::MessageProduction(
                    RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight,
                ),
                _,
            )) => {}
            Err((error, message)) if opaque != DEAD_LETTERED => {
                let mut headers = Headers::new();
                if let Some(own) = message.headers() {
                    for h in own.iter() {
                        match h.value {
                            Some(value) => headers.add(h.key, value),
                            None => headers.add_null(h.key),
                        };
                    }
                }
                let record = FailedRecord {
                    key: message.key(),
                    value: message.payload(),
                    timestamp: message.timestamp().to_millis().unwrap_or(-1),
                    headers: &headers,
                };
                let context = ErrorContext {
                    task: None,
                    node: "",
                    topic: message.topic(),
                    partition: message.partition(),
                    offset: -1,
                };
                let failure = send_error(message.topic(), error);
                let deliveries = &mut *deliveries;
                match self
                    .failures
                    .handle(&record, &context, &failure, &mut deliveries.skip_log)
                {
                    Ok(None) => {}
                    Ok(Some((topic, headers))) => deliveries.dead_letters.push(DeadLetter {
                        topic,
                        key: record.key.map(<[u8]>::to_vec),
                        value: record.value.map(<[u8]>::to_vec),
                        timestamp: record.timestamp,
                        headers,
                    }),
                    Err(_) => {
                        if deliveries.first_error.is_none() {
                            deliveries.first_error =
                                Some((message.topic().to_owned(), error.to_string()));
                        }
                    }
                }
            }
            Err((error, message)) => {
                if deliveries.first_error.is_none() {
                    deliveries.first_error = Some((message.topic().to_owned(), error.to_string()));
                }
            }
        }
    }
}

/// The producer of one stream thread.
pub(crate) struct RecordCollector {
    producer: ThreadedProducer<DeliveryTracker>,
    deliveries: Arc<Mutex<Deliveries>>,
    transactional: bool,
    in_transaction: bool,
    interceptor: Option<Arc<dyn SendInterceptor>>,
    failures: SendFailures,
    /// Limits the log lines about records skipped when the producer refused them.
    skip_log: LogLimit,
    timeout: Duration,
}

impl RecordCollector {
    /// A producer from `config`; transactional (and its transactions initialized, fencing
    /// any earlier producer with the same `transactional.id`) if the config sets one.
    pub(crate) fn new(
        config: &ClientConfig,
        interceptor: Option<Arc<dyn SendInterceptor>>,
        failures: SendFailures,
    ) -> Result<Self, RuntimeError> {
        let deliveries = Arc::new(Mutex::new(Deliveries::default()));
        let producer: ThreadedProducer<DeliveryTracker> = config
            .create_with_context(DeliveryTracker {
                deliveries: Arc::clone(&deliveries),
                failures: failures.clone(),
            })
            .map_err(RuntimeError::kafka("create a producer"))?;
        let transactional = config.get("transactional.id").is_some();
        let timeout = Duration::from_secs(30);
        if transactional {
            producer
                .init_transactions(timeout)
                .map_err(RuntimeError::kafka("initialize transactions"))?;
        }
        Ok(Self {
            producer,
            deliveries,
            transactional,
            in_transaction: false,
            interceptor,
            failures,
            skip_log: LogLimit::default(),
            timeout,
        })
    }

    fn begin(&mut self) -> Result<(), RuntimeError> {
        if self.transactional && !self.in_transaction {
            self.producer
                .begin_transaction()
                .map_err(RuntimeError::kafka("begin a transaction"))?;
            self.in_transaction = true;
        }
        Ok(())
    }

    /// Sends one record (inside the open transaction, which it begins if needed). Waits for
    /// room when the producer's queue is full. A record the producer refuses (for example
    /// one larger than `message.max.bytes`) goes to the production handler.
    pub(crate) fn send(&mut self, record: OutputRecord<'_>) -> Result<(), RuntimeError> {
        match self.send_with(record, 0) {
            Err(SendFailure::Refused(error)) => {
                let failed = FailedRecord {
                    key: record.key,
                    value: record.value,
                    timestamp: record.timestamp,
                    headers: record.headers,
                };
                let context = ErrorContext {
                    task: None,
                    node: "",
                    topic: record.topic,
                    partition: record.partition.unwrap_or(-1),
                    offset: -1,
                };
                let error = send_error(record.topic, &error);
                let handled =
                    self.failures
                        .handle(&failed, &context, &error, &mut self.skip_log)?;
                if let Some((topic, headers)) = handled {
                    self.send_dead_letter(&topic, &failed, &headers)?;
                }
                Ok(())
            }
            Err(SendFailure::Runtime(error)) => Err(error),
            Ok(()) => Ok(()),
        }
    }

    /// Sends a record to the dead-letter topic `topic`; its own failure is not handled again.
    fn send_dead_letter(
        &mut self,
        topic: &str,
        record: &FailedRecord<'_>,
        headers: &Headers,
    ) -> Result<(), RuntimeError> {
        let dead = OutputRecord {
            topic,
            partition: None,
            key: record.key,
            value: record.value,
            timestamp: record.timestamp,
            headers,
        };
        self.send_with(dead, DEAD_LETTERED)
            .map_err(|failure| match failure {
                SendFailure::Refused(error) => RuntimeError::Send {
                    topic: topic.to_owned(),
                    reason: error.to_string(),
                },
                SendFailure::Runtime(error) => error,
            })?;
        self.failures.metrics.add_dead_lettered_send();
        Ok(())
    }

    /// Hands one record to the producer. A failure comes back with whether it is the
    /// record's own (the producer refused it) rather than the runtime's.
    fn send_with(&mut self, record: OutputRecord<'_>, mark: usize) -> Result<(), SendFailure> {
        if let Some(interceptor) = &self.interceptor {
            interceptor
                .on_send(record.topic, record.partition)
                .map_err(|reason| {
                    SendFailure::Runtime(RuntimeError::Send {
                        topic: record.topic.to_owned(),
                        reason,
                    })
                })?;
        }
        self.begin().map_err(SendFailure::Runtime)?;
        let opaque = if mark != 0 {
            mark
        } else if record.partition.is_some() {
            TRACK_OFFSET
        } else {
            0
        };
        let mut base: BaseRecord<'_, [u8], [u8], usize> =
            BaseRecord::with_opaque_to(record.topic, opaque).timestamp(record.timestamp);
        if let Some(partition) = record.partition {
            base = base.partition(partition);
        }
        if let Some(key) = record.key {
            base = base.key(key);
        }
        if let Some(value) = record.value {
            base = base.payload(value);
        }
        let at_epoch = record.timestamp == 0;
        if !record.headers.is_empty() || at_epoch {
            let mut headers = record.headers.iter().fold(
                OwnedHeaders::new_with_capacity(record.headers.len() + 1),
                |headers, h| {
                    headers.insert(Header {
                        key: &h.key,
                        value: h.value.as_deref(),
                    })
                },
            );
            if at_epoch {
                // librdkafka stamps a record at 0 with the wall clock: say it is at 0.
                headers = headers.insert(Header {
                    key: EPOCH_TIMESTAMP_HEADER,
                    value: None::<&[u8]>,
                });
            }
            base = base.headers(headers);
        }
        loop {
            match self.producer.send(base) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    base = back;
                    // The producer's thread drains the queue; give it a moment.
                    self.producer.poll(Duration::from_millis(5));
                }
                Err((error, _)) => return Err(SendFailure::Refused(error)),
            }
        }
    }

    fn take_delivery_error(&self) -> Result<(), RuntimeError> {
        let mut deliveries = self.deliveries.lock().map_err(|_| RuntimeError::Send {
            topic: String::new(),
            reason: "delivery tracking failed".into(),
        })?;
        match deliveries.first_error.take() {
            Some((topic, reason)) => Err(RuntimeError::Send { topic, reason }),
            None => Ok(()),
        }
    }

    /// Waits until every record sent so far is acknowledged; fails if any was not.
    pub(crate) fn flush(&mut self) -> Result<(), RuntimeError> {
        self.producer
            .flush(self.timeout)
            .map_err(RuntimeError::kafka("flush the producer"))?;
        if self.send_dead_letters()? {
            self.producer
                .flush(self.timeout)
                .map_err(RuntimeError::kafka("flush the producer"))?;
        }
        self.take_delivery_error()
    }

    /// Sends the records whose delivery failed and that the production handler
    /// dead-lettered. Returns whether there were any.
    fn send_dead_letters(&mut self) -> Result<bool, RuntimeError> {
        let dead_letters = match self.deliveries.lock() {
            Ok(mut deliveries) => std::mem::take(&mut deliveries.dead_letters),
            Err(_) => Vec::new(),
        };
        for dead in &dead_letters {
            let record = FailedRecord {
                key: dead.key.as_deref(),
                value: dead.value.as_deref(),
                timestamp: dead.timestamp,
                headers: &Headers::new(),
            };
            self.send_dead_letter(&dead.topic, &record, &dead.headers)?;
        }
        Ok(!dead_letters.is_empty())
    }

    /// Commits the open transaction with the consumer offsets `offsets` inside it.
    pub(crate) fn commit_transaction(
        &mut self,
        offsets: &TopicPartitionList,
        group: &ConsumerGroupMetadata,
    ) -> Result<(), RuntimeError> {
        if offsets.count() == 0 && !self.in_transaction {
            return Ok(());
        }
        self.begin()?;
        if offsets.count() > 0 {
            self.producer
                .send_offsets_to_transaction(offsets, group, self.timeout)
                .map_err(RuntimeError::kafka("send offsets to the transaction"))?;
        }
        self.producer
            .commit_transaction(self.timeout)
            .map_err(RuntimeError::kafka("commit the transaction"))?;
        self.in_transaction = false;
        self.take_delivery_error()
    }

    /// Aborts the open transaction, if any: none of its records become visible to
    /// `read_committed` consumers.
    pub(crate) fn abort(&mut self) -> Result<(), RuntimeError> {
        let _ = self.take_delivery_error();
        if let Ok(mut deliveries) = self.deliveries.lock() {
            // The records they stand for are processed again after the abort.
            deliveries.dead_letters.clear();
        }
        if self.in_transaction {
            self.in_transaction = false;
            self.producer
                .abort_transaction(self.timeout)
                .map_err(RuntimeError::kafka("abort the transaction"))?;
        }
        Ok(())
    }

    /// Tells the interceptor that a commit completed.
    pub(crate) fn committed(&self) {
        if let Some(interceptor) = &self.interceptor {
            interceptor.on_commit();
        }
    }

    /// The offset of the last acknowledged record of `topic`'s partition `partition`.
    pub(crate) fn changelog_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let deliveries = self.deliveries.lock().ok()?;
        deliveries
            .changelog_offsets
            .get(&(topic.to_owned(), partition))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::EmbeddedKafka;
    use crate::Headers;
    use rdkafka::consumer::{BaseConsumer, Consumer};

    fn transactional(kafka: &EmbeddedKafka, id: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", kafka.bootstrap_servers())
            .set("transactional.id", id)
            .set("transaction.timeout.ms", "10000");
        config
    }

    fn fail_on_errors() -> SendFailures {
        SendFailures {
            handler: Arc::new(crate::LogAndFail),
            metrics: Arc::default(),
        }
    }

    fn record<'a>(topic: &'a str, headers: &'a Headers) -> OutputRecord<'a> {
        OutputRecord {
            topic,
            partition: Some(0),
            key: Some(b"k"),
            value: Some(b"v"),
            timestamp: 1,
            headers,
        }
    }

    /// The transaction flow on the mock cluster: commit with consumer offsets inside the
    /// transaction, abort, and a new transaction after the abort. (Fencing of a zombie cannot
    /// be shown there: the mock hands every `InitProducerId` a fresh producer id and never
    /// bumps the epoch of the old one.)
    #[test]
    fn transactions_commit_with_offsets_and_abort() {
        let kafka = EmbeddedKafka::start(1).unwrap();
        kafka.create_topic("in", 1).unwrap();
        kafka.create_topic("out", 1).unwrap();
        let headers = Headers::new();
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", kafka.bootstrap_servers())
            .set("group.id", "txn-flow")
            .create()
            .unwrap();
        consumer.subscribe(&["in"]).unwrap();
        let _ = consumer.poll(Duration::from_millis(100));
        let group = consumer.group_metadata().unwrap();
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset("in", 0, rdkafka::Offset::Offset(7))
            .unwrap();

        let mut collector =
            RecordCollector::new(&transactional(&kafka, "app-1"), None, fail_on_errors()).unwrap();
        collector.send(record("out", &headers)).unwrap();
        collector.commit_transaction(&offsets, &group).unwrap();
        assert_eq!(collector.changelog_offset("out", 0), Some(0));

        collector.send(record("out", &headers)).unwrap();
        collector.abort().unwrap();
        collector.send(record("out", &headers)).unwrap();
        collector.commit_transaction(&offsets, &group).unwrap();
        // The record after the abort lands after the first one (where exactly depends on
        // what reached the broker before the abort purged it, and on markers).
        assert!(matches!(collector.changelog_offset("out", 0), Some(o) if o >= 1));
        // Nothing open: committing again is a no-op, aborting too.
        collector
            .commit_transaction(&TopicPartitionList::new(), &group)
            .unwrap();
        collector.abort().unwrap();
    }

    #[test]
    fn an_interceptor_error_fails_the_send_before_the_producer_sees_it() {
        struct Refuse;
        impl SendInterceptor for Refuse {
            fn on_send(&self, topic: &str, _: Option<i32>) -> Result<(), String> {
                Err(format!("no writes to {topic}"))
            }
        }
        let kafka = EmbeddedKafka::start(1).unwrap();
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", kafka.bootstrap_servers());
        let mut collector =
            RecordCollector::new(&config, Some(Arc::new(Refuse)), fail_on_errors()).unwrap();
        let headers = Headers::new();
        let error = collector.send(record("out", &headers)).unwrap_err();
        assert!(error.to_string().contains("no writes to out"), "{error}");
        collector.flush().unwrap();
    }
}
