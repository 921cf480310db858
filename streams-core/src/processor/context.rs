use std::time::Duration;

use super::{PunctuationType, ScheduleId};
use crate::state::KeyValueStore;
use crate::task::{forward_all, Child, NodeInfo, TaskContext};
use crate::{Headers, ProcessorError, Record, RecordMetadata, TaskId, Timestamp};

/// What a processor sees of its task: where to forward records, the current record's
/// metadata, time, punctuation schedules and state stores.
///
/// A context is lent to the processor for the duration of one call.
pub struct ProcessorContext<'a, K, V> {
    pub(crate) node: &'a NodeInfo,
    pub(crate) children: &'a [Child<K, V>],
    pub(crate) task: &'a mut TaskContext,
}

impl<K, V> ProcessorContext<'_, K, V> {
    /// Forwards `record` to every child. It is cloned only when there are several.
    pub fn forward(&mut self, record: Record<K, V>) -> Result<(), ProcessorError>
    where
        K: Clone,
        V: Clone,
    {
        let result = forward_all(self.children, record, self.task);
        // Back in this node: a panic now is its own.
        self.task.current_node = self.node.index;
        result
    }

    /// Forwards `record` to the child called `child` only.
    pub fn forward_to(&mut self, child: &str, record: Record<K, V>) -> Result<(), ProcessorError> {
        let target = self
            .children
            .iter()
            .find(|c| c.name == child)
            .ok_or_else(|| ProcessorError::UnknownChild(child.to_owned()))?;
        let result = target.input.borrow_mut().process(record, self.task);
        self.task.current_node = self.node.index;
        result
    }

    /// The names of this processor's children, in the order they were added.
    pub fn child_names(&self) -> impl Iterator<Item = &str> {
        self.children.iter().map(|c| c.name.as_str())
    }

    /// The name of this processor's node.
    pub fn node_name(&self) -> &str {
        &self.node.name
    }

    /// Where the record being processed came from; `None` during punctuation and init.
    pub fn record_metadata(&self) -> Option<RecordMetadata<'_>> {
        self.task.record_metadata()
    }

    /// The task's stream time: the largest record time processed so far, or -1 before any.
    pub fn stream_time(&self) -> Timestamp {
        self.task.stream_time
    }

    /// The task's watermark: stream time minus the configured maximum out-of-orderness (-1
    /// before any record), or higher where a rule for quiet inputs raised it (see
    /// [`watermark_source`](Self::watermark_source)). Windows close on it.
    pub fn watermark(&self) -> Timestamp {
        self.task.watermark()
    }

    /// What set the watermark where it is: the records, or a rule for quiet inputs (an
    /// idle-partition timeout or the wall-clock watermark). Operators name it where it
    /// decided a result (pane info, late-record reasons).
    pub fn watermark_source(&self) -> crate::WatermarkSource {
        self.task.watermark_source()
    }

    /// Writes a record straight to `topic` (a side output, such as late records), with bytes
    /// the processor has serialized itself. Declare the topic with
    /// [`Topology::add_side_output_topic`](crate::Topology::add_side_output_topic).
    pub fn send_to(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: Timestamp,
        headers: Headers,
    ) {
        let output = &mut self.task.output;
        let id = output.topic_id(topic);
        output.push_bytes(id, timestamp, headers, key, value);
    }

    /// Counts `n` records that this processor dropped (for example too late for their
    /// window) in the task's `dropped` metric.
    pub fn record_dropped(&mut self, n: u64) {
        self.task.metrics.dropped += n;
        if let Some(dropped) = self.task.drop_log.note(n) {
            tracing::warn!(
                task = %self.task.task_id, dropped, total = self.task.metrics.dropped,
                "dropped records (too late for their window, or without a key or value where \
                 one is needed; counted in the task's dropped metric)"
            );
        }
    }

    /// The wall-clock time (the test driver's clock in tests).
    pub fn current_system_time(&self) -> Timestamp {
        self.task.wall_clock
    }

    /// How often, at most, an emit-on-window-close aggregation looks for closed windows, in
    /// wall-clock ms (see [`StreamsConfig::windowed_aggregation_emit_interval`](crate::StreamsConfig::windowed_aggregation_emit_interval)).
    pub fn windowed_aggregation_emit_interval_ms(&self) -> i64 {
        self.task.emit_interval
    }

    /// The task this processor instance belongs to.
    pub fn task_id(&self) -> TaskId {
        self.task.task_id
    }

    /// The application id from the configuration.
    pub fn application_id(&self) -> &str {
        &self.task.application_id
    }

    /// The task's own state directory, `<state_dir>/<application.id>/<task id>` (Kafka
    /// Streams' `stateDir()`): where its persistent stores and checkpoint file live. It may
    /// not exist yet if the task has no persistent store.
    pub fn state_dir(&self) -> &std::path::Path {
        &self.task.directory
    }

    /// Asks for a commit as soon as possible (Kafka Streams' `ProcessorContext.commit()`):
    /// the driver flushes the task's caches and stores and commits its input offsets after
    /// the current record, without waiting for the commit interval. A request, not a
    /// synchronous commit.
    pub fn commit(&mut self) {
        self.task.commit_requested = true;
    }

    /// Schedules [`Processor::punctuate`](super::Processor::punctuate) every `interval` of
    /// `kind` time; the returned id tells punctuations apart and cancels them.
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> ScheduleId {
        let now = self.task.wall_clock;
        self.task
            .punctuations
            .schedule(self.node.index, kind, interval, now)
    }

    /// Cancels a schedule made with [`schedule`](Self::schedule).
    pub fn cancel(&mut self, schedule: ScheduleId) {
        self.task.punctuations.cancel(schedule);
    }

    /// The key-value store called `name`, which must be connected to this processor.
    pub fn key_value_store<SK: 'static, SV: 'static>(
        &self,
        name: &str,
    ) -> Result<KeyValueStore<SK, SV>, ProcessorError> {
        self.state_store(name)
    }

    /// The store called `name` as the typed handle `S` (for example [`KeyValueStore`]); the
    /// store must be connected to this processor, or be global.
    pub fn state_store<S: Clone + 'static>(&self, name: &str) -> Result<S, ProcessorError> {
        if !self.node.stores.iter().any(|s| s == name) && !self.task.stores.is_global(name) {
            return Err(ProcessorError::UnknownStore(name.to_owned()));
        }
        self.task.stores.get::<S>(name)
    }
}
