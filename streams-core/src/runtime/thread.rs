//! A stream thread: a plain OS thread with one group consumer, one producer and the tasks of
//! the partitions the group assigns it. It polls in batches, processes, punctuates and
//! commits; rebalances commit and close the tasks that leave and restore the ones that come.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::client_log;
use super::collector::{RecordCollector, SendFailures, SendInterceptor};
use super::global::GlobalReplica;
use super::metrics::ThreadRecorder;
use super::purge::RepartitionPurge;
use super::restore::Restorer;
use super::restore_listener::StateRestoreListener;
use super::shared::{ErrorResponse, Phase, Shared};
use super::tasks::ActiveTasks;
use super::{clients, control, offset_reset, RuntimeError};
use crate::config::ProcessingGuarantee;
use crate::{StreamsConfig, TaskId, Topology};

/// Records taken from the consumer per poll round, at most.
const POLL_BATCH: usize = 2_000;
/// Records a task processes per round, at most, so that every task and the commit timer get
/// their turn.
const PROCESS_BATCH: usize = 2_000;
/// How long restoration runs between two polls of the group consumer.
const RESTORE_SLICE: Duration = Duration::from_millis(200);
/// How long an idle thread waits in poll.
const IDLE_POLL: Duration = Duration::from_millis(50);
/// Pause before a replaced thread starts again, so a persistent error does not spin: it
/// doubles with each failure in a row, up to [`MAX_REPLACE_BACKOFF`].
const REPLACE_BACKOFF: Duration = Duration::from_millis(500);
/// The longest pause before a replaced thread starts again.
const MAX_REPLACE_BACKOFF: Duration = Duration::from_secs(30);
/// A thread that ran this long before it failed starts the back-off afresh.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// The pause before the replacement of a thread that failed `failures` times in a row.
fn replace_backoff(failures: u32) -> Duration {
    REPLACE_BACKOFF
        .saturating_mul(1 << failures.saturating_sub(1).min(16))
        .min(MAX_REPLACE_BACKOFF)
}

/// What a stream thread is started with.
#[derive(Clone)]
pub(crate) struct ThreadSetup {
    pub(crate) index: usize,
    pub(crate) instance_id: String,
    pub(crate) topology: Arc<Topology>,
    pub(crate) config: StreamsConfig,
    pub(crate) shared: Arc<Shared>,
    pub(crate) source_topics: Vec<String>,
    pub(crate) subtopology_of: Arc<HashMap<String, u32>>,
    pub(crate) interceptor: Option<Arc<dyn SendInterceptor>>,
    /// The partition counts of the cluster's topics at start-up, for stream partitioners.
    pub(crate) partition_counts: Arc<HashMap<String, i32>>,
    pub(crate) restore_listener: Arc<dyn StateRestoreListener>,
}

/// Runs a stream thread until shutdown, replacing it after errors if the policy says so.
pub(crate) fn run(setup: ThreadSetup) {
    let mut failures = 0u32;
    loop {
        let started = Instant::now();
        match run_once(&setup) {
            Ok(()) => break,
            Err(error) => {
                if started.elapsed() >= HEALTHY_RUN {
                    failures = 0;
                }
                failures = failures.saturating_add(1);
                tracing::error!(thread = setup.index, %error, failures, "stream thread failed");
                if setup.shared.shutting_down() || setup.shared.retired(setup.index) {
                    break;
                }
                match setup.shared.on_thread_error(&error) {
                    ErrorResponse::ReplaceThread => {
                        setup.shared.metrics.add_replaced_thread();
                        setup.shared.set_phase(setup.index, Phase::Rebalancing);
                        let backoff = replace_backoff(failures);
                        tracing::warn!(
                            thread = setup.index,
                            ?backoff,
                            failures,
                            "replacing the stream thread after a pause"
                        );
                        let until = Instant::now() + backoff;
                        while Instant::now() < until && !setup.shared.shutting_down() {
                            std::thread::sleep(Duration::from_millis(50).min(backoff));
                        }
                    }
                    ErrorResponse::ShutdownClient => break,
                    ErrorResponse::ShutdownApplication => {
                        if let Err(e) = control::request_shutdown(&setup.config, &error.to_string())
                        {
                            tracing::error!(error = %e, "could not ask the other instances to shut down");
                        }
                        break;
                    }
                }
            }
        }
    }
    setup.shared.set_phase(setup.index, Phase::Dead);
}

