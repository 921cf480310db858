//! The runtime nodes of a task: sources (bytes in), processors (typed records), sinks (bytes
//! out). A node holds its children as typed trait objects: one virtual call per edge, no
//! serialization and no allocation between the operators of a sub-topology.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::sync::Arc;

use super::TaskContext;
use crate::processor::{Processor, ProcessorContext, Punctuation};
use crate::{
    ProcessorError, RawRecord, Record, RecordPart, SerdeError, SerdeRef, Timestamp,
    TimestampExtractor, TypedTimestampExtractor,
};

/// What a node knows of itself: its place in the topology and the stores it may use.
#[derive(Debug)]
pub(crate) struct NodeInfo {
    pub(crate) index: usize,
    pub(crate) name: String,
    pub(crate) stores: Vec<String>,
}

/// The typed input of a node.
pub(crate) trait Downstream<K, V> {
    fn process(
        &mut self,
        record: Record<K, V>,
        task: &mut TaskContext,
    ) -> Result<(), ProcessorError>;
}

pub(crate) type DownstreamRef<K, V> = Rc<RefCell<dyn Downstream<K, V>>>;

/// A child of a node, by name.
pub(crate) struct Child<K, V> {
    pub(crate) name: String,
    pub(crate) input: DownstreamRef<K, V>,
}

impl<K, V> Clone for Child<K, V> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            input: Rc::clone(&self.input),
        }
    }
}

/// Sends `record` to every child, cloning it for all but the last.
pub(crate) fn forward_all<K: Clone, V: Clone>(
    children: &[Child<K, V>],
    record: Record<K, V>,
    task: &mut TaskContext,
) -> Result<(), ProcessorError> {
    let Some((last, rest)) = children.split_last() else {
        return Ok(());
    };
    for child in rest {
        child.input.borrow_mut().process(record.clone(), task)?;
    }
    last.input.borrow_mut().process(record, task)
}

/// The life cycle of a node, independent of its types.
pub(crate) trait NodeLifecycle {
    fn init(&mut self, task: &mut TaskContext) -> Result<(), ProcessorError>;
    fn punctuate(
        &mut self,
        punctuation: Punctuation,
        task: &mut TaskContext,
    ) -> Result<(), ProcessorError>;
    /// Lets the node forward what its caches hold (a commit).
    fn flush(&mut self, _task: &mut TaskContext) -> Result<(), ProcessorError> {
        Ok(())
    }
    /// Lets the node emit what a watermark raised without a record closes.
    fn on_watermark(&mut self, _task: &mut TaskContext) -> Result<(), ProcessorError> {
        Ok(())
    }
    fn close(&mut self);
}

pub(crate) type NodeRef = Rc<RefCell<dyn NodeLifecycle>>;

/// Why a source could not hand a record on.
pub(crate) enum SourceFailure {
    /// The key or value did not deserialize; the record comes back for the error handler.
    Deserialization {
        part: RecordPart,
        error: SerdeError,
        record: RawRecord,
    },
    /// A node below the source failed (or panicked); the record's bytes come back for the
    /// processing handler (its headers only if the task keeps them, see
    /// `TaskContext::keep_input_headers`).
    Processing {
        error: ProcessorError,
        record: Box<RawRecord>,
    },
}

/// The byte-level input of a sub-topology: a source node.
pub(crate) trait SourceInput {
    /// The time of `record`, which has just arrived from `topic`.
    fn extract_timestamp(
        &mut self,
        topic: &str,
        record: &RawRecord,
        partition_time: Timestamp,
    ) -> Timestamp;
    fn process_raw(
        &mut self,
        record: RawRecord,
        timestamp: Timestamp,
        task: &mut TaskContext,
    ) -> Result<(), SourceFailure>;
}

pub(crate) type SourceRef = Rc<RefCell<dyn SourceInput>>;

/// Where a source takes its records' times from.
pub(crate) enum SourceTime<K, V> {
    /// The record's bytes.
    Bytes(Arc<dyn TimestampExtractor>),
    /// The deserialized record: it is deserialized on arrival, and kept until processed.
    Typed(Arc<dyn TypedTimestampExtractor<K, V>>),
}

impl<K, V> Clone for SourceTime<K, V> {
    fn clone(&self) -> Self {
        match self {
            Self::Bytes(e) => Self::Bytes(Arc::clone(e)),
            Self::Typed(e) => Self::Typed(Arc::clone(e)),
        }
    }
}

