//! The tasks of one stream thread: created and restored when the group assigns their
//! partitions, fed with consumed records, processed in turn, committed and closed.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};

use super::collector::RecordCollector;
use super::global::GlobalReplica;
use super::messages::raw_record;
use super::pacing::Pacing;
use super::restore::{Plan, Progress, Restorer};
use super::shared::Metrics;
use super::state_cleaner::TaskDirectories;
use super::RuntimeError;
use crate::task::CHECKPOINT_FILE;
use crate::topology::pattern;
use crate::{
    CacheBudget, StoreError, StreamsConfig, StreamsError, Task, TaskId, Timestamp, Topology,
};

/// How long opening a task's stores waits for a lock that another thread of this process is
/// about to release (a task moving between threads in one rebalance).
const LOCK_WAIT: Duration = Duration::from_secs(10);
/// The most records a task processes before the others get a look, even when its records
/// stay the earliest: bounds how long a wall-clock punctuation or a commit waits.
const TURN: usize = 500;
/// How long pacing may hold a sub-topology's tasks for a partition whose records are on
/// their way (or `max_task_idle`, if longer).
const PACING_PATIENCE: Duration = Duration::from_secs(2);

/// A task whose stores are being restored.
struct Restoring {
    task: Task,
    progress: Progress,
    inputs: TopicPartitionList,
}

/// The active tasks of a stream thread.
pub(crate) struct ActiveTasks {
    topology: Arc<Topology>,
    config: StreamsConfig,
    cache: CacheBudget,
    subtopology_of: Arc<HashMap<String, u32>>,
    /// Topics that a source's pattern matched, with the sub-topology that reads them.
    matched: HashMap<String, u32>,
    /// The sources' patterns (resolved names of `subtopology_of`), compiled at first use.
    patterns: Option<Vec<(String, regex::Regex)>>,
    tasks: BTreeMap<TaskId, Task>,
    /// Tasks created for an assignment and still restoring, with their (paused) input
    /// partitions.
    restoring: BTreeMap<TaskId, Restoring>,
    /// Tasks committed when their partitions were revoked, kept open until the new
    /// assignment: those assigned again go on where they were (no restoration), the others
    /// close then. Meanwhile their stores still answer queries.
    suspended: BTreeMap<TaskId, Task>,
    waiting_since: HashMap<TaskId, Instant>,
    pacing: Pacing,
    /// Input partitions paused because their task's buffer of them is full.
    full: BTreeSet<(String, i32)>,
    restorer: Restorer,
    global: Option<GlobalReplica>,
    exactly_once: bool,
    metrics: Arc<Metrics>,
    /// The partition counts of the cluster's topics, for the sinks' stream partitioners.
    partition_counts: Arc<HashMap<String, i32>>,
    /// Which task directories the instance's threads hold (the state cleaner spares them).
    dirs: Arc<TaskDirectories>,
}

impl ActiveTasks {
    pub(crate) fn new(
        topology: Arc<Topology>,
        config: StreamsConfig,
        subtopology_of: Arc<HashMap<String, u32>>,
        restorer: Restorer,
        global: Option<GlobalReplica>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let exactly_once =
            config.processing_guarantee_value() == crate::config::ProcessingGuarantee::ExactlyOnce;
        Self {
            cache: CacheBudget::new(config.cache_max_bytes_value()),
            topology,
            config,
            subtopology_of,
            matched: HashMap::new(),
            patterns: None,
            tasks: BTreeMap::new(),
            restoring: BTreeMap::new(),
            suspended: BTreeMap::new(),
            waiting_since: HashMap::new(),
            pacing: Pacing::default(),
            full: BTreeSet::new(),
            restorer,
            global,
            exactly_once,
            metrics,
            partition_counts: Arc::default(),
            dirs: Arc::default(),
        }
    }

    /// Gives the tasks the partition counts of the cluster's topics (for stream partitioners).
    pub(crate) fn with_partition_counts(mut self, counts: Arc<HashMap<String, i32>>) -> Self {
        self.partition_counts = counts;
        self
    }

    /// Shares the instance's record of held task directories (for the state cleaner).
    pub(crate) fn with_task_directories(mut self, dirs: Arc<TaskDirectories>) -> Self {
        self.dirs = dirs;
        self
    }

