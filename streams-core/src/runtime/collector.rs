//! The record collector: hands what tasks produce to the thread's producer, tracks delivery
//! (errors, and the changelog offsets that checkpoints need), and runs transactions under
//! exactly-once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{ClientConfig, ClientContext, TopicPartitionList};

use super::messages::EPOCH_TIMESTAMP_HEADER;
use super::RuntimeError;
use crate::OutputRecord;

/// Sees every record before the producer does; an error fails the send as a producer error
/// would. For auditing, and for fault injection in tests of the runtime's recovery.
pub trait SendInterceptor: Send + Sync {
    /// Called with the destination of each record about to be sent.
    fn on_send(&self, topic: &str, partition: Option<i32>) -> Result<(), String>;

    /// Called after each commit of the thread (its records are then durable, or its
    /// transaction committed).
    fn on_commit(&self) {}
}

/// What delivery reports have told so far.
#[derive(Default)]
struct Deliveries {
    first_error: Option<(String, String)>,
    /// The offset of the last delivered record of each changelog partition.
    changelog_offsets: HashMap<(String, i32), i64>,
}

/// The producer's context: delivery reports arrive on the producer's own polling thread.
struct DeliveryTracker(Arc<Mutex<Deliveries>>);

/// Marks records whose delivered offset a checkpoint needs (those with a fixed partition:
/// changelog records).
const TRACK_OFFSET: usize = 1;

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: usize) {
        let Ok(mut deliveries) = self.0.lock() else {
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
    timeout: Duration,
}

impl RecordCollector {
    /// A producer from `config`; transactional (and its transactions initialized, fencing
    /// any earlier producer with the same `transactional.id`) if the config sets one.
    pub(crate) fn new(
        config: &ClientConfig,
        interceptor: Option<Arc<dyn SendInterceptor>>,
    ) -> Result<Self, RuntimeError> {
        let deliveries = Arc::new(Mutex::new(Deliveries::default()));
        let producer: ThreadedProducer<DeliveryTracker> = config
            .create_with_context(DeliveryTracker(Arc::clone(&deliveries)))
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
    /// room when the producer's queue is full.
    pub(crate) fn send(&mut self, record: OutputRecord<'_>) -> Result<(), RuntimeError> {
        if let Some(interceptor) = &self.interceptor {
            interceptor
                .on_send(record.topic, record.partition)
                .map_err(|reason| RuntimeError::Send {
                    topic: record.topic.to_owned(),
                    reason,
                })?;
        }
        self.begin()?;
        let opaque = if record.partition.is_some() {
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
                Err((error, _)) => {
                    return Err(RuntimeError::Send {
                        topic: record.topic.to_owned(),
                        reason: error.to_string(),
                    })
                }
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
        self.take_delivery_error()
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

        let mut collector = RecordCollector::new(&transactional(&kafka, "app-1"), None).unwrap();
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
        let mut collector = RecordCollector::new(&config, Some(Arc::new(Refuse))).unwrap();
        let headers = Headers::new();
        let error = collector.send(record("out", &headers)).unwrap_err();
        assert!(error.to_string().contains("no writes to out"), "{error}");
        collector.flush().unwrap();
    }
}
