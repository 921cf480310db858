//! Tasks: one sub-topology for one partition number, with its stores, stream time and
//! punctuation schedule. Both drivers (the Kafka runtime and the test driver) run tasks through
//! this same code; only the I/O around it differs.

mod changelog;
mod log_limit;
mod metrics;
mod node;
mod output;
mod partition_group;

use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

pub(crate) use changelog::ChangelogCollector;
use state_stores::{ChangelogRecord, Checkpoint};

pub(crate) use log_limit::LogLimit;
pub use metrics::TaskMetrics;
pub(crate) use node::{
    forward_all, Child, DownstreamRef, NodeInfo, NodeRef, ProcessorNode, SinkNode, SinkTopic,
    SourceFailure, SourceNode, SourceRef, SourceTime, TopicChooser,
};
use output::OutputBuffer;
pub use output::OutputRecord;
use partition_group::{PartitionGroup, QueuedRecord};

use crate::config::HandlerResponse;
use crate::handlers::{
    dead_letter_headers_for, ErrorContext, FailedRecord, ProcessingExceptionHandler,
    ProductionError, ProductionExceptionHandler,
};
use crate::processor::{PunctuationSchedules, PunctuationType};
use crate::quiet::{QuietClock, WatermarkSource};
use crate::state::{ManagedStore, StoreRegistry};
use crate::{
    DeserializationHandler, ProcessorError, ProducedRecord, RawRecord, RecordMetadata,
    StreamsError, Timestamp,
};

/// The name of a task's checkpoint file, in the task's directory.
pub const CHECKPOINT_FILE: &str = ".checkpoint";

/// Identifies a task: a sub-topology and a partition number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// The sub-topology's number, as in [`Topology::describe`](crate::Topology::describe).
    pub subtopology: u32,
    /// The partition number of the task's input partitions.
    pub partition: i32,
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}

/// Reads a task id as it is displayed (`<subtopology>_<partition>`, as task directories are
/// named).
impl std::str::FromStr for TaskId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parsed = text.split_once('_').and_then(|(subtopology, partition)| {
            Some(TaskId {
                subtopology: subtopology.parse().ok()?,
                partition: partition.parse().ok()?,
            })
        });
        parsed.ok_or_else(|| format!("`{text}` is not a task id (<subtopology>_<partition>)"))
    }
}

/// The record being processed, by its topic's index in the task.
#[derive(Clone, Copy, Debug)]
struct CurrentRecord {
    topic: usize,
    offset: i64,
}

/// The state of a task that its nodes share: time, the current record, schedules, stores and
/// the records it has produced.
pub(crate) struct TaskContext {
    pub(crate) application_id: Arc<str>,
    pub(crate) task_id: TaskId,
    pub(crate) stream_time: Timestamp,
    /// How far behind stream time the watermark trails (ms).
    pub(crate) max_out_of_orderness: i64,
    /// The least the watermark is, whatever the records say: raised by the rules for quiet
    /// inputs (see [`crate::quiet`]); -1 until one does.
    pub(crate) watermark_floor: Timestamp,
    /// What raised `watermark_floor`.
    pub(crate) floor_source: WatermarkSource,
    /// How often, at most, emit-on-close aggregations look for closed windows (ms).
    pub(crate) emit_interval: i64,
    pub(crate) wall_clock: Timestamp,
    pub(crate) punctuations: PunctuationSchedules,
    pub(crate) output: OutputBuffer,
    pub(crate) stores: StoreRegistry,
    pub(crate) metrics: TaskMetrics,
    /// Limits the log lines about dropped records.
    pub(crate) drop_log: LogLimit,
    /// Whether sources keep a copy of an input record's headers while it is processed: only
    /// when a handler may dead-letter a record whose processing failed.
    pub(crate) keep_input_headers: bool,
    /// The processor node running user code for the current record (its index), to name
    /// the node a panic came from.
    pub(crate) current_node: usize,
    /// The name of every node, by index.
    pub(crate) node_names: HashMap<usize, String>,
    /// Records each processor node processed, by node index (Kafka Streams' per-node
    /// `process-total`): one increment per node and record.
    pub(crate) node_records: Vec<u64>,
    topics: Vec<Arc<str>>,
    current: Option<CurrentRecord>,
    /// The task's state directory, `<state_dir>/<application.id>/<task id>`.
    pub(crate) directory: Arc<std::path::Path>,
    /// Whether a processor asked for a commit since the last one.
    pub(crate) commit_requested: bool,
    /// The partition counts of the topics sinks write to, where the driver knows them (for
    /// stream partitioners).
    pub(crate) partition_counts: Option<Arc<HashMap<String, i32>>>,
}