    /// The ids of the tasks this thread runs (restoring or processing).
    pub(crate) fn ids(&self) -> Vec<TaskId> {
        self.tasks
            .keys()
            .chain(self.restoring.keys())
            .copied()
            .collect()
    }

    /// The tasks that process (restored).
    pub(crate) fn running(&self) -> impl Iterator<Item = &Task> {
        self.tasks.values()
    }

    /// The sub-topology that reads `topic`: by name, or by the source pattern it matches.
    fn subtopology(&mut self, topic: &str) -> Option<u32> {
        if let Some(&id) = self.subtopology_of.get(topic).or(self.matched.get(topic)) {
            return Some(id);
        }
        let names = &self.subtopology_of;
        let patterns = self
            .patterns
            .get_or_insert_with(|| pattern::compile(names.keys().map(String::as_str)));
        let id = *names.get(pattern::matching(patterns, topic)?)?;
        self.matched.insert(topic.to_owned(), id);
        Some(id)
    }

    /// Whether any task is still restoring.
    pub(crate) fn is_restoring(&self) -> bool {
        !self.restoring.is_empty()
    }

    /// Creates the tasks of `assignment` that do not exist yet; they restore (see
    /// [`restore_step`](Self::restore_step)) before they process. Returns their input
    /// partitions, for the consumer to pause meanwhile.
    pub(crate) fn assign(
        &mut self,
        assignment: &TopicPartitionList,
    ) -> Result<TopicPartitionList, RuntimeError> {
        let mut inputs: BTreeMap<TaskId, TopicPartitionList> = BTreeMap::new();
        for e in assignment.elements() {
            if let Some(subtopology) = self.subtopology(e.topic()) {
                let id = TaskId {
                    subtopology,
                    partition: e.partition(),
                };
                inputs
                    .entry(id)
                    .or_default()
                    .add_partition(e.topic(), e.partition());
            }
        }
        let mut paused = TopicPartitionList::new();
        for (id, partitions) in inputs {
            if let Some(task) = self.suspended.remove(&id) {
                tracing::debug!(task = %id, "task resumed");
                self.tasks.insert(id, task);
                continue;
            }
            if self.tasks.contains_key(&id) || self.restoring.contains_key(&id) {
                continue;
            }
            let (task, progress) = self
                .open_and_plan(id)
                .inspect_err(|_| self.dirs.release(id))?;
            for e in partitions.elements() {
                paused.add_partition(e.topic(), e.partition());
            }
            self.restoring.insert(
                id,
                Restoring {
                    task,
                    progress,
                    inputs: partitions,
                },
            );
        }
        self.close_suspended();
        Ok(paused)
    }

    /// Restores the first restoring task for about `slice`. A task that is done is
    /// initialized and starts processing: its input partitions are returned, to resume.
    pub(crate) fn restore_step(
        &mut self,
        slice: Duration,
    ) -> Result<TopicPartitionList, RuntimeError> {
        let Some(mut entry) = self.restoring.first_entry() else {
            return Ok(TopicPartitionList::new());
        };
        let restoring = entry.get_mut();
        if !self
            .restorer
            .resume(&mut restoring.task, &mut restoring.progress, slice)?
        {
            return Ok(TopicPartitionList::new());
        }
        let (id, mut done) = entry.remove_entry();
        self.metrics.add_restored(done.progress.restored);
        done.task.init()?;
        tracing::debug!(task = %id, restored = done.progress.restored, "task restored");
        self.tasks.insert(id, done.task);
        Ok(done.inputs)
    }

    /// Opens the task `id` and plans its restoration. Local state that its changelog
    /// cannot vouch for is wiped first, and the task restores from the changelog alone.
    fn open_and_plan(&mut self, id: TaskId) -> Result<(Task, Progress), RuntimeError> {
        let mut task = self.open(id)?;
        if let Plan::Corrupted(reason) = self.restorer.plan(&task)? {
            tracing::warn!(task = %id, %reason, "local state does not fit its changelog: wiping it");
            task.close();
            drop(task);
            // Opening it again holds its directory again.
            self.dirs.release(id);
            if let Err(e) = self.wipe(id) {
                let dir = self.config.task_dir(id);
                let reason = format!("{reason}; wiping {} failed: {e}", dir.display());
                return Err(RuntimeError::CorruptedState { task: id, reason });
            }
            task = self.open(id)?;
        }
        match self.restorer.plan(&task)? {
            Plan::Restore(progress) => Ok((task, progress)),
            // Without a checkpoint every partition restores from its start.
            Plan::Corrupted(reason) => Err(RuntimeError::CorruptedState { task: id, reason }),
        }
    }