/// The state that the rebalance callback needs: it runs inside `poll`, on this thread.
struct ThreadState {
    tasks: ActiveTasks,
    collector: RecordCollector,
    producer_config: rdkafka::ClientConfig,
    interceptor: Option<Arc<dyn SendInterceptor>>,
    send_failures: SendFailures,
    exactly_once: bool,
    index: usize,
    /// An error raised inside a callback, for the loop to act on.
    failure: Option<RuntimeError>,
    /// The thread's metrics.
    recorder: ThreadRecorder,
    /// The input positions of this thread's last successful commit, by topic and partition:
    /// where a rewind goes back to (they equal what the group has committed, without asking
    /// the broker; the mock cluster, for one, does not keep transactional offset commits).
    committed: HashMap<(String, i32), i64>,
    /// Deletes what the committed offsets leave behind in repartition topics.
    purge: RepartitionPurge,
    shared: Arc<Shared>,
}

thread_local! {
    /// The running thread's state, reachable from the consumer's rebalance callback.
    static CURRENT: RefCell<Option<Rc<RefCell<ThreadState>>>> = const { RefCell::new(None) };
}

/// Clears [`CURRENT`] when the thread's run ends, however it ends.
struct CurrentGuard;

impl Drop for CurrentGuard {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().take());
    }
}

fn with_current(f: impl FnOnce(&mut ThreadState)) {
    let Some(state) = CURRENT.with(|c| c.borrow().clone()) else {
        return;
    };
    match state.try_borrow_mut() {
        Ok(mut state) => f(&mut state),
        Err(_) => tracing::error!("a rebalance callback ran while the thread state was in use"),
    };
}

/// Stops routing queries to the thread when its run ends, however it ends.
struct QueryRoute<'a>(&'a Shared, usize);

impl Drop for QueryRoute<'_> {
    fn drop(&mut self) {
        self.0.queries.close(self.1);
    }
}

/// The consumer's context: commits and closes tasks on revocation, creates and restores
/// them on assignment.
struct RebalanceListener {
    shared: Arc<Shared>,
    index: usize,
}

impl ClientContext for RebalanceListener {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        // An offset reset after an error means the broker no longer has the records the
        // group's position pointed at: they were never processed. Say so loudly.
        if fac == "OFFSET" && client_log::is_problem(level) && log_message.contains("offset reset")
        {
            tracing::error!(
                thread = self.index,
                reason = log_message,
                "input records were lost: the broker no longer had the offsets to read from \
                 (retention, a recreated topic, or the embedded cluster's limit of 100,000 \
                 records per partition), and the consumer resumed where its reset policy says"
            );
            return;
        }
        client_log::forward(level, fac, log_message);
    }
}