impl TaskContext {
    /// The watermark that the processed records alone give: stream time minus the maximum
    /// out-of-orderness (-1 before any record).
    pub(crate) fn record_watermark(&self) -> Timestamp {
        if self.stream_time < 0 {
            return -1;
        }
        self.stream_time.saturating_sub(self.max_out_of_orderness)
    }

    /// The watermark: the records', or the floor that a rule for quiet inputs raised, if
    /// higher.
    pub(crate) fn watermark(&self) -> Timestamp {
        self.record_watermark().max(self.watermark_floor)
    }

    /// What set the watermark where it is.
    pub(crate) fn watermark_source(&self) -> WatermarkSource {
        if self.watermark_floor > self.record_watermark() {
            self.floor_source
        } else {
            WatermarkSource::Records
        }
    }

    pub(crate) fn record_metadata(&self) -> Option<RecordMetadata<'_>> {
        self.current.map(|c| RecordMetadata {
            topic: &self.topics[c.topic],
            partition: self.task_id.partition,
            offset: c.offset,
        })
    }

    /// The topic that `error` (about an input record) names.
    pub(crate) fn current_topic_of(&self, error: &StreamsError) -> String {
        match error {
            StreamsError::Deserialization { topic, .. }
            | StreamsError::InvalidTimestamp { topic, .. } => topic.clone(),
            _ => self.current_topic().to_owned(),
        }
    }

    /// The topic of the record being processed ("" outside of processing).
    pub(crate) fn current_topic(&self) -> &str {
        self.current.map_or("", |c| &self.topics[c.topic])
    }
}

/// A store of a task, with whether it has a changelog.
pub(crate) struct TaskStore {
    pub(crate) store: Box<dyn ManagedStore>,
    pub(crate) logged: bool,
    /// Flushes of the store, and the time they took.
    pub(crate) flushes: u64,
    pub(crate) flush_time: std::time::Duration,
}

/// A changelog partition that one of a task's stores is backed by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangelogPartition {
    /// The store.
    pub store: String,
    /// The changelog topic, `<application.id>-<store>-changelog`.
    pub topic: String,
    /// The partition: the task's partition number.
    pub partition: i32,
    /// The offset of the last changelog record that the local state already holds (from the
    /// checkpoint file, for persistent stores): restoration starts after it.
    pub restored_up_to: Option<i64>,
}

/// What a task is made of, as the topology assembles it.
pub(crate) struct TaskParts {
    pub(crate) application_id: Arc<str>,
    pub(crate) task_id: TaskId,
    /// Input topics with the source that reads each.
    pub(crate) sources: Vec<(Arc<str>, SourceRef)>,
    /// Every node, by its index in the topology.
    pub(crate) nodes: HashMap<usize, NodeRef>,
    pub(crate) stores: StoreRegistry,
    pub(crate) managed_stores: Vec<TaskStore>,
    pub(crate) handler: Arc<dyn DeserializationHandler>,
    pub(crate) processing_handler: Arc<dyn ProcessingExceptionHandler>,
    pub(crate) production_handler: Arc<dyn ProductionExceptionHandler>,
    /// The name of every node, by its index in the topology.
    pub(crate) node_names: HashMap<usize, String>,
    pub(crate) directory: PathBuf,
    pub(crate) changelog: Rc<RefCell<ChangelogCollector>>,
    pub(crate) max_out_of_orderness: i64,
    pub(crate) emit_interval: i64,
}

/// One sub-topology instantiated for one partition number.
///
/// A task buffers the records of its input partitions, processes them one at a time in
/// timestamp order, keeps stream time, fires punctuations and collects the records its sinks
/// produce. It is single-threaded: a stream thread (or the test driver) owns it.
pub struct Task {
    ctx: TaskContext,
    sources: Vec<SourceRef>,
    nodes: HashMap<usize, NodeRef>,
    stores: Vec<TaskStore>,
    queues: PartitionGroup,
    handler: Arc<dyn DeserializationHandler>,
    processing_handler: Arc<dyn ProcessingExceptionHandler>,
    production_handler: Arc<dyn ProductionExceptionHandler>,
    initialized: bool,
    directory: PathBuf,
    changelog: Rc<RefCell<ChangelogCollector>>,
    checkpoint: Checkpoint,
    /// Limits the log lines about skipped records.
    skip_log: LogLimit,
    /// Per input topic, the offset after the last record processed (or skipped): what the
    /// runtime commits for the task's input partitions.
    consumed: Vec<Option<i64>>,
    /// How long the task's inputs have been quiet (for the rules of [`crate::quiet`]).
    quiet: QuietClock,
    /// The sources' subscription patterns, compiled when a topic the task does not know
    /// yet first arrives.
    patterns: Option<Vec<(String, regex::Regex)>>,
}

pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// The node that `error` names as the one that failed ("" if none).
fn failed_node(error: &ProcessorError) -> &str {
    match error {
        ProcessorError::InNode { node, .. } => node,
        _ => "",
    }
}

/// Writes `record`'s key and value unchanged, with `headers`, to the dead-letter topic
/// `topic`, and counts it.
fn dead_letter(ctx: &mut TaskContext, topic: &str, record: &RawRecord, headers: crate::Headers) {
    let id = ctx.output.topic_id(topic);
    ctx.output.push_bytes(
        id,
        record.timestamp,
        headers,
        record.key.as_deref(),
        record.value.as_deref(),
    );
    ctx.metrics.dead_lettered += 1;
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.ctx.task_id)
            .field("stream_time", &self.ctx.stream_time)
            .field("buffered", &self.queues.len())
            .finish_non_exhaustive()
    }
}

impl Task {
    pub(crate) fn new(parts: TaskParts) -> Result<Self, StreamsError> {
        let (topics, sources): (Vec<_>, Vec<_>) = parts.sources.into_iter().unzip();
        let mut queues = PartitionGroup::new(topics.len());
        for (index, topic) in topics.iter().enumerate() {
            if crate::TopicName::is_pattern(topic) {
                queues.set_passive(index);
            }
        }
        let consumed = vec![None; topics.len()];
        let checkpoint = Checkpoint::read(&parts.directory.join(CHECKPOINT_FILE))?;
        Ok(Self {
            ctx: TaskContext {
                application_id: parts.application_id,
                task_id: parts.task_id,
                stream_time: -1,
                max_out_of_orderness: parts.max_out_of_orderness,
                watermark_floor: -1,
                floor_source: WatermarkSource::Records,
                emit_interval: parts.emit_interval,
                wall_clock: 0,
                punctuations: PunctuationSchedules::default(),
                output: OutputBuffer::default(),
                stores: parts.stores,
                metrics: TaskMetrics::default(),
                drop_log: LogLimit::default(),
                keep_input_headers: parts.processing_handler.dead_letter_topic().is_some()
                    || parts.production_handler.dead_letter_topic().is_some(),
                current_node: usize::MAX,
                node_records: vec![0; parts.node_names.keys().max().map_or(0, |i| i + 1)],
                node_names: parts.node_names,
                topics,
                current: None,
                directory: Arc::from(parts.directory.as_path()),
                commit_requested: false,
                partition_counts: None,
            },
            sources,
            nodes: parts.nodes,
            stores: parts.managed_stores,
            queues,
            handler: parts.handler,
            processing_handler: parts.processing_handler,
            production_handler: parts.production_handler,
            initialized: false,
            directory: parts.directory,
            changelog: parts.changelog,
            checkpoint,
            skip_log: LogLimit::default(),
            consumed,
            quiet: QuietClock::default(),
            patterns: None,
        })
    }

    /// Gives the task the partition counts of the topics it writes to, for its sinks' stream
    /// partitioners (without them the default partitioning applies).
    pub fn set_partition_counts(&mut self, counts: Arc<HashMap<String, i32>>) {
        self.ctx.partition_counts = Some(counts);
    }

    /// Whether a processor asked for a commit (with
    /// [`ProcessorContext::commit`](crate::ProcessorContext::commit)) since the last call;
    /// clears the request. Drivers commit soon after a request, before the commit interval.
    pub fn take_commit_request(&mut self) -> bool {
        std::mem::take(&mut self.ctx.commit_requested)
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.ctx.task_id
    }

    /// The topics this task reads.
    pub fn input_topics(&self) -> impl Iterator<Item = &str> {
        self.ctx.topics.iter().map(|t| &**t)
    }

    /// The largest record time processed so far, or -1 before any.
    pub fn stream_time(&self) -> Timestamp {
        self.ctx.stream_time
    }