    /// Deletes the local state of task `id` (its directory), if it has any.
    fn wipe(&self, id: TaskId) -> std::io::Result<()> {
        match std::fs::remove_dir_all(self.config.task_dir(id)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    fn open(&mut self, id: TaskId) -> Result<Task, RuntimeError> {
        self.dirs.hold(id);
        let dir = self.config.task_dir(id);
        let checkpoint = dir.join(CHECKPOINT_FILE);
        if self.exactly_once && !checkpoint.exists() {
            // No clean close wrote a checkpoint: the local state may hold writes of an
            // aborted transaction, so it is rebuilt from the (committed) changelog.
            let _ = self.wipe(id);
        }
        let started = Instant::now();
        let mut task = loop {
            match self.topology.create_task_sharing_cache(
                id.subtopology,
                id.partition,
                &self.config,
                &self.cache,
            ) {
                Err(StreamsError::Store(e))
                    if matches!(*e, StoreError::Locked { .. }) && started.elapsed() < LOCK_WAIT =>
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                other => break other?,
            }
        };
        if self.exactly_once {
            // Only a clean close writes it again.
            let _ = std::fs::remove_file(&checkpoint);
        }
        if let Some(global) = &self.global {
            task.attach_global_stores(global.task());
        }
        task.set_partition_counts(Arc::clone(&self.partition_counts));
        Ok(task)
    }

    /// Runs `f` on the store `name` of every task that has it, typed as `S`.
    pub(crate) fn query<S: Clone + 'static, R>(
        &self,
        name: &str,
        f: &dyn Fn(&S) -> Result<R, crate::StateError>,
    ) -> Result<Vec<R>, RuntimeError> {
        let mut results = Vec::new();
        let tasks = self.tasks.values().chain(self.suspended.values());
        for task in tasks.filter(|t| t.has_store(name)) {
            let store: S = task.store(name)?;
            results.push(f(&store).map_err(StreamsError::from)?);
        }
        Ok(results)
    }

    /// Buffers a consumed record in its task.
    pub(crate) fn add(&mut self, message: &BorrowedMessage<'_>) -> Result<(), RuntimeError> {
        let Some(subtopology) = self.subtopology(message.topic()) else {
            return Ok(());
        };
        let id = TaskId {
            subtopology,
            partition: message.partition(),
        };
        let task = match self.tasks.get_mut(&id) {
            Some(task) => Some(task),
            None => self.restoring.get_mut(&id).map(|r| &mut r.task),
        };
        let Some(task) = task else {
            tracing::warn!(task = %id, "a record for a task this thread does not run");
            return Ok(());
        };
        Ok(task.add_records(message.topic(), [raw_record(message)])?)
    }

    /// The input partitions whose task still holds `buffered_records_per_partition` records
    /// or more after processing (it is held back, or slower than its input): the thread
    /// pauses them until [`drained`](Self::drained) gives them back. Only then: librdkafka
    /// drops what it fetched for a paused partition and refetches it only after its next
    /// fetch round (up to `fetch.wait.max.ms`), so pausing a partition that merely arrived in
    /// a large batch cut a backlog's throughput a hundredfold.
    pub(crate) fn newly_full(&mut self) -> TopicPartitionList {
        let cap = self.config.buffered_records_per_partition_value();
        let mut full = TopicPartitionList::new();
        for (id, task) in &self.tasks {
            for (topic, buffered) in task.buffered_inputs() {
                if buffered >= cap && self.full.insert((topic.to_owned(), id.partition)) {
                    full.add_partition(topic, id.partition);
                }
            }
        }
        full
    }

    /// The paused full partitions whose task has processed half its buffer (those of
    /// restoring tasks stay paused: restoration resumes them): to resume. Half, not one
    /// record: resuming refetches what pausing discarded, so it should not happen per record.
    pub(crate) fn drained(&mut self) -> TopicPartitionList {
        let cap = self.config.buffered_records_per_partition_value() / 2;
        let mut drained = TopicPartitionList::new();
        self.full.retain(|(topic, partition)| {
            let known = self.subtopology_of.get(topic).or(self.matched.get(topic));
            let id = known.map(|&subtopology| TaskId {
                subtopology,
                partition: *partition,
            });
            let below = id
                .and_then(|id| self.tasks.get(&id))
                .is_some_and(|task| task.buffered_on(topic) < cap);
            if below {
                drained.add_partition(topic, *partition);
            }
            !below
        });
        drained
    }

    /// Whether any task has records waiting.
    pub(crate) fn has_buffered(&self) -> bool {
        self.tasks.values().any(|t| t.buffered() > 0)
    }

    /// Processes up to `max_per_task` records per task that may go on (all its inputs
    /// buffered, or it has waited `max.task.idle` for the empty ones), sending what they
    /// produce. Returns the number of records processed.
    ///
    /// The tasks' records are processed in event-time order across tasks, a turn at a time:
    /// the task with the earliest next record goes until its next record is later than
    /// another task's (or [`TURN`] records). Tasks that feed one downstream task through a
    /// repartition topic then advance together, and the downstream task receives their
    /// records interleaved by time. Processing each task's batch in turn instead would hand
    /// it one task's whole batch, then the other's, older one: on a backlog, where a batch
    /// spans more event time than the grace, that made on-time records late.
    ///
    /// A sub-topology whose tasks wait for records on their way is paced (see
    /// [`Pacing`]): `lagging(topic, partition)` says whether an empty input partition has
    /// more records on the broker.
    pub(crate) fn process(
        &mut self,
        collector: &mut RecordCollector,
        max_per_task: usize,
        lagging: &dyn Fn(&str, i32) -> bool,
    ) -> Result<u64, RuntimeError> {
        let idle = self.config.max_task_idle_value();
        let now = wall_clock();
        let patience = idle.max(PACING_PATIENCE);
        let mut limits = self.pacing.limits(&self.tasks, lagging, patience);
        let limit = |limits: &HashMap<u32, Timestamp>, id: &TaskId| {
            limits
                .get(&id.subtopology)
                .copied()
                .unwrap_or(Timestamp::MAX)
        };
        let mut ready = BinaryHeap::new();
        for (id, task) in &mut self.tasks {
            let Some(next) = task.next_timestamp() else {
                self.waiting_since.remove(id);
                continue;
            };
            if !task.all_partitions_buffered() && !idle.is_zero() {
                let since = self.waiting_since.entry(*id).or_insert_with(Instant::now);
                if since.elapsed() < idle {
                    continue;
                }
            }
            self.waiting_since.remove(id);
            if next > limit(&limits, id) {
                continue;
            }
            task.set_wall_clock(now);
            ready.push(Reverse((next, *id)));
        }
        let budget = max_per_task * ready.len();
        let mut processed = 0;
        while processed < budget {
            let Some(Reverse((next, id))) = ready.pop() else {
                break;
            };
            // A sibling that ran dry since this task was queued may hold it back now.
            if next > limit(&limits, &id) {
                continue;
            }
            let until = ready
                .peek()
                .map_or(Timestamp::MAX, |Reverse((t, _))| *t)
                .min(limit(&limits, &id));
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            let _span = tracing::debug_span!("process", task = %id).entered();
            let mut turn = 0;
            let before = task.metrics();
            while turn < TURN && processed + turn < budget {
                let more = task.process_next().inspect_err(|_| {
                    self.metrics.add_task_counts(&before, &task.metrics());
                })?;
                if !more {
                    break;
                }
                turn += 1;
                match task.next_timestamp() {
                    Some(next) if next <= until => {}
                    _ => break,
                }
            }
            processed += turn;
            self.metrics.add_task_counts(&before, &task.metrics());
            send_output(task, collector)?;
            match task.next_timestamp() {
                Some(next) => {
                    if next <= limit(&limits, &id) {
                        ready.push(Reverse((next, id)));
                    }
                }
                // It ran dry: where its partitions have more on the broker, its siblings
                // wait for them at its partitions' time, as if it had been dry when the
                // call began (else one sibling's turn runs seconds of event time ahead).
                None => {
                    for (_, topic, time) in task.empty_inputs() {
                        if lagging(topic, id.partition) {
                            let held = limits.entry(id.subtopology).or_insert(time);
                            *held = (*held).min(time);
                        }
                    }
                }
            }
        }
        self.metrics.add_processed(processed as u64);
        Ok(processed as u64)
    }

    /// The source topics with an offset reset policy of their own, by resolved name.
    pub(crate) fn offset_resets(&self) -> HashMap<String, crate::OffsetReset> {
        self.topology
            .offset_resets(self.config.application_id())
            .into_iter()
            .collect()
    }

    /// Whether a processor of some task asked for a commit since the last call (clearing
    /// every task's request).
    pub(crate) fn take_commit_requests(&mut self) -> bool {
        // Every task's request is taken, not only the first one's.
        let mut requested = false;
        for task in self.tasks.values_mut() {
            requested |= task.take_commit_request();
        }
        requested
    }

    /// Fires the wall-clock punctuations that are due, sending what they produce. Returns
    /// whether any fired.
    pub(crate) fn punctuate(
        &mut self,
        collector: &mut RecordCollector,
    ) -> Result<bool, RuntimeError> {
        let now = wall_clock();
        let mut fired = false;
        for task in self.tasks.values_mut() {
            if task.punctuate_wall_clock(now)? {
                fired = true;
                send_output(task, collector)?;
            }
        }
        Ok(fired)
    }

    /// Applies the rules for quiet inputs (see [`crate::quiet`]) to the running tasks at the
    /// wall-clock time, sending what the tasks whose watermark rose produce. The tasks of
    /// this thread are the ones a quiet task may follow.
    pub(crate) fn advance_quiet(
        &mut self,
        collector: &mut RecordCollector,
    ) -> Result<(), RuntimeError> {
        let rules = self.config.quiet_inputs();
        if !rules.enabled() {
            return Ok(());
        }
        let now = wall_clock();
        let mut tasks: Vec<&mut Task> = self.tasks.values_mut().collect();
        for task in &mut tasks {
            task.set_wall_clock(now);
        }
        let raised = crate::quiet::advance_quiet_tasks(&mut tasks, now, &rules)?;
        for i in raised {
            send_output(tasks[i], collector)?;
        }
        Ok(())
    }

    /// Applies what arrived on the global topics.
    pub(crate) fn update_global(&mut self) -> Result<(), RuntimeError> {
        if let Some(global) = &mut self.global {
            global.update(Duration::ZERO)?;
        }
        Ok(())
    }

    /// The first step of a commit: flushes every task's caches and sends what that produces.
    /// Returns the input offsets to commit.
    pub(crate) fn flush(
        &mut self,
        collector: &mut RecordCollector,
    ) -> Result<TopicPartitionList, RuntimeError> {
        let mut offsets = TopicPartitionList::new();
        for (id, task) in &mut self.tasks {
            task.flush_caches()?;
            send_output(task, collector)?;
            for (topic, offset) in task.consumed_offsets() {
                offsets
                    .add_partition_offset(topic, id.partition, Offset::Offset(offset))
                    .map_err(RuntimeError::kafka("build the offsets to commit"))?;
            }
        }
        Ok(offsets)
    }

    /// The last step of a commit, once outputs and offsets are durable: flushes the stores
    /// and (at-least-once) writes the checkpoints.
    pub(crate) fn committed(&mut self, collector: &RecordCollector) -> Result<(), RuntimeError> {
        for task in self.tasks.values_mut() {
            let offsets: Vec<(String, i64)> = task
                .changelog_partitions()
                .into_iter()
                .filter_map(|c| {
                    collector
                        .changelog_offset(&c.topic, c.partition)
                        .map(|o| (c.topic, o))
                })
                .collect();
            if self.exactly_once {
                task.prepare_commit(offsets)?;
            } else {
                task.commit(offsets)?;
            }
        }
        Ok(())
    }

    /// The tasks that read any of `partitions`.
    pub(crate) fn ids_of(&self, partitions: &TopicPartitionList) -> BTreeSet<TaskId> {
        partitions
            .elements()
            .iter()
            .filter_map(|e| {
                let subtopology = *self.subtopology_of.get(e.topic())?;
                Some(TaskId {
                    subtopology,
                    partition: e.partition(),
                })
            })
            .collect()
    }

    /// Partitions are revoked, after a successful commit: restoring tasks close (keeping
    /// what they restored, checkpointed); processing tasks are suspended with a checkpoint,
    /// their unprocessed input dropped (the consumer fetches it again from the committed
    /// offsets), until [`assign`](Self::assign) resumes or closes them.
    pub(crate) fn suspend_clean(&mut self) {
        let processing = std::mem::take(&mut self.tasks);
        self.close_clean();
        for (id, mut task) in processing {
            if let Err(error) = task.write_checkpoint() {
                tracing::warn!(task = %id, %error, "could not write a checkpoint");
            }
            task.drop_buffered();
            self.suspended.insert(id, task);
        }
    }

    /// Closes the suspended tasks (they were committed and checkpointed when suspended).
    fn close_suspended(&mut self) {
        for (id, mut task) in std::mem::take(&mut self.suspended) {
            task.close();
            self.dirs.release(id);
        }
    }

    /// Closes every task after a successful commit, keeping its state on disk (with a
    /// checkpoint) for a quick return.
    pub(crate) fn close_clean(&mut self) {
        self.close_suspended();
        self.close_clean_where(|_| true);
    }

    /// Closes the tasks that `leaving` selects after a successful commit, as
    /// [`close_clean`](Self::close_clean) closes all (a cooperative rebalance revokes some).
    pub(crate) fn close_clean_where(&mut self, leaving: impl Fn(TaskId) -> bool) {
        // A restoring task keeps what it restored so far: flushed, then checkpointed.
        for (id, mut restoring) in take_where(&mut self.restoring, &leaving) {
            if let Err(error) = restoring.task.flush() {
                tracing::warn!(task = %id, %error, "could not flush a restoring task");
                restoring.task.close();
                self.dirs.release(id);
                continue;
            }
            self.tasks.insert(id, restoring.task);
        }
        for (id, mut task) in take_where(&mut self.tasks, &leaving) {
            if let Err(error) = task.write_checkpoint() {
                tracing::warn!(task = %id, %error, "could not write a checkpoint");
            }
            task.close();
            self.dirs.release(id);
        }
        self.forget_where(&leaving);
    }

    /// Drops what the thread keeps beside the tasks that `closed` selects.
    fn forget_where(&mut self, closed: &impl Fn(TaskId) -> bool) {
        self.waiting_since.retain(|id, _| !closed(*id));
        self.pacing.forget_where(closed);
        let subtopology_of = &self.subtopology_of;
        self.full.retain(|(topic, partition)| {
            subtopology_of.get(topic).is_none_or(|&subtopology| {
                !closed(TaskId {
                    subtopology,
                    partition: *partition,
                })
            })
        });
    }

    /// Closes every task without committing. Under exactly-once their local state is wiped
    /// (it may be ahead of the committed changelog); at-least-once keeps it, since replaying
    /// from the last committed offsets only applies records again.
    pub(crate) fn close_dirty(&mut self) {
        self.close_suspended();
        self.close_dirty_where(|_| true);
    }

    /// Closes the tasks that `leaving` selects without committing, as
    /// [`close_dirty`](Self::close_dirty) closes all.
    pub(crate) fn close_dirty_where(&mut self, leaving: impl Fn(TaskId) -> bool) {
        let restoring = take_where(&mut self.restoring, &leaving).into_iter();
        let all = take_where(&mut self.tasks, &leaving)
            .into_iter()
            .chain(restoring.map(|(id, r)| (id, r.task)));
        for (id, mut task) in all {
            task.close();
            if self.exactly_once {
                let _ = self.wipe(id);
            }
            self.dirs.release(id);
        }
        self.forget_where(&leaving);
    }
}

/// Takes the entries of `map` whose task `which` selects out of it.
fn take_where<V>(
    map: &mut BTreeMap<TaskId, V>,
    which: &impl Fn(TaskId) -> bool,
) -> Vec<(TaskId, V)> {
    let ids: Vec<TaskId> = map.keys().copied().filter(|id| which(*id)).collect();
    ids.into_iter()
        .filter_map(|id| map.remove(&id).map(|v| (id, v)))
        .collect()
}

fn send_output(task: &mut Task, collector: &mut RecordCollector) -> Result<(), RuntimeError> {
    let mut result = Ok(());
    task.drain_output_with(|record| {
        if result.is_ok() {
            result = collector.send(record);
        }
    });
    result
}

fn wall_clock() -> crate::Timestamp {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