impl ConsumerContext for RebalanceListener {
    /// rdkafka's rebalance (our consumers use the range assignor), with the start offsets of
    /// an assignment's partitions set by their sources' offset reset policies first: eager
    /// under the classic protocol (everything is revoked, then everything assigned), and
    /// incremental under KIP-848's (only what moves is revoked or assigned).
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        assignment: &mut TopicPartitionList,
    ) {
        if err == RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS {
            with_current(|state| {
                let resets = state.tasks.offset_resets();
                if let Err(error) = offset_reset::apply(consumer, &resets, assignment) {
                    let error = RuntimeError::kafka("apply the offset reset policies")(error);
                    state.failure.get_or_insert(error);
                }
            });
        }
        let rebalance = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => Rebalance::Assign(assignment),
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => Rebalance::Revoke(assignment),
            _ => Rebalance::Error(KafkaError::Rebalance(err.into())),
        };
        if let Rebalance::Assign(partitions) | Rebalance::Revoke(partitions) = &rebalance {
            if partitions.count() > 0 {
                self.shared.metrics.add_rebalance();
            }
        }
        self.pre_rebalance(consumer, &rebalance);
        let done = match (&rebalance, incremental(consumer)) {
            (Rebalance::Assign(assignment), false) => consumer.assign(assignment),
            (Rebalance::Assign(assignment), true) => consumer.incremental_assign(assignment),
            (Rebalance::Revoke(revoked), true) => consumer.incremental_unassign(revoked),
            _ => consumer.unassign(),
        };
        if let Err(error) = done {
            tracing::error!(%error, "the rebalance's assignment failed");
        }
        self.post_rebalance(consumer, &rebalance);
    }

    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(revoked) => {
                let _span = tracing::info_span!(
                    "rebalance", thread = self.index, revoked = ?partitions(revoked)
                )
                .entered();
                if incremental(consumer) {
                    // The tasks that stay keep processing: the thread goes on running.
                    with_current(|state| state.revoke(consumer, Some(revoked)));
                } else {
                    self.shared.set_phase(self.index, Phase::Rebalancing);
                    with_current(|state| state.revoke(consumer, None));
                }
            }
            // New tasks restore before they process, as after an eager rebalance.
            Rebalance::Assign(assignment) if assignment.count() > 0 => {
                self.shared.set_phase(self.index, Phase::Rebalancing);
            }
            _ => {}
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(assignment) => {
                let _span = tracing::info_span!(
                    "rebalance", thread = self.index, assigned = ?partitions(assignment)
                )
                .entered();
                let mut restoring = false;
                with_current(|state| {
                    if let Err(error) = state.assign(consumer, assignment) {
                        state.failure.get_or_insert(error);
                    }
                    restoring = state.tasks.is_restoring();
                    tracing::info!(tasks = ?state.tasks.ids(), "partitions assigned");
                });
                if !restoring {
                    self.shared.set_phase(self.index, Phase::Running);
                }
            }
            Rebalance::Revoke(_) => {}
            Rebalance::Error(error) => tracing::warn!(%error, "rebalance error"),
        }
    }
}

