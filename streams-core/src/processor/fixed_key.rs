//! Fixed-key processors (Kafka Streams' `FixedKeyProcessor`): processors that may change a
//! record's value, time and headers but never its key, so that a stream stays partitioned
//! as it was and a later grouping or join needs no repartition topic.

use std::marker::PhantomData;
use std::time::Duration;

use super::{Processor, ProcessorContext, Punctuation, PunctuationType, ScheduleId};
use crate::{Headers, ProcessorError, Record, RecordMetadata, TaskId, Timestamp};

/// A record whose key a processor can read but not replace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FixedKeyRecord<K, V> {
    key: K,
    /// The value.
    pub value: V,
    /// The record's event time, in ms since the epoch.
    pub timestamp: Timestamp,
    /// The record's headers.
    pub headers: Headers,
}

impl<K, V> FixedKeyRecord<K, V> {
    fn from_record(record: Record<K, V>) -> Self {
        Self {
            key: record.key,
            value: record.value,
            timestamp: record.timestamp,
            headers: record.headers,
        }
    }

    fn into_record(self) -> Record<K, V> {
        Record {
            key: self.key,
            value: self.value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The key (read-only: a fixed-key processor keeps it).
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The same record with another value (of any type).
    pub fn with_value<V2>(self, value: V2) -> FixedKeyRecord<K, V2> {
        FixedKeyRecord {
            key: self.key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another timestamp.
    pub fn with_timestamp(mut self, timestamp: Timestamp) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// The same record with other headers.
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }
}

/// What a fixed-key processor sees of its task: the same as a [`ProcessorContext`], except
/// that it forwards [`FixedKeyRecord`]s, so the key cannot change on the way.
pub struct FixedKeyProcessorContext<'c, 'a, K, V> {
    inner: &'c mut ProcessorContext<'a, K, V>,
}

impl<K, V> FixedKeyProcessorContext<'_, '_, K, V> {
    /// Forwards `record` to every child.
    pub fn forward(&mut self, record: FixedKeyRecord<K, V>) -> Result<(), ProcessorError>
    where
        K: Clone,
        V: Clone,
    {
        self.inner.forward(record.into_record())
    }

    /// Forwards `record` to the child called `child` only.
    pub fn forward_to(
        &mut self,
        child: &str,
        record: FixedKeyRecord<K, V>,
    ) -> Result<(), ProcessorError> {
        self.inner.forward_to(child, record.into_record())
    }

    /// The name of this processor's node.
    pub fn node_name(&self) -> &str {
        self.inner.node_name()
    }

    /// Where the record being processed came from; `None` during punctuation and init.
    pub fn record_metadata(&self) -> Option<RecordMetadata<'_>> {
        self.inner.record_metadata()
    }

    /// The task's stream time (-1 before any record).
    pub fn stream_time(&self) -> Timestamp {
        self.inner.stream_time()
    }

    /// The wall-clock time (the test driver's clock in tests).
    pub fn current_system_time(&self) -> Timestamp {
        self.inner.current_system_time()
    }

    /// The task this processor instance belongs to.
    pub fn task_id(&self) -> TaskId {
        self.inner.task_id()
    }

    /// The application id from the configuration.
    pub fn application_id(&self) -> &str {
        self.inner.application_id()
    }

    /// The task's state directory (see [`ProcessorContext::state_dir`]).
    pub fn state_dir(&self) -> &std::path::Path {
        self.inner.state_dir()
    }

    /// Asks for a commit as soon as possible (see [`ProcessorContext::commit`]).
    pub fn commit(&mut self) {
        self.inner.commit();
    }

    /// Counts `n` records that this processor dropped in the task's `dropped` metric.
    pub fn record_dropped(&mut self, n: u64) {
        self.inner.record_dropped(n);
    }

    /// Schedules [`FixedKeyProcessor::punctuate`] every `interval` of `kind` time.
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> ScheduleId {
        self.inner.schedule(interval, kind)
    }

    /// Cancels a schedule made with [`schedule`](Self::schedule).
    pub fn cancel(&mut self, schedule: ScheduleId) {
        self.inner.cancel(schedule);
    }

    /// The store called `name` as the typed handle `S`; it must be connected to this
    /// processor, or be global.
    pub fn state_store<S: Clone + 'static>(&self, name: &str) -> Result<S, ProcessorError> {
        self.inner.state_store(name)
    }
}

/// A processor that keeps each record's key (Kafka Streams' `FixedKeyProcessor`): it receives
/// `FixedKeyRecord<K, VIn>` and forwards `FixedKeyRecord<K, VOut>`. Add it to a topology
/// wrapped in [`FixedKey`], or with the DSL's `KStream::process_values`.
pub trait FixedKeyProcessor<K, VIn, VOut = VIn>: 'static {
    /// Called once before the first record.
    fn init(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, '_, K, VOut>,
    ) -> Result<(), ProcessorError> {
        let _ = ctx;
        Ok(())
    }

    /// Processes one record, forwarding any results through `ctx`.
    fn process(
        &mut self,
        record: FixedKeyRecord<K, VIn>,
        ctx: &mut FixedKeyProcessorContext<'_, '_, K, VOut>,
    ) -> Result<(), ProcessorError>;

    /// Called for each punctuation that this processor scheduled.
    fn punctuate(
        &mut self,
        punctuation: Punctuation,
        ctx: &mut FixedKeyProcessorContext<'_, '_, K, VOut>,
    ) -> Result<(), ProcessorError> {
        let _ = (punctuation, ctx);
        Ok(())
    }

    /// Called once when the task closes.
    fn close(&mut self) {}
}

/// A [`FixedKeyProcessor`] as a [`Processor`] whose output key is its input key.
pub struct FixedKey<P, K, VIn, VOut> {
    processor: P,
    types: PhantomData<fn(K, VIn) -> VOut>,
}

impl<P, K, VIn, VOut> FixedKey<P, K, VIn, VOut> {
    /// Wraps `processor`.
    pub fn new(processor: P) -> Self {
        Self {
            processor,
            types: PhantomData,
        }
    }
}

impl<P, K, VIn, VOut> Processor<K, VIn, K, VOut> for FixedKey<P, K, VIn, VOut>
where
    P: FixedKeyProcessor<K, VIn, VOut>,
    K: 'static,
    VIn: 'static,
    VOut: 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VOut>) -> Result<(), ProcessorError> {
        self.processor
            .init(&mut FixedKeyProcessorContext { inner: ctx })
    }

    fn process(
        &mut self,
        record: Record<K, VIn>,
        ctx: &mut ProcessorContext<'_, K, VOut>,
    ) -> Result<(), ProcessorError> {
        self.processor.process(
            FixedKeyRecord::from_record(record),
            &mut FixedKeyProcessorContext { inner: ctx },
        )
    }

    fn punctuate(
        &mut self,
        punctuation: Punctuation,
        ctx: &mut ProcessorContext<'_, K, VOut>,
    ) -> Result<(), ProcessorError> {
        self.processor
            .punctuate(punctuation, &mut FixedKeyProcessorContext { inner: ctx })
    }

    fn close(&mut self) {
        self.processor.close();
    }
}