    /// The task's watermark: stream time minus the allowed out-of-orderness (-1 before any
    /// record), or higher where a rule for quiet inputs raised it.
    pub fn watermark(&self) -> Timestamp {
        self.ctx.watermark()
    }

    /// What set the task's watermark where it is: its records, or a rule for quiet inputs
    /// (see [`crate::quiet`]).
    pub fn watermark_source(&self) -> WatermarkSource {
        self.ctx.watermark_source()
    }

    /// The watermark that the task's records alone give.
    pub(crate) fn record_watermark(&self) -> Timestamp {
        self.ctx.record_watermark()
    }

    /// How long (ms) the task's inputs have been quiet at wall-clock time `now`: nothing
    /// buffered, nothing received since the last look.
    pub(crate) fn quiet_for(&mut self, now: Timestamp) -> i64 {
        let buffered = self.queues.len() > 0;
        self.quiet.quiet_for(now, buffered)
    }

    /// Raises the watermark to `to` (never lowers it), as `source` decided, and tells every
    /// processor (parents first) with [`Processor::on_watermark`](crate::Processor::on_watermark),
    /// so that what the new watermark closes is emitted. Returns whether it rose.
    pub(crate) fn raise_watermark(
        &mut self,
        to: Timestamp,
        source: WatermarkSource,
    ) -> Result<bool, StreamsError> {
        if to <= self.ctx.watermark() {
            return Ok(false);
        }
        self.init()?;
        self.ctx.watermark_floor = to;
        self.ctx.floor_source = source;
        self.changelog.borrow_mut().timestamp = self.ctx.stream_time.max(0);
        let mut indexes: Vec<usize> = self.nodes.keys().copied().collect();
        indexes.sort_unstable();
        for index in indexes {
            let node = Rc::clone(&self.nodes[&index]);
            let ctx = &mut self.ctx;
            catch_unwind(AssertUnwindSafe(|| node.borrow_mut().on_watermark(ctx)))
                .unwrap_or_else(|p| Err(ProcessorError::Panic(panic_message(p))))
                .map_err(|source| StreamsError::Punctuation {
                    task: self.ctx.task_id.to_string(),
                    timestamp: to,
                    source,
                })?;
        }
        Ok(true)
    }

    /// The task's counters.
    pub fn metrics(&self) -> TaskMetrics {
        self.ctx.metrics
    }

    /// The time of the record [`process_next`](Self::process_next) would process next.
    pub fn next_timestamp(&self) -> Option<Timestamp> {
        self.queues.next_timestamp()
    }

    /// The number of records of `topic` buffered and not yet processed.
    pub fn buffered_on(&self, topic: &str) -> usize {
        self.topic_index(topic).map_or(0, |i| self.queues.len_of(i))
    }