/// What deserializing a record gave.
enum Decoded<K, V> {
    /// Its key and value.
    Typed(K, V),
    /// A null in a part whose type cannot hold one.
    NullWithoutType(RecordPart),
    /// The part that failed, and why.
    Failed(RecordPart, SerdeError),
}

/// Records deserialized on arrival (for a typed extractor), by topic, in offset order, until
/// they are processed.
struct Arrived<K, V> {
    topic: String,
    records: VecDeque<(i64, Decoded<K, V>)>,
}

/// Deserializes records of its topics and forwards them as typed records.
pub(crate) struct SourceNode<K, V> {
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
    pub(crate) time: SourceTime<K, V>,
    pub(crate) children: Vec<Child<K, V>>,
    arrived: Vec<Arrived<K, V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> SourceInput for SourceNode<K, V> {
    fn extract_timestamp(
        &mut self,
        topic: &str,
        record: &RawRecord,
        partition_time: Timestamp,
    ) -> Timestamp {
        let extractor = match &self.time {
            SourceTime::Bytes(extractor) => return extractor.extract(record, partition_time),
            SourceTime::Typed(extractor) => extractor,
        };
        let decoded = self.decode(topic, record);
        let timestamp = match &decoded {
            Decoded::Typed(key, value) => {
                extractor.extract(key, value, record.timestamp, partition_time)
            }
            // It is dropped or goes to the handler when its turn comes: its own time places it.
            Decoded::NullWithoutType(_) | Decoded::Failed(..) => record.timestamp,
        };
        self.arrived_from(topic)
            .records
            .push_back((record.offset, decoded));
        timestamp
    }

    fn process_raw(
        &mut self,
        record: RawRecord,
        timestamp: Timestamp,
        task: &mut TaskContext,
    ) -> Result<(), SourceFailure> {
        let topic = task.current_topic();
        let decoded = match self.take_arrived(topic, record.offset) {
            Some(decoded) => decoded,
            None => self.decode(topic, &record),
        };
        let (key, value) = match decoded {
            Decoded::Typed(key, value) => (key, value),
            Decoded::NullWithoutType(part) => {
                // As Kafka Streams, a record without a key (or value) does not stop the
                // application: a type that has no null cannot carry it, so it goes no
                // further, counted as dropped. An `Option` key or value type receives it as
                // `None`.
                task.metrics.dropped += 1;
                if let Some(dropped) = task.drop_log.note(1) {
                    tracing::warn!(
                        topic = task.current_topic(), ?part, offset = ?record.offset, dropped, total = task.metrics.dropped,
                        "dropping records with a null their type cannot hold (this one and \
                         others since the last such line)"
                    );
                }
                return Ok(());
            }
            Decoded::Failed(part, error) => {
                return Err(SourceFailure::Deserialization {
                    part,
                    error,
                    record,
                })
            }
        };
        let RawRecord {
            offset,
            timestamp: raw_timestamp,
            key: raw_key,
            value: raw_value,
            headers,
        } = record;
        // The bytes stay here until the record has gone through: a failure hands them to
        // the processing handler unchanged. Headers move into the typed record; a copy is
        // kept only when a handler may write them out (no allocation per record otherwise).
        let kept_headers = if task.keep_input_headers && !headers.is_empty() {
            headers.clone()
        } else {
            crate::Headers::new()
        };
        let typed = Record {
            key,
            value,
            timestamp,
            headers,
        };
        // A panic in user code is caught here, with the record's bytes still at hand (one
        // catch per record, not per node): the processing handler can skip the record.
        task.current_node = usize::MAX;
        let children = &self.children;
        let result = catch_unwind(AssertUnwindSafe(|| forward_all(children, typed, task)))
            .unwrap_or_else(|p| {
                let error = ProcessorError::Panic(super::panic_message(p));
                Err(match task.node_names.get(&task.current_node) {
                    Some(node) => error.in_node(node),
                    None => error,
                })
            });
        result.map_err(|error| SourceFailure::Processing {
            error,
            record: Box::new(RawRecord {
                offset,
                timestamp: raw_timestamp,
                key: raw_key,
                value: raw_value,
                headers: kept_headers,
            }),
        })
    }
}

impl<K, V> SourceNode<K, V> {
    pub(crate) fn new(
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        time: SourceTime<K, V>,
        children: Vec<Child<K, V>>,
    ) -> Self {
        Self {
            key_serde,
            value_serde,
            time,
            children,
            arrived: Vec::new(),
        }
    }