impl ThreadState {
    /// Creates the tasks of `assignment`, pausing their inputs until they are restored.
    fn assign<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        assignment: &TopicPartitionList,
    ) -> Result<(), RuntimeError> {
        let paused = self.tasks.assign(assignment)?;
        if paused.count() > 0 {
            consumer
                .pause(&paused)
                .map_err(RuntimeError::kafka("pause restoring partitions"))?;
        }
        Ok(())
    }

    /// Restores for one slice; resumes the inputs of tasks that are done, and reports the
    /// thread running once none is left.
    fn restore<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), RuntimeError> {
        let ready = self.tasks.restore_step(RESTORE_SLICE)?;
        if ready.count() > 0 {
            consumer
                .resume(&ready)
                .map_err(RuntimeError::kafka("resume restored partitions"))?;
        }
        if !self.tasks.is_restoring() {
            self.shared.set_phase(self.index, Phase::Running);
        }
        Ok(())
    }

    /// Commits the tasks' work: outputs and changelogs durable (or the transaction
    /// committed), then input offsets, then checkpoints.
    fn commit<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), RuntimeError> {
        let _span = tracing::debug_span!("commit", thread = self.index).entered();
        let started = Instant::now();
        let offsets = self.tasks.flush(&mut self.collector)?;
        let offsets = self.changed(offsets)?;
        if self.exactly_once {
            let group = consumer
                .group_metadata()
                .ok_or_else(|| RuntimeError::Send {
                    topic: String::new(),
                    reason: "the consumer has no group metadata".into(),
                })?;
            self.collector.commit_transaction(&offsets, &group)?;
        } else {
            self.collector.flush()?;
            if offsets.count() > 0 {
                consumer
                    .commit(&offsets, CommitMode::Sync)
                    .map_err(RuntimeError::kafka("commit offsets"))?;
            }
        }
        self.tasks.committed(&self.collector)?;
        for e in offsets.elements() {
            if let Offset::Offset(o) = e.offset() {
                self.committed
                    .insert((e.topic().to_owned(), e.partition()), o);
            }
        }
        self.collector.committed();
        self.purge.after_commit(&self.committed);
        self.shared.metrics.add_commit();
        self.recorder.commit(started.elapsed());
        Ok(())
    }

    /// Publishes the thread's metrics (see [`ThreadRecorder::publish`]).
    fn publish<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>, force: bool) {
        let positions = std::cell::OnceCell::new();
        let lag = |topic: &str, partition: i32| {
            let positions = positions.get_or_init(|| consumer.position().ok());
            let (_, high) = cached_watermarks(consumer, topic, partition)?;
            let position = positions
                .as_ref()?
                .find_partition(topic, partition)?
                .offset()
                .to_raw()
                .filter(|&p| p >= 0)?;
            Some((high - position).max(0))
        };
        self.recorder
            .publish(self.tasks.running(), &lag, &self.shared.published, force);
    }

    /// The offsets of `offsets` that moved since this thread's last commit: an idle thread
    /// commits nothing (and under exactly-once opens no transaction).
    fn changed(&self, offsets: TopicPartitionList) -> Result<TopicPartitionList, RuntimeError> {
        let mut changed = TopicPartitionList::new();
        for e in offsets.elements() {
            let last = self.committed.get(&(e.topic().to_owned(), e.partition()));
            if let Offset::Offset(o) = e.offset() {
                if last != Some(&o) {
                    changed
                        .add_partition_offset(e.topic(), e.partition(), Offset::Offset(o))
                        .map_err(RuntimeError::kafka("build the offsets to commit"))?;
                }
            }
        }
        Ok(changed)
    }

    /// Partitions are leaving: commit, then (eager) suspend every task, which the assignment
    /// that follows resumes if it stays and closes if not, or (incremental) close the tasks
    /// of the revoked partitions. If the commit fails, those tasks close dirty.
    fn revoke<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        revoked: Option<&TopicPartitionList>,
    ) {
        // Eager: every task leaves. Incremental: those of the revoked partitions only; the
        // commit still covers all, which is allowed and keeps one commit path.
        let leaving = revoked.map(|r| self.tasks.ids_of(r));
        let leaves = |id: TaskId| leaving.as_ref().is_none_or(|l| l.contains(&id));
        let gone: HashSet<(String, i32)> = revoked.map_or_else(HashSet::new, |r| {
            r.elements()
                .iter()
                .map(|e| (e.topic().to_owned(), e.partition()))
                .collect()
        });
        let forget = |committed: &mut HashMap<(String, i32), i64>| match revoked {
            None => committed.clear(),
            Some(_) => committed.retain(|partition, _| !gone.contains(partition)),
        };
        if self.failure.is_none() {
            match self.commit(consumer) {
                Ok(()) => {
                    match revoked {
                        None => self.tasks.suspend_clean(),
                        Some(_) => self.tasks.close_clean_where(leaves),
                    }
                    forget(&mut self.committed);
                    return;
                }
                Err(error) if migrated(&error) => {
                    tracing::warn!(%error, "commit on revocation refused: the tasks moved on");
                }
                Err(error) => {
                    tracing::warn!(%error, "commit on revocation failed");
                    self.failure = Some(error);
                }
            }
        }
        let _ = self.collector.abort();
        self.tasks.close_dirty_where(leaves);
        forget(&mut self.committed);
    }

    /// Exactly-once recovery: aborts the open transaction and rebuilds every task from the
    /// last commit (state from the committed changelog, input from the committed offsets).
    fn rewind<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), RuntimeError> {
        if let Err(error) = self.collector.abort() {
            // A fenced or fatally failed producer cannot abort: a new one (same
            // transactional id) aborts whatever the old one left open.
            tracing::warn!(%error, "abort failed; replacing the producer");
            self.collector = RecordCollector::new(
                &self.producer_config,
                self.interceptor.clone(),
                self.send_failures.clone(),
            )?;
        }
        self.tasks.close_dirty();
        let assignment = consumer
            .assignment()
            .map_err(RuntimeError::kafka("read the assignment"))?;
        let committed = consumer
            .committed_offsets(assignment.clone(), Duration::from_secs(10))
            .map_err(RuntimeError::kafka("read committed offsets"))?;
        for element in committed.elements() {
            let ours = self
                .committed
                .get(&(element.topic().to_owned(), element.partition()));
            let offset = match (ours, element.offset()) {
                (Some(&o), _) | (None, Offset::Offset(o)) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            consumer
                .seek(
                    element.topic(),
                    element.partition(),
                    offset,
                    Duration::from_secs(10),
                )
                .map_err(RuntimeError::kafka("seek to the committed offset"))?;
        }
        self.assign(consumer, &assignment)?;
        self.shared.metrics.add_rewind();
        tracing::warn!(tasks = ?self.tasks.ids(), "aborted the transaction and rebuilt the tasks");
        Ok(())
    }

    /// One round of work after a poll: global updates, processing, punctuation, and a
    /// commit when one is due.
    fn step<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        last_commit: &mut Instant,
        commit_interval: Duration,
    ) -> Result<(), RuntimeError> {
        if self.tasks.is_restoring() {
            self.restore(consumer)?;
        }
        self.tasks.update_global()?;
        if self.shared.paused() {
            // Paused: no processing and no punctuation; the thread polls on (it stays in the
            // group, buffers fill and then pause their partitions), restores and commits.
            return self.commit_if_due(consumer, last_commit, commit_interval);
        }
        // Read once per round, and only if some partition is empty.
        let positions = std::cell::OnceCell::new();
        let lagging = |topic: &str, partition: i32| {
            let positions = positions.get_or_init(|| consumer.position().ok());
            has_more(consumer, positions.as_ref(), topic, partition)
        };
        let started = Instant::now();
        let processed = self
            .tasks
            .process(&mut self.collector, PROCESS_BATCH, &lagging)?;
        self.recorder.process(processed, started.elapsed());
        let drained = self.tasks.drained();
        if drained.count() > 0 {
            consumer
                .resume(&drained)
                .map_err(RuntimeError::kafka("resume drained partitions"))?;
        }
        // Pausing also drops what librdkafka fetched beyond the buffer: the next polls bring
        // the other partitions' records.
        let full = self.tasks.newly_full();
        if full.count() > 0 {
            if let Err(error) = consumer.pause(&full) {
                tracing::warn!(%error, "could not pause a full partition");
            }
        }
        let started = Instant::now();
        if self.tasks.punctuate(&mut self.collector)? {
            self.recorder.punctuate(started.elapsed());
        }
        self.tasks.advance_quiet(&mut self.collector)?;
        self.commit_if_due(consumer, last_commit, commit_interval)
    }

    /// Commits if a processor asked for it or the commit interval has passed.
    fn commit_if_due<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        last_commit: &mut Instant,
        commit_interval: Duration,
    ) -> Result<(), RuntimeError> {
        let requested = self.tasks.take_commit_requests();
        if requested || last_commit.elapsed() >= commit_interval {
            self.commit(consumer)?;
            *last_commit = Instant::now();
            self.publish(consumer, true);
        } else {
            self.publish(consumer, false);
        }
        Ok(())
    }
}