    /// Each input topic with the number of its records buffered.
    pub fn buffered_inputs(&self) -> impl Iterator<Item = (&str, usize)> + '_ {
        (0..self.ctx.topics.len()).map(|i| (&*self.ctx.topics[i], self.queues.len_of(i)))
    }

    /// The input topics with no record buffered: their index among the task's inputs, the
    /// topic, and its partition time (-1 before any record).
    pub fn empty_inputs(&self) -> impl Iterator<Item = (usize, &str, Timestamp)> + '_ {
        self.queues
            .empty_queues()
            .map(|(i, time)| (i, &*self.ctx.topics[i], time))
    }

    /// Drops the records buffered and not yet processed (to be fetched again from the
    /// committed offsets, as after a suspension).
    pub fn drop_buffered(&mut self) {
        self.queues.clear();
    }

    /// The number of records buffered and not yet processed.
    pub fn buffered(&self) -> usize {
        self.queues.len()
    }

    /// For each input topic with processed records, the offset of the next record to process
    /// in the task's partition: the position to commit.
    pub fn consumed_offsets(&self) -> impl Iterator<Item = (&str, i64)> {
        self.ctx
            .topics
            .iter()
            .zip(&self.consumed)
            .filter_map(|(topic, offset)| offset.map(|o| (&**topic, o)))
    }

    /// Whether every input partition has buffered records (so the next record is the true
    /// earliest of the task's inputs).
    pub fn all_partitions_buffered(&self) -> bool {
        self.queues.all_buffered()
    }

    /// Sets the wall-clock time that processors and punctuations see.
    pub fn set_wall_clock(&mut self, now: Timestamp) {
        self.ctx.wall_clock = now;
    }

    /// Initializes every processor (in topology order), once.
    pub fn init(&mut self) -> Result<(), StreamsError> {
        if self.initialized {
            return Ok(());
        }
        self.initialized = true;
        let mut indexes: Vec<usize> = self.nodes.keys().copied().collect();
        indexes.sort_unstable();
        for index in indexes {
            let node = Rc::clone(&self.nodes[&index]);
            let result = catch_unwind(AssertUnwindSafe(|| node.borrow_mut().init(&mut self.ctx)))
                .unwrap_or_else(|p| Err(ProcessorError::Panic(panic_message(p))));
            result.map_err(|source| StreamsError::Init {
                task: self.ctx.task_id.to_string(),
                source,
            })?;
        }
        Ok(())
    }

    fn topic_index(&self, topic: &str) -> Option<usize> {
        self.ctx.topics.iter().position(|t| &**t == topic)
    }

    /// The index of input `topic`: a topic that a source's pattern matches becomes an input
    /// of that source when its first records arrive.
    fn input_index(&mut self, topic: &str) -> Option<usize> {
        if let Some(index) = self.topic_index(topic) {
            return Some(index);
        }
        if self.patterns.is_none() {
            let names = self.ctx.topics.iter().map(|t| &**t);
            self.patterns = Some(crate::topology::pattern::compile(names));
        }
        let pattern = crate::topology::pattern::matching(self.patterns.as_deref()?, topic)?;
        let source = Rc::clone(&self.sources[self.topic_index(pattern)?]);
        self.ctx.topics.push(Arc::from(topic));
        self.sources.push(source);
        self.consumed.push(None);
        Some(self.queues.add_queue())
    }

    /// Buffers records of one of the task's input topics (of the task's partition).
    pub fn add_records(
        &mut self,
        topic: &str,
        records: impl IntoIterator<Item = RawRecord>,
    ) -> Result<(), StreamsError> {
        let index = self
            .input_index(topic)
            .ok_or_else(|| StreamsError::UnknownTopic {
                topic: topic.to_owned(),
                direction: "input",
            })?;
        let source = Rc::clone(&self.sources[index]);
        let mut source = source.borrow_mut();
        let topic = Arc::clone(&self.ctx.topics[index]);
        for record in records {
            self.quiet.received += 1;
            let partition_time = self.queues.partition_time(index);
            let timestamp = source.extract_timestamp(&topic, &record, partition_time);
            self.queues.push(index, QueuedRecord { timestamp, record });
        }
        Ok(())
    }

    /// Processes the next buffered record in timestamp order, then fires the stream-time
    /// punctuations that are due. Returns whether there was a record.
    ///
    /// A record that cannot be deserialized, or whose time is negative, goes to the
    /// deserialization handler: skipped and counted, or an error, as the handler says.
    pub fn process_next(&mut self) -> Result<bool, StreamsError> {
        self.init()?;
        let Some((index, QueuedRecord { timestamp, record })) = self.queues.pop() else {
            return Ok(false);
        };
        let offset = record.offset;
        self.consumed[index] = Some(offset + 1);
        let partition = self.ctx.task_id.partition;
        let topic = |ctx: &TaskContext| ctx.topics[index].to_string();
        if timestamp < 0 {
            let error = StreamsError::InvalidTimestamp {
                topic: topic(&self.ctx),
                partition,
                offset,
                timestamp,
            };
            return self.handle_bad_input(error, &record).map(|()| true);
        }
        // Stream time advances before the record is processed, so operators see the record's
        // own time when they check it for lateness; a record that turns out not to be
        // processable gives the step back (below).
        let stream_time_before = self.ctx.stream_time;
        self.ctx.stream_time = self.ctx.stream_time.max(timestamp);
        self.ctx.current = Some(CurrentRecord {
            topic: index,
            offset,
        });
        self.changelog.borrow_mut().timestamp = timestamp;
        self.ctx.metrics.processed += 1;
        let source = &self.sources[index];
        let ctx = &mut self.ctx;
        let result = catch_unwind(AssertUnwindSafe(|| {
            source.borrow_mut().process_raw(record, timestamp, ctx)
        }))
        .map_err(|p| ProcessorError::Panic(panic_message(p)));
        // A panic outside of the processors (in a serde, say) took the record with it: it
        // fails with its coordinates, whatever the handler.
        let result = match result {
            Ok(result) => result,
            Err(source) => {
                self.ctx.current = None;
                return Err(StreamsError::Processing {
                    topic: topic(&self.ctx),
                    partition,
                    offset,
                    source,
                });
            }
        };
        self.ctx.current = None;
        match result {
            Ok(()) => {}
            Err(SourceFailure::Deserialization {
                part,
                error,
                record,
            }) => {
                // Only records that are processed advance stream time (as in Kafka
                // Streams, which drops them before they reach the partition's queue head):
                // one garbage record with a far-future time would otherwise close every
                // window and make every later good record late.
                self.ctx.stream_time = stream_time_before;
                let error = StreamsError::Deserialization {
                    topic: topic(&self.ctx),
                    partition,
                    offset,
                    part,
                    source: error,
                };
                self.handle_bad_input(error, &record)?;
            }
            Err(SourceFailure::Processing { error, record }) => {
                self.handle_failed_processing(index, error, &record)?;
            }
        }
        self.punctuate(PunctuationType::StreamTime, self.ctx.stream_time)?;
        Ok(true)
    }

    fn handle_bad_input(
        &mut self,
        error: StreamsError,
        record: &RawRecord,
    ) -> Result<(), StreamsError> {
        match self.handler.handle(&error, record) {
            HandlerResponse::Continue => {
                self.ctx.metrics.skipped += 1;
                if let Some(skipped) = self.skip_log.note(1) {
                    tracing::warn!(
                        task = %self.ctx.task_id, %error, skipped, total = self.ctx.metrics.skipped,
                        "skipping bad input (this record and others since the last such line)"
                    );
                }
                Ok(())
            }
            HandlerResponse::Fail => Err(error),
            HandlerResponse::DeadLetter => {
                let Some(topic) = self.handler.dead_letter_topic() else {
                    return Err(error);
                };
                let source = self.ctx.current_topic_of(&error);
                let context = ErrorContext {
                    task: Some(self.ctx.task_id),
                    node: "",
                    topic: &source,
                    partition: self.ctx.task_id.partition,
                    offset: record.offset,
                };
                let headers =
                    dead_letter_headers_for(&record.headers, &error.to_string(), &context);
                dead_letter(&mut self.ctx, topic, record, headers);
                Ok(())
            }
        }
    }

    /// A record whose processing failed (a processor's error or panic, or a sink that could
    /// not serialize) goes to its handler: the production handler for serialization errors,
    /// the processing handler for the others. Skipped records are counted in `skipped`,
    /// dead-lettered ones in `dead_lettered`; `Fail` is the error, with the record's
    /// coordinates.
    fn handle_failed_processing(
        &mut self,
        index: usize,
        error: ProcessorError,
        record: &RawRecord,
    ) -> Result<(), StreamsError> {
        let topic = Arc::clone(&self.ctx.topics[index]);
        let node = failed_node(&error).to_owned();
        let context = ErrorContext {
            task: Some(self.ctx.task_id),
            node: &node,
            topic: &topic,
            partition: self.ctx.task_id.partition,
            offset: record.offset,
        };
        let failed = FailedRecord {
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            timestamp: record.timestamp,
            headers: &record.headers,
        };
        let (response, dead_letter_topic) = match error.root() {
            ProcessorError::Serialization {
                topic,
                part,
                source,
            } => {
                let production = ProductionError::Serialization {
                    topic: topic.clone(),
                    part: *part,
                    source: source.clone(),
                };
                let handler = &self.production_handler;
                (
                    handler.handle(&context, &failed, &production),
                    handler.dead_letter_topic(),
                )
            }
            _ => {
                let handler = &self.processing_handler;
                (
                    handler.handle(&context, &failed, &error),
                    handler.dead_letter_topic(),
                )
            }
        };
        let error = StreamsError::Processing {
            topic: topic.to_string(),
            partition: context.partition,
            offset: record.offset,
            source: error,
        };
        match (response, dead_letter_topic) {
            (HandlerResponse::Continue, _) => {
                self.ctx.metrics.skipped += 1;
                if let Some(skipped) = self.skip_log.note(1) {
                    tracing::warn!(
                        task = %self.ctx.task_id, node = %node, topic = %topic,
                        partition = context.partition, offset = record.offset, %error, skipped,
                        total = self.ctx.metrics.skipped,
                        "skipping a record whose processing failed (this record and others \
                         since the last such line)"
                    );
                }
                Ok(())
            }
            (HandlerResponse::DeadLetter, Some(dlq)) => {
                let headers =
                    dead_letter_headers_for(&record.headers, &error.to_string(), &context);
                let dlq = dlq.to_owned();
                dead_letter(&mut self.ctx, &dlq, record, headers);
                Ok(())
            }
            (HandlerResponse::Fail | HandlerResponse::DeadLetter, _) => Err(error),
        }
    }

    /// Fires the wall-clock punctuations due at `now` (and sets the wall clock to `now`).
    /// Returns whether any fired.
    pub fn punctuate_wall_clock(&mut self, now: Timestamp) -> Result<bool, StreamsError> {
        self.init()?;
        self.ctx.wall_clock = now;
        self.punctuate(PunctuationType::WallClockTime, now)
    }

    fn punctuate(&mut self, kind: PunctuationType, now: Timestamp) -> Result<bool, StreamsError> {
        let mut fired = false;
        self.changelog.borrow_mut().timestamp = now;
        while let Some((index, punctuation)) = self.ctx.punctuations.next_due(kind, now) {
            let Some(node) = self.nodes.get(&index).map(Rc::clone) else {
                continue;
            };
            fired = true;
            self.ctx.metrics.punctuations += 1;
            let _span = tracing::debug_span!(
                "punctuate", task = %self.ctx.task_id, node = index, kind = ?kind, time = now
            )
            .entered();
            let ctx = &mut self.ctx;
            catch_unwind(AssertUnwindSafe(|| {
                node.borrow_mut().punctuate(punctuation, ctx)
            }))
            .unwrap_or_else(|p| Err(ProcessorError::Panic(panic_message(p))))
            .map_err(|source| StreamsError::Punctuation {
                task: self.ctx.task_id.to_string(),
                timestamp: now,
                source,
            })?;
        }
        Ok(fired)
    }

    /// Hands every record produced so far to `f`, oldest first, borrowed from the task's
    /// output buffer (which is then emptied and reused: no allocation per record).
    /// Changelog records (to `<application.id>-<store>-changelog`, the task's partition) come
    /// after the sinks' records.
    pub fn drain_output_with(&mut self, mut f: impl FnMut(OutputRecord<'_>)) {
        self.ctx.output.drain(&mut f);
        self.changelog.borrow_mut().drain(f);
    }

    /// Moves copies of the records produced so far (sinks', then changelogs') into `out`.
    pub fn drain_output(&mut self, out: &mut Vec<ProducedRecord>) {
        self.drain_output_with(|r| out.push(r.to_owned_record()));
    }

    /// Whether the task has produced records that were not drained yet.
    pub fn has_output(&self) -> bool {
        !self.ctx.output.is_empty() || !self.changelog.borrow().is_empty()
    }

    /// The changelog partitions of the task's logged stores, with how far the local state
    /// already covers each (only persistent stores keep what they had across restarts).
    pub fn changelog_partitions(&self) -> Vec<ChangelogPartition> {
        let partition = self.ctx.task_id.partition;
        self.stores
            .iter()
            .filter(|s| s.logged)
            .map(|s| {
                let topic = crate::state::changelog_topic(&self.ctx.application_id, s.store.name());
                let restored_up_to = if s.store.persistent() {
                    self.checkpoint.offset(&topic, partition)
                } else {
                    None
                };
                ChangelogPartition {
                    store: s.store.name().to_owned(),
                    topic,
                    partition,
                    restored_up_to,
                }
            })
            .collect()
    }

    /// Applies a batch of changelog records to the store `store`, whose changelog offsets up
    /// to `last_offset` are then covered. Restoration bypasses the changelog (nothing is
    /// logged again) and runs before the task processes records.
    pub fn restore(
        &mut self,
        store: &str,
        records: &[ChangelogRecord],
        last_offset: i64,
    ) -> Result<(), StreamsError> {
        let target = self
            .stores
            .iter_mut()
            .find(|s| s.store.name() == store)
            .ok_or_else(|| StreamsError::UnknownStore(store.to_owned()))?;
        target.store.restore(records)?;
        let topic = crate::state::changelog_topic(&self.ctx.application_id, store);
        self.checkpoint
            .set(&topic, self.ctx.task_id.partition, last_offset);
        Ok(())
    }

    /// Flushes the record caches: each processor (parents first) forwards what its cached
    /// stores hold, which also writes it to the stores and their changelogs.
    pub fn flush_caches(&mut self) -> Result<(), StreamsError> {
        let mut indexes: Vec<usize> = self.nodes.keys().copied().collect();
        indexes.sort_unstable();
        for index in indexes {
            let node = Rc::clone(&self.nodes[&index]);
            let ctx = &mut self.ctx;
            catch_unwind(AssertUnwindSafe(|| node.borrow_mut().flush(ctx)))
                .unwrap_or_else(|p| Err(ProcessorError::Panic(panic_message(p))))
                .map_err(|source| StreamsError::Flush {
                    task: self.ctx.task_id.to_string(),
                    source,
                })?;
        }
        Ok(())
    }

    /// Commits the task's state: flushes the caches and every store, records that the changelogs are
    /// covered up to `changelog_offsets` (topic, offset of the last record sent), and writes
    /// the checkpoint file of the persistent stores.
    pub fn commit(
        &mut self,
        changelog_offsets: impl IntoIterator<Item = (String, i64)>,
    ) -> Result<(), StreamsError> {
        self.prepare_commit(changelog_offsets)?;
        self.write_checkpoint()
    }

    /// The first half of [`commit`](Self::commit): flushes caches and stores and records the
    /// changelog offsets, without writing the checkpoint file (under exactly-once the file is
    /// written only when the task closes cleanly).
    pub fn prepare_commit(
        &mut self,
        changelog_offsets: impl IntoIterator<Item = (String, i64)>,
    ) -> Result<(), StreamsError> {
        self.flush_caches()?;
        self.flush()?;
        for (topic, offset) in changelog_offsets {
            self.checkpoint
                .set(&topic, self.ctx.task_id.partition, offset);
        }
        Ok(())
    }

    /// Writes the checkpoint file (if the task has persistent logged stores): the changelog
    /// offsets that the local state covers, as of the last commit.
    pub fn write_checkpoint(&self) -> Result<(), StreamsError> {
        if self.stores.iter().any(|s| s.logged && s.store.persistent()) {
            std::fs::create_dir_all(&self.directory).map_err(|e| state_stores::StoreError::Io {
                path: self.directory.clone(),
                reason: e.to_string(),
            })?;
            self.checkpoint
                .write(&self.directory.join(CHECKPOINT_FILE))?;
        }
        Ok(())
    }

    /// The typed handle of the store called `name` (for example a
    /// [`KeyValueStore`](crate::KeyValueStore)).
    pub fn store<S: Clone + 'static>(&self, name: &str) -> Result<S, StreamsError> {
        self.ctx.stores.get::<S>(name).map_err(|e| match e {
            ProcessorError::StoreType { store, expected } => {
                StreamsError::StoreType { store, expected }
            }
            _ => StreamsError::UnknownStore(name.to_owned()),
        })
    }

    /// Makes the global stores of `global` (the global task) readable from this task.
    pub fn attach_global_stores(&mut self, global: &Task) {
        global.ctx.stores.share_globals_with(&mut self.ctx.stores);
    }

    /// Whether the task has a store called `name`.
    pub fn has_store(&self, name: &str) -> bool {
        self.ctx.stores.contains(name)
    }

    /// Flushes every store of the task.
    pub fn flush(&mut self) -> Result<(), StreamsError> {
        for store in &mut self.stores {
            let started = std::time::Instant::now();
            store.store.flush()?;
            store.flushes += 1;
            store.flush_time += started.elapsed();
        }
        Ok(())
    }

    /// The records each processor node of the task processed, by node name (nodes that
    /// processed none are left out).
    pub fn node_metrics(&self) -> impl Iterator<Item = (&str, u64)> {
        let names = &self.ctx.node_names;
        self.ctx
            .node_records
            .iter()
            .enumerate()
            .filter_map(move |(i, &records)| Some((names.get(&i)?.as_str(), records)))
            .filter(|&(_, records)| records > 0)
    }

    /// The figures of each of the task's stores, by name.
    pub fn store_metrics(&self) -> impl Iterator<Item = (&str, crate::StoreMetrics)> {
        self.stores.iter().map(|s| {
            let metrics = crate::StoreMetrics {
                flushes: s.flushes,
                flush_time: s.flush_time,
                ..s.store.metrics()
            };
            (s.store.name(), metrics)
        })
    }

    /// Closes processors and stores.
    pub fn close(&mut self) {
        for node in self.nodes.values() {
            node.borrow_mut().close();
        }
        for store in &mut self.stores {
            tracing::debug!(task = %self.ctx.task_id, store = store.store.name(), "closing store");
            store.store.close();
        }
    }
}