    /// Deserializes `record`, read from `topic`.
    fn decode(&self, topic: &str, record: &RawRecord) -> Decoded<K, V> {
        if let Some(part) = self.null_without_type(record, topic) {
            return Decoded::NullWithoutType(part);
        }
        let headers = &record.headers;
        let key = match self
            .key_serde
            .deserialize(topic, headers, record.key.as_deref())
        {
            Ok(key) => key,
            Err(error) => return Decoded::Failed(RecordPart::Key, error),
        };
        match self
            .value_serde
            .deserialize(topic, headers, record.value.as_deref())
        {
            Ok(value) => Decoded::Typed(key, value),
            Err(error) => Decoded::Failed(RecordPart::Value, error),
        }
    }

    fn arrived_from(&mut self, topic: &str) -> &mut Arrived<K, V> {
        let index = match self.arrived.iter().position(|a| a.topic == topic) {
            Some(index) => index,
            None => {
                self.arrived.push(Arrived {
                    topic: topic.to_owned(),
                    records: VecDeque::new(),
                });
                self.arrived.len() - 1
            }
        };
        &mut self.arrived[index]
    }

    /// The record at `offset` of `topic` as it was deserialized on arrival, if it was. Records
    /// before it that never reached the source (an invalid time sends a record to the
    /// handler directly) are let go. Offsets name records for good, so after a rewind an
    /// entry still ahead is the same record, deserialized the same way.
    fn take_arrived(&mut self, topic: &str, offset: i64) -> Option<Decoded<K, V>> {
        let arrived = self.arrived.iter_mut().find(|a| a.topic == topic)?;
        while let Some((front, _)) = arrived.records.front() {
            if *front > offset {
                return None;
            }
            let (front, decoded) = arrived.records.pop_front()?;
            if front == offset {
                return Some(decoded);
            }
        }
        None
    }

    /// The part of `record` that is null where its serde reads no null.
    fn null_without_type(&self, record: &RawRecord, topic: &str) -> Option<RecordPart> {
        let refused =
            |result: Result<(), SerdeError>| matches!(result, Err(SerdeError::UnexpectedNull));
        let headers = &record.headers;
        if record.key.is_none()
            && refused(self.key_serde.deserialize(topic, headers, None).map(drop))
        {
            return Some(RecordPart::Key);
        }
        if record.value.is_none()
            && refused(self.value_serde.deserialize(topic, headers, None).map(drop))
        {
            return Some(RecordPart::Value);
        }
        None
    }
}

impl<K, V> NodeLifecycle for SourceNode<K, V> {
    fn init(&mut self, _: &mut TaskContext) -> Result<(), ProcessorError> {
        Ok(())
    }

    fn punctuate(&mut self, _: Punctuation, _: &mut TaskContext) -> Result<(), ProcessorError> {
        Ok(())
    }