/// `topic-partition` names of a partition list, for spans and logs.
fn partitions(list: &TopicPartitionList) -> Vec<String> {
    list.elements()
        .iter()
        .map(|e| format!("{}-{}", e.topic(), e.partition()))
        .collect()
}

/// Whether an empty input partition has more records on the broker than the consumer has
/// delivered, by librdkafka's watermarks from the last fetch response (no request): its
/// position (which moves past transaction markers and aborted records too) below the high
/// watermark. Before any response the first fetch is in flight: more may come. Before the
/// first record the position is unknown: a partition that holds records may have some
/// for us (pacing's patience bounds the wait if they were all consumed before).
fn has_more<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    positions: Option<&TopicPartitionList>,
    topic: &str,
    partition: i32,
) -> bool {
    let Some((low, high)) = cached_watermarks(consumer, topic, partition) else {
        return true;
    };
    let position = positions
        .and_then(|p| p.find_partition(topic, partition))
        .and_then(|e| e.offset().to_raw())
        .filter(|&position| position >= 0);
    match position {
        Some(position) => position < high,
        None => low < high,
    }
}

/// librdkafka's cached low and high watermarks of a partition
/// (`rd_kafka_get_watermark_offsets`, which rust-rdkafka does not wrap), or `None` before a
/// fetch response brought them.
fn cached_watermarks<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    partition: i32,
) -> Option<(i64, i64)> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` lives, `topic` is a
    // NUL-terminated string that outlives the call, and librdkafka only writes the two
    // i64s it is given, reading its own cache under its lock.
    let error = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (error == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some((low.max(0), high))
}

/// Whether the consumer's group rebalances incrementally (KIP-848's protocol).
fn incremental<C: ConsumerContext>(consumer: &BaseConsumer<C>) -> bool {
    matches!(
        consumer.rebalance_protocol(),
        rdkafka::consumer::RebalanceProtocol::Cooperative
    )
}

/// Whether `error` says the group has moved on (a rebalance started, or this member's
/// generation is over): the thread's tasks may already belong to another member, so they
/// close without committing and the thread waits for its new assignment.
fn migrated(error: &RuntimeError) -> bool {
    use rdkafka::error::KafkaError;
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error,
        RuntimeError::Kafka {
            source: KafkaError::ConsumerCommit(
                Code::RebalanceInProgress
                    | Code::IllegalGeneration
                    | Code::UnknownMemberId
                    | Code::FencedInstanceId
                    | Code::FencedMemberEpoch
                    | Code::StaleMemberEpoch
            ),
            ..
        }
    )
}

/// Whether exactly-once recovers from `error` by rewinding: producer and commit failures
/// do; processing errors go to the error policy.
fn rewindable(error: &RuntimeError) -> bool {
    matches!(
        error,
        RuntimeError::Send { .. } | RuntimeError::Kafka { .. }
    )
}

fn run_once(setup: &ThreadSetup) -> Result<(), RuntimeError> {
    let config = setup.config.clone();
    let exactly_once = config.processing_guarantee_value() == ProcessingGuarantee::ExactlyOnce;
    let name = format!(
        "{}-{}-thread-{}",
        config.application_id(),
        setup.instance_id,
        setup.index
    );
    let listener = RebalanceListener {
        shared: Arc::clone(&setup.shared),
        index: setup.index,
    };
    let consumer: BaseConsumer<RebalanceListener> =
        clients::group_consumer(&config, &name, setup.index)
            .create_with_context(listener)
            .map_err(RuntimeError::kafka("create the consumer"))?;
    let restorer = Restorer::new(
        clients::restore_consumer(&config, &format!("{name}-restore"))
            .create()
            .map_err(RuntimeError::kafka("create the restore consumer"))?,
        Arc::clone(&setup.restore_listener),
    );
    // Each thread's replica of the global stores lives in a directory of its own.
    let global_config = config.clone().state_dir(
        config
            .state_dir_path()
            .join(format!("global-{}", setup.index)),
    );
    let global = GlobalReplica::bootstrap(
        &setup.topology,
        &global_config,
        clients::global_consumer(&config, &format!("{name}-global"))
            .create()
            .map_err(RuntimeError::kafka("create the global consumer"))?,
    )?;
    let producer_config = clients::producer(
        &config,
        &name,
        &format!(
            "{}-{}-{}",
            config.application_id(),
            setup.instance_id,
            setup.index
        ),
    );
    let send_failures = SendFailures {
        handler: Arc::clone(config.production_exception_handler_ref()),
        metrics: Arc::clone(&setup.shared.metrics),
    };
    let collector = RecordCollector::new(
        &producer_config,
        setup.interceptor.clone(),
        send_failures.clone(),
    )?;
    let state = Rc::new(RefCell::new(ThreadState {
        tasks: ActiveTasks::new(
            Arc::clone(&setup.topology),
            config.clone(),
            Arc::clone(&setup.subtopology_of),
            restorer,
            global,
            Arc::clone(&setup.shared.metrics),
        )
        .with_partition_counts(Arc::clone(&setup.partition_counts))
        .with_task_directories(Arc::clone(&setup.shared.task_dirs)),
        collector,
        producer_config,
        interceptor: setup.interceptor.clone(),
        send_failures,
        exactly_once,
        index: setup.index,
        failure: None,
        recorder: ThreadRecorder::new(setup.index, name.clone()),
        committed: HashMap::new(),
        purge: RepartitionPurge::new(&config, &setup.topology),
        shared: Arc::clone(&setup.shared),
    }));
    CURRENT.with(|c| *c.borrow_mut() = Some(Rc::clone(&state)));
    let _guard = CurrentGuard;
    let topics: Vec<&str> = setup.source_topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(RuntimeError::kafka("subscribe"))?;

    let commit_interval = config.commit_interval_value();
    let mut last_commit = Instant::now();
    let queries = setup.shared.queries.open(setup.index);
    let _routes = QueryRoute(&setup.shared, setup.index);
    let result = loop {
        if setup.shared.shutting_down() || setup.shared.retired(setup.index) {
            break Ok(());
        }
        let _iteration = tracing::debug_span!("poll_loop", thread = %name).entered();
        let wait = if state.borrow().tasks.has_buffered() {
            Duration::ZERO
        } else {
            IDLE_POLL
        };
        // No borrow of the state may be held across poll: the rebalance callback needs it.
        let mut polled = 0;
        let mut failure = None;
        let poll_started = Instant::now();
        let mut blocked = Duration::ZERO;
        while polled < POLL_BATCH {
            let timeout = if polled == 0 { wait } else { Duration::ZERO };
            match consumer.poll(timeout) {
                None => {
                    if polled == 0 {
                        blocked = poll_started.elapsed();
                    }
                    break;
                }
                Some(Ok(message)) => {
                    polled += 1;
                    if let Err(error) = state.borrow_mut().tasks.add(&message) {
                        failure = Some(error);
                        break;
                    }
                }
                Some(Err(error)) => {
                    // librdkafka retries transient errors itself; say what happened.
                    tracing::warn!(%error, "consumer error");
                    break;
                }
            }
        }
        let mut st = state.borrow_mut();
        st.recorder.poll(polled, poll_started.elapsed(), blocked);
        if let Some(error) = st.failure.take().or(failure) {
            break Err(error);
        }
        while let Ok(query) = queries.try_recv() {
            query(&st.tasks);
        }
        if let Err(error) = st.step(&consumer, &mut last_commit, commit_interval) {
            if migrated(&error) && incremental(&consumer) {
                // An incremental rebalance does not assign again the partitions the thread
                // keeps: their tasks are rebuilt from the last commit at once.
                tracing::warn!(%error, "commit refused: rebuilding the tasks from the last commit");
                if let Err(error) = st.rewind(&consumer) {
                    break Err(error);
                }
                last_commit = Instant::now();
            } else if migrated(&error) {
                // Records since the last commit are processed again by whoever gets the
                // partitions (at-least-once), or were never committed (exactly-once).
                tracing::warn!(%error, "commit refused: closing the tasks until the rebalance assigns them");
                let _ = st.collector.abort();
                st.tasks.close_dirty();
                st.committed.clear();
                last_commit = Instant::now();
            } else if exactly_once && rewindable(&error) {
                tracing::warn!(%error, "exactly-once: aborting and rewinding");
                if let Err(error) = st.rewind(&consumer) {
                    break Err(error);
                }
                last_commit = Instant::now();
            } else {
                break Err(error);
            }
        }
    };

    let mut st = state.borrow_mut();
    match &result {
        Ok(()) => match st.commit(&consumer) {
            Ok(()) => st.tasks.close_clean(),
            Err(error) => {
                tracing::warn!(%error, "final commit failed");
                let _ = st.collector.abort();
                st.tasks.close_dirty();
            }
        },
        Err(_) => {
            let _ = st.collector.abort();
            st.tasks.close_dirty();
        }
    }
    drop(st);
    // Leaving the group runs the revocation callback, which now finds no tasks.
    drop(consumer);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replace_back_off_doubles_up_to_its_cap() {
        let pauses: Vec<Duration> = (1..=8).map(replace_backoff).collect();
        assert_eq!(pauses[0], REPLACE_BACKOFF);
        assert_eq!(pauses[1], REPLACE_BACKOFF * 2);
        assert_eq!(pauses[2], REPLACE_BACKOFF * 4);
        assert_eq!(pauses[7], MAX_REPLACE_BACKOFF);
        assert_eq!(replace_backoff(u32::MAX), MAX_REPLACE_BACKOFF);
    }
}