    fn close(&mut self) {}
}

/// Runs a user or DSL [`Processor`].
pub(crate) struct ProcessorNode<P, KIn, VIn, KOut, VOut> {
    pub(crate) info: NodeInfo,
    pub(crate) processor: P,
    pub(crate) children: Vec<Child<KOut, VOut>>,
    pub(crate) types: PhantomData<fn(KIn, VIn)>,
}

impl<P, KIn, VIn, KOut, VOut> Downstream<KIn, VIn> for ProcessorNode<P, KIn, VIn, KOut, VOut>
where
    P: Processor<KIn, VIn, KOut, VOut>,
{
    fn process(
        &mut self,
        record: Record<KIn, VIn>,
        task: &mut TaskContext,
    ) -> Result<(), ProcessorError> {
        let mut ctx = ProcessorContext {
            node: &self.info,
            children: &self.children,
            task,
        };
        // The source catches a panic; this names the node it came from.
        ctx.task.current_node = self.info.index;
        if let Some(records) = ctx.task.node_records.get_mut(self.info.index) {
            *records += 1;
        }
        self.processor
            .process(record, &mut ctx)
            .map_err(|e| e.in_node(&self.info.name))
    }
}

impl<P, KIn, VIn, KOut, VOut> NodeLifecycle for ProcessorNode<P, KIn, VIn, KOut, VOut>
where
    P: Processor<KIn, VIn, KOut, VOut>,
{
    fn init(&mut self, task: &mut TaskContext) -> Result<(), ProcessorError> {
        let mut ctx = ProcessorContext {
            node: &self.info,
            children: &self.children,
            task,
        };
        self.processor
            .init(&mut ctx)
            .map_err(|e| e.in_node(&self.info.name))
    }

    fn punctuate(
        &mut self,
        punctuation: Punctuation,
        task: &mut TaskContext,
    ) -> Result<(), ProcessorError> {
        let mut ctx = ProcessorContext {
            node: &self.info,
            children: &self.children,
            task,
        };
        self.processor
            .punctuate(punctuation, &mut ctx)
            .map_err(|e| e.in_node(&self.info.name))
    }

    fn flush(&mut self, task: &mut TaskContext) -> Result<(), ProcessorError> {
        let mut ctx = ProcessorContext {
            node: &self.info,
            children: &self.children,
            task,
        };
        self.processor
            .flush(&mut ctx)
            .map_err(|e| e.in_node(&self.info.name))
    }

    fn on_watermark(&mut self, task: &mut TaskContext) -> Result<(), ProcessorError> {
        let mut ctx = ProcessorContext {
            node: &self.info,
            children: &self.children,
            task,
        };
        self.processor
            .on_watermark(&mut ctx)
            .map_err(|e| e.in_node(&self.info.name))
    }

    fn close(&mut self) {
        self.processor.close();
    }
}

/// Picks the topic of a record (Kafka Streams' `TopicNameExtractor`).
pub(crate) type TopicChooser<K, V> = Arc<dyn Fn(&Record<K, V>) -> String + Send + Sync>;

/// How a sink picks the topic of a record.
pub(crate) enum SinkTopic<K, V> {
    /// A fixed topic, interned in the task's output buffer on first use.
    Fixed {
        name: Arc<str>,
        id: Option<u32>,
    },
    PerRecord(TopicChooser<K, V>),
}

/// Serializes records into the task's output buffer.
pub(crate) struct SinkNode<K, V> {
    pub(crate) name: String,
    pub(crate) topic: SinkTopic<K, V>,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
    pub(crate) partitioner: Option<Arc<dyn crate::StreamPartitioner<K, V>>>,
}

impl<K, V> Downstream<K, V> for SinkNode<K, V> {
    fn process(
        &mut self,
        record: Record<K, V>,
        task: &mut TaskContext,
    ) -> Result<(), ProcessorError> {
        let output = &mut task.output;
        let topic = match &mut self.topic {
            SinkTopic::Fixed { name, id } => *id.get_or_insert_with(|| output.topic_id(name)),
            SinkTopic::PerRecord(choose) => output.topic_id(&choose(&record)),
        };
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = record;
        let (key_serde, value_serde) = (&self.key_serde, &self.value_serde);
        output
            .push(
                topic,
                timestamp,
                headers,
                |t, h, out| {
                    key_serde
                        .serialize(t, h, &key, out)
                        .map_err(|e| (RecordPart::Key, e))
                },
                |t, h, out| {
                    value_serde
                        .serialize(t, h, &value, out)
                        .map_err(|e| (RecordPart::Value, e))
                },
            )
            .map_err(|(part, source)| {
                ProcessorError::Serialization {
                    topic: output.topic_name(topic).to_owned(),
                    part,
                    source,
                }
                .in_node(&self.name)
            })?;
        let Some(partitioner) = &self.partitioner else {
            return Ok(());
        };
        // The driver knows the partition counts (the test driver does not: it has no
        // partitions, and the default applies).
        let name = output.topic_name(topic);
        let Some(partitions) = task.partition_counts.as_ref().and_then(|c| c.get(name)) else {
            return Ok(());
        };
        match partitioner.partition(name, &key, &value, *partitions) {
            None => Ok(()),
            Some(p) if (0..*partitions).contains(&p) => {
                task.output.set_last_partition(p);
                Ok(())
            }
            Some(p) => Err(ProcessorError::Failed(
                format!(
                    "the stream partitioner chose partition {p} of topic `{name}`, which has \
                     {partitions}"
                )
                .into(),
            )
            .in_node(&self.name)),
        }
    }
}

impl<K, V> NodeLifecycle for SinkNode<K, V> {
    fn init(&mut self, _: &mut TaskContext) -> Result<(), ProcessorError> {
        Ok(())
    }

    fn punctuate(&mut self, _: Punctuation, _: &mut TaskContext) -> Result<(), ProcessorError> {
        Ok(())
    }

    fn close(&mut self) {}
}
