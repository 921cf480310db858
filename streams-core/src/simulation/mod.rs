//! A seeded simulation of a running application, beside the
//! [`TopologyTestDriver`](crate::TopologyTestDriver): several partitions per topic, one task
//! per sub-topology and partition, spread over several simulated instances, with topics
//! (inputs, repartition topics, changelogs, outputs) as in-memory logs partitioned by key.
//! A schedule drawn from a seed decides fetch sizes, which task goes next and how far,
//! commits, crashes and rebalances; the same seed replays the same run.
//!
//! It runs the tasks through the same [`Task`] code as both other drivers: buffering and
//! timestamp-ordered processing, cache flushes and commits, changelog records, checkpoint
//! files and restoration from changelogs. Commits follow the configuration's processing
//! guarantee, as the Kafka runtime's do:
//!
//! - exactly-once: what a task produces (records for sinks, repartition topics and
//!   changelogs) becomes visible in the logs, with its input offsets, only when it commits; a
//!   crash loses everything since, wipes the instance's copy of the task's state and restarts
//!   the task from its changelogs and committed offsets;
//! - at-least-once: what a task produces is visible in the logs as soon as the step that
//!   produced it ends (the producer sends it), a commit flushes the caches, commits the input
//!   offsets and writes the checkpoint file, and a crash keeps the instance's state directory
//!   and restarts the task from its checkpoint, its changelogs and the committed offsets, so
//!   the records since the last commit are processed again (duplicates).
//!
//! A rebalance closes a task cleanly (commit, checkpoint file) and opens it on another
//! instance, which restores what its own checkpoint does not cover.
//!
//! A run's steps ([`Step`]) are recorded in its [`RunReport`]; a [`Replay`] (seed, input
//! prefix, steps) runs them again through [`SimulationDriver::replay`], and [`shrink`]
//! reduces a failing replay to a small one that still fails.
//!
//! The rules for quiet inputs ([`crate::quiet`]) apply when the configuration turns them on,
//! on a step clock of 10 ms per step.
//!
//! What it does not do yet: global tables, stream threads and the Kafka runtime's own
//! consumer, producer, pacing and restore loop (rdkafka), partial failures within a commit,
//! and wall-clock punctuation beyond a step clock.

mod replay;
mod shrink;

pub use replay::{ParseReplayError, Replay, Step};
pub use shrink::shrink;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::config::ProcessingGuarantee;
use crate::{
    ChangelogRecord, DefaultSerde, Headers, RawRecord, SerdeRef, StreamsConfig, StreamsError, Task,
    TaskId, Timestamp, Topology,
};

/// How a schedule picks the task that fetches or processes next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Interleaving {
    /// Any task with records to fetch or process, at random: tasks can run far ahead of
    /// each other in event time (as after a backlog, when some tasks get their records
    /// sooner than others).
    #[default]
    Random,
    /// Fairly, by event time: a task whose buffer of an input is empty fetches first;
    /// otherwise the task whose next record is the earliest processes (as if every task
    /// progressed at the same pace through event time).
    TimestampOrder,
}

/// How a simulation schedules its steps. Chances are per mille, per step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The partitions of every topic.
    pub partitions: i32,
    /// The simulated application instances the tasks are spread over.
    pub instances: usize,
    /// The most records one fetch hands a task, or one turn processes.
    pub max_batch: usize,
    /// The chance that a step commits a task.
    pub commit_per_mille: u32,
    /// The chance that a step crashes a task (at most `max_failures` crashes and rebalances
    /// in all).
    pub crash_per_mille: u32,
    /// The chance that a step moves a task to another instance.
    pub rebalance_per_mille: u32,
    /// The most crashes and rebalances in one run.
    pub max_failures: u32,
    /// How the task that fetches or processes next is picked.
    pub interleaving: Interleaving,
}

impl Default for Schedule {
    fn default() -> Self {
        Self {
            partitions: 3,
            instances: 2,
            max_batch: 8,
            commit_per_mille: 100,
            crash_per_mille: 15,
            rebalance_per_mille: 15,
            max_failures: 6,
            interleaving: Interleaving::Random,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    /// Steps taken.
    pub steps: u64,
    /// Records processed (reprocessing after a crash included).
    pub processed: u64,
    /// Commits.
    pub commits: u64,
    /// Crashes.
    pub crashes: u32,
    /// Rebalances (task moves).
    pub rebalances: u32,
    /// Every step, in order (each prints as `fetch 0_1 words-repartition 3`,
    /// `process 1_0 5`, `commit 0_2`, `crash 1_1`, `move 0_0 to 1` or `commit all`).
    pub schedule: Vec<Step>,
}

/// SplitMix64: a small, seedable generator (no dependency, same numbers everywhere).
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, per_mille: u32) -> bool {
        self.next() % 1000 < u64::from(per_mille)
    }
}

/// A task, the instance it runs on, and what it produced since its last commit.
struct Running {
    task: Task,
    instance: usize,
    /// Per input topic, the offset of the next record to fetch.
    fetched: BTreeMap<String, i64>,
    /// Records produced since the last commit: (topic, partition if fixed, record).
    uncommitted: Vec<(String, Option<i32>, RawRecord)>,
}

/// Runs a topology as a multi-partition, multi-instance application under a seeded
/// schedule; see the module documentation.
pub struct SimulationDriver {
    topology: Topology,
    config: StreamsConfig,
    schedule: Schedule,
    seed: u64,
    rng: Rng,
    /// Picks the partitions of records without a key (apart from the schedule's choices, so
    /// that a replay's partitions do not depend on the steps it drops).
    keyless: Rng,
    exactly_once: bool,
    /// The steps of a replay, taken instead of drawing them.
    replaying: Option<Vec<Step>>,
    /// The most records piped that a replay keeps, and how many were piped.
    input_limit: Option<usize>,
    piped: usize,
    /// Records dropped (too late, for example) by tasks that crashed or moved away.
    dropped_before: u64,
    /// Every topic's partitions, as logs of committed records.
    logs: BTreeMap<String, Vec<Vec<RawRecord>>>,
    /// The committed offset (next to read) of each input partition.
    committed: BTreeMap<(String, i32), i64>,
    tasks: BTreeMap<TaskId, Running>,
    /// The state directory of each instance.
    instances: Vec<tempfile::TempDir>,
    internal: Vec<String>,
    wall_clock: Timestamp,
    report: RunReport,
}

impl std::fmt::Debug for SimulationDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulationDriver")
            .field("schedule", &self.schedule)
            .field("tasks", &self.tasks.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn io_error(reason: impl ToString) -> StreamsError {
    StreamsError::from(state_stores::StoreError::Io {
        path: std::env::temp_dir(),
        reason: reason.to_string(),
    })
}

impl SimulationDriver {
    /// A simulation of `topology` under `config`, scheduled as `schedule` says from `seed`.
    /// Every task is created (spread over the instances) and initialized.
    pub fn new(
        topology: Topology,
        config: StreamsConfig,
        schedule: Schedule,
        seed: u64,
    ) -> Result<Self, StreamsError> {
        let mut config = config;
        // As the test driver: closed windows are looked for on every record.
        config
            .windowed_aggregation_emit_interval
            .get_or_insert(Duration::ZERO);
        let instances = (0..schedule.instances.max(1))
            .map(|_| tempfile::tempdir().map_err(io_error))
            .collect::<Result<Vec<_>, _>>()?;
        let internal = topology.internal_topics(config.application_id());
        let exactly_once = config.processing_guarantee_value() == ProcessingGuarantee::ExactlyOnce;
        let mut driver = Self {
            topology,
            config,
            schedule: Schedule {
                partitions: schedule.partitions.max(1),
                instances: instances.len(),
                max_batch: schedule.max_batch.max(1),
                ..schedule
            },
            seed,
            rng: Rng(seed),
            keyless: Rng(seed ^ 0x6b65_796c_6573_7321),
            exactly_once,
            replaying: None,
            input_limit: None,
            piped: 0,
            dropped_before: 0,
            logs: BTreeMap::new(),
            committed: BTreeMap::new(),
            tasks: BTreeMap::new(),
            instances,
            internal,
            wall_clock: 0,
            report: RunReport::default(),
        };
        // Every topic the topology knows exists from the start (stream partitioners see
        // their partition counts).
        let app = driver.config.application_id().to_owned();
        let mut topics = driver.topology.sink_topics(&app).0;
        topics.extend(driver.topology.changelog_topics(&app));
        for id in driver.topology.subtopology_ids() {
            topics.extend(driver.topology.source_topics(id, &app));
        }
        for topic in topics {
            driver.log(&topic);
        }
        for subtopology in driver.topology.subtopology_ids() {
            for partition in 0..driver.schedule.partitions {
                let id = TaskId {
                    subtopology,
                    partition,
                };
                let instance = driver.rng.below(driver.schedule.instances);
                driver.open(id, instance)?;
            }
        }
        Ok(driver)
    }

    /// A simulation that runs `replay` (printed by a failing run, or [`shrink`]ed): the
    /// same placement of tasks as a run of its seed, only its first `inputs` records piped,
    /// and its steps instead of the seed's, after which [`run`](Self::run) finishes without
    /// failures. `topology`, `config` and `schedule` must be those of the run it replays.
    pub fn replay(
        topology: Topology,
        config: StreamsConfig,
        schedule: Schedule,
        replay: &Replay,
    ) -> Result<Self, StreamsError> {
        let mut driver = Self::new(topology, config, schedule, replay.seed)?;
        driver.replaying = Some(replay.steps.clone());
        driver.input_limit = Some(replay.inputs);
        Ok(driver)
    }

    /// The replay of this run so far: its seed, the records piped and the steps taken.
    pub fn recorded(&self) -> Replay {
        Replay {
            seed: self.seed,
            inputs: self.inputs_kept(),
            steps: self.report.schedule.clone(),
        }
    }

    /// How many of the records piped so far the run keeps (all of them, or a replay's
    /// first `inputs`): a property checks the output against a model of these.
    pub fn inputs_kept(&self) -> usize {
        self.piped.min(self.input_limit.unwrap_or(usize::MAX))
    }

    /// Records dropped by the tasks so far (too late for their window, for example),
    /// counting those of tasks that crashed or moved (records processed again count again).
    pub fn dropped_records(&self) -> u64 {
        self.dropped_before
            + self
                .tasks
                .values()
                .map(|r| r.task.metrics().dropped)
                .sum::<u64>()
    }

    fn instance_config(&self, instance: usize) -> StreamsConfig {
        self.config
            .clone()
            .state_dir(self.instances[instance].path())
    }

    fn log(&mut self, topic: &str) -> &mut Vec<Vec<RawRecord>> {
        let partitions = self.schedule.partitions as usize;
        self.logs
            .entry(topic.to_owned())
            .or_insert_with(|| vec![Vec::new(); partitions])
    }

    /// Creates task `id` on `instance`: restores its stores from their changelogs (after
    /// what the instance's checkpoint covers) and positions it at the committed offsets.
    fn open(&mut self, id: TaskId, instance: usize) -> Result<(), StreamsError> {
        let config = self.instance_config(instance);
        let mut task = self
            .topology
            .create_task(id.subtopology, id.partition, &config)?;
        let counts: std::collections::HashMap<String, i32> = self
            .logs
            .keys()
            .map(|t| (t.clone(), self.schedule.partitions))
            .collect();
        task.set_partition_counts(Arc::new(counts));
        for changelog in task.changelog_partitions() {
            let from = changelog.restored_up_to.map_or(0, |o| o + 1).max(0) as usize;
            let records: Vec<ChangelogRecord> = self
                .log(&changelog.topic)
                .get(id.partition as usize)
                .map(|log| {
                    log.iter()
                        .skip(from)
                        .map(|r| ChangelogRecord {
                            key: r.key.clone().unwrap_or_default(),
                            value: r.value.clone(),
                            timestamp: r.timestamp,
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !records.is_empty() {
                let last = (from + records.len()) as i64 - 1;
                task.restore(&changelog.store, &records, last)?;
            }
        }
        task.set_wall_clock(self.wall_clock);
        task.init()?;
        let fetched = task
            .input_topics()
            .map(|t| {
                let offset = self
                    .committed
                    .get(&(t.to_owned(), id.partition))
                    .copied()
                    .unwrap_or(0);
                (t.to_owned(), offset)
            })
            .collect();
        self.tasks.insert(
            id,
            Running {
                task,
                instance,
                fetched,
                uncommitted: Vec::new(),
            },
        );
        Ok(())
    }

    /// The partition of `topic` that a record with `key` goes to: by the murmur2 hash of the
    /// key bytes, as Kafka's producer; a null key goes to a partition of the schedule's
    /// choosing.
    fn partition_for(&mut self, key: Option<&[u8]>) -> i32 {
        match key {
            Some(key) => self.partition_for_key(key),
            None => self.keyless.below(self.schedule.partitions as usize) as i32,
        }
    }

    fn append(&mut self, topic: &str, partition: Option<i32>, mut record: RawRecord) {
        let partition = match partition {
            Some(p) => p.rem_euclid(self.schedule.partitions),
            None => self.partition_for(record.key.as_deref()),
        };
        let log = &mut self.log(topic)[partition as usize];
        record.offset = log.len() as i64;
        log.push(record);
    }

    /// The partition that a record with key bytes `key` goes to (Kafka's murmur2).
    pub fn partition_for_key(&self, key: &[u8]) -> i32 {
        crate::partitioner::default_partition(key, self.schedule.partitions)
    }

    /// Appends a record of bytes to an input topic, to the partition its key hashes to
    /// (a replay keeps only its first `inputs` records piped).
    pub fn pipe_raw(
        &mut self,
        topic: &str,
        key: Option<Vec<u8>>,
        value: Option<Vec<u8>>,
        timestamp: Timestamp,
    ) {
        self.piped += 1;
        if self.input_limit.is_some_and(|limit| self.piped > limit) {
            return;
        }
        let record = RawRecord {
            offset: 0,
            timestamp,
            key,
            value,
            headers: Headers::new(),
        };
        self.append(topic, None, record);
    }

    fn serde<T: DefaultSerde>(&self) -> SerdeRef<T> {
        self.topology
            .registered_serde::<T>()
            .unwrap_or_else(T::default_serde)
    }

    /// Appends a record to an input topic, serialized with the types' serdes (those
    /// registered with the topology, or the defaults).
    pub fn pipe<K: DefaultSerde, V: DefaultSerde>(
        &mut self,
        topic: &str,
        key: &K,
        value: &V,
        timestamp: Timestamp,
    ) -> Result<(), StreamsError> {
        let serde_error = |source| StreamsError::Serde {
            topic: topic.to_owned(),
            source,
        };
        let key = self
            .serde::<K>()
            .to_bytes(topic, key)
            .map_err(serde_error)?;
        let value = self
            .serde::<V>()
            .to_bytes(topic, value)
            .map_err(serde_error)?;
        self.pipe_raw(topic, key, value, timestamp);
        Ok(())
    }

    /// The committed records of `topic`, partition by partition, each in log order, typed
    /// with the types' serdes.
    #[allow(clippy::type_complexity)]
    pub fn output<K: DefaultSerde, V: DefaultSerde>(
        &self,
        topic: &str,
    ) -> Result<Vec<(Option<K>, Option<V>, Timestamp)>, StreamsError> {
        let (key_serde, value_serde) = (self.serde::<K>(), self.serde::<V>());
        let serde_error = |source| StreamsError::Serde {
            topic: topic.to_owned(),
            source,
        };
        let mut out = Vec::new();
        for record in self.logs.get(topic).into_iter().flatten().flatten() {
            let key = match &record.key {
                Some(bytes) => Some(
                    key_serde
                        .deserialize(topic, &record.headers, Some(bytes))
                        .map_err(serde_error)?,
                ),
                None => None,
            };
            let value = match &record.value {
                Some(bytes) => Some(
                    value_serde
                        .deserialize(topic, &record.headers, Some(bytes))
                        .map_err(serde_error)?,
                ),
                None => None,
            };
            out.push((key, value, record.timestamp));
        }
        Ok(out)
    }

    /// The number of committed records in each partition of `topic`.
    pub fn partition_sizes(&self, topic: &str) -> Vec<usize> {
        self.logs
            .get(topic)
            .map(|parts| parts.iter().map(Vec::len).collect())
            .unwrap_or_default()
    }

    /// The tasks that have records to fetch: (task, topic, how many).
    fn fetchable(&self) -> Vec<(TaskId, String, usize)> {
        let mut out = Vec::new();
        for (id, running) in &self.tasks {
            for (topic, &next) in &running.fetched {
                let end = self
                    .logs
                    .get(topic)
                    .and_then(|p| p.get(id.partition as usize))
                    .map_or(0, Vec::len) as i64;
                if end > next {
                    out.push((*id, topic.clone(), (end - next) as usize));
                }
            }
        }
        out
    }

    /// Hands task `id` up to `n` further records of its partition of `topic`.
    fn fetch(&mut self, id: TaskId, topic: &str, n: usize) -> Result<(), StreamsError> {
        let Some(running) = self.tasks.get_mut(&id) else {
            return Ok(());
        };
        let Some(&from) = running.fetched.get(topic) else {
            return Ok(());
        };
        let records: Vec<RawRecord> = self
            .logs
            .get(topic)
            .and_then(|p| p.get(id.partition as usize))
            .map(|log| log.iter().skip(from as usize).take(n).cloned().collect())
            .unwrap_or_default();
        running
            .fetched
            .insert(topic.to_owned(), from + records.len() as i64);
        running.task.add_records(topic, records)
    }

    /// Task `id` processes up to `n` of its buffered records.
    fn process(&mut self, id: TaskId, n: usize) -> Result<(), StreamsError> {
        let wall_clock = self.wall_clock;
        let Some(running) = self.tasks.get_mut(&id) else {
            return Ok(());
        };
        running.task.set_wall_clock(wall_clock);
        let mut done = 0;
        while done < n && running.task.process_next()? {
            done += 1;
        }
        running.task.punctuate_wall_clock(wall_clock)?;
        collect(running);
        self.report.processed += done as u64;
        Ok(())
    }

    /// Commits task `id`: flushes its caches and stores, makes what it produced visible in
    /// the logs (exactly-once; at-least-once sent it already), commits its input offsets,
    /// and notes the changelog offsets its state covers (at-least-once also writes them to
    /// the checkpoint file).
    fn commit(&mut self, id: TaskId) -> Result<(), StreamsError> {
        let Some(mut running) = self.tasks.remove(&id) else {
            return Ok(());
        };
        let result = self.commit_running(id, &mut running);
        self.tasks.insert(id, running);
        result
    }

    fn commit_running(&mut self, id: TaskId, running: &mut Running) -> Result<(), StreamsError> {
        running.task.flush_caches()?;
        collect(running);
        for (topic, partition, record) in running.uncommitted.drain(..) {
            self.append(&topic, partition, record);
        }
        let changelogs: Vec<(String, i64)> = running
            .task
            .changelog_partitions()
            .into_iter()
            .filter_map(|c| {
                let end = self.logs.get(&c.topic)?.get(id.partition as usize)?.len() as i64;
                (end > 0).then_some((c.topic, end - 1))
            })
            .collect();
        running.task.prepare_commit(changelogs)?;
        for (topic, offset) in running.task.consumed_offsets() {
            self.committed
                .insert((topic.to_owned(), id.partition), offset);
        }
        if !self.exactly_once {
            running.task.write_checkpoint()?;
        }
        self.report.commits += 1;
        Ok(())
    }

    /// Crashes task `id` and restarts it on the same instance from its changelogs and the
    /// committed offsets. Under exactly-once what it produced since its last commit is lost
    /// and its instance's copy of its state is wiped (it may hold uncommitted writes); under
    /// at-least-once its output was sent already, and the state directory stays (with the
    /// checkpoint of its last commit).
    fn crash(&mut self, id: TaskId) -> Result<(), StreamsError> {
        let Some(running) = self.tasks.remove(&id) else {
            return Ok(());
        };
        let instance = running.instance;
        self.dropped_before += running.task.metrics().dropped;
        drop(running);
        if self.exactly_once {
            let dir: PathBuf = self.instance_config(instance).task_dir(id);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(io_error)?;
            }
        }
        self.report.crashes += 1;
        self.open(id, instance)
    }

    /// Moves task `id` to instance `to`: a clean close (commit, checkpoint file), then
    /// the new instance opens it from what its own state directory and the changelogs hold.
    fn rebalance(&mut self, id: TaskId, to: usize) -> Result<(), StreamsError> {
        let Some(mut running) = self.tasks.remove(&id) else {
            return Ok(());
        };
        self.commit_running(id, &mut running)?;
        running.task.write_checkpoint()?;
        running.task.close();
        self.dropped_before += running.task.metrics().dropped;
        drop(running);
        self.report.rebalances += 1;
        self.open(id, to % self.schedule.instances)
    }

    /// Applies the rules for quiet inputs that the configuration turns on (see
    /// [`crate::quiet`]) to every task, on the step clock (10 ms a step).
    fn settle_quiet_inputs(&mut self) -> Result<(), StreamsError> {
        let rules = self.config.quiet_inputs();
        if !rules.enabled() {
            return Ok(());
        }
        let mut running: Vec<&mut Running> = self.tasks.values_mut().collect();
        let mut tasks: Vec<&mut Task> = running.iter_mut().map(|r| &mut r.task).collect();
        let raised = crate::quiet::advance_quiet_tasks(&mut tasks, self.wall_clock, &rules)?;
        drop(tasks);
        for i in raised {
            collect(running[i]);
        }
        Ok(())
    }

    /// At-least-once: sends what the tasks produced (it is visible before any commit).
    fn send_produced(&mut self) {
        if self.exactly_once {
            return;
        }
        let mut produced = Vec::new();
        for running in self.tasks.values_mut() {
            produced.append(&mut running.uncommitted);
        }
        for (topic, partition, record) in produced {
            self.append(&topic, partition, record);
        }
    }

    /// Whether every record is fetched, processed and committed.
    fn settled(&self) -> bool {
        self.fetchable().is_empty()
            && self
                .tasks
                .values()
                .all(|r| r.task.buffered() == 0 && r.uncommitted.is_empty() && !r.task.has_output())
    }

    /// The next step, drawn from the seed.
    fn draw(&mut self) -> Step {
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        let failures = self.report.crashes + self.report.rebalances;
        let task = ids[self.rng.below(ids.len())];
        if failures < self.schedule.max_failures && self.rng.chance(self.schedule.crash_per_mille) {
            return Step::Crash { task };
        }
        if failures < self.schedule.max_failures
            && self.schedule.instances > 1
            && self.rng.chance(self.schedule.rebalance_per_mille)
        {
            let from = self.tasks.get(&task).map_or(0, |r| r.instance);
            let to =
                (from + 1 + self.rng.below(self.schedule.instances - 1)) % self.schedule.instances;
            return Step::Move { task, to };
        }
        if self.rng.chance(self.schedule.commit_per_mille) {
            return Step::Commit { task };
        }
        let fetchable = self.fetchable();
        let busy: Vec<(TaskId, Option<Timestamp>)> = self
            .tasks
            .iter()
            .filter(|(_, r)| r.task.buffered() > 0)
            .map(|(id, r)| (*id, r.task.next_timestamp()))
            .collect();
        let max_batch = self.schedule.max_batch;
        let fetch = |rng: &mut Rng, choices: &[&(TaskId, String, usize)]| {
            let (task, topic, available) = choices[rng.below(choices.len())];
            Step::Fetch {
                task: *task,
                topic: topic.clone(),
                records: 1 + rng.below(max_batch.min(*available)),
            }
        };
        match self.schedule.interleaving {
            Interleaving::Random => {
                if !fetchable.is_empty() && (busy.is_empty() || self.rng.chance(500)) {
                    let choices: Vec<_> = fetchable.iter().collect();
                    return fetch(&mut self.rng, &choices);
                }
                if !busy.is_empty() {
                    let task = busy[self.rng.below(busy.len())].0;
                    let records = 1 + self.rng.below(max_batch);
                    return Step::Process { task, records };
                }
            }
            Interleaving::TimestampOrder => {
                let starving: Vec<_> = fetchable
                    .iter()
                    .filter(|(id, topic, _)| {
                        self.tasks
                            .get(id)
                            .is_some_and(|r| r.task.buffered_on(topic) == 0)
                    })
                    .collect();
                if !starving.is_empty() {
                    return fetch(&mut self.rng, &starving);
                }
                let earliest = busy
                    .iter()
                    .map(|(id, t)| (t.unwrap_or(Timestamp::MIN), *id))
                    .min();
                if let Some((_, task)) = earliest {
                    let records = 1 + self.rng.below(max_batch);
                    return Step::Process { task, records };
                }
                if !fetchable.is_empty() {
                    let choices: Vec<_> = fetchable.iter().collect();
                    return fetch(&mut self.rng, &choices);
                }
            }
        }
        // Nothing to fetch or process: commit everything, which may bring records for
        // repartition topics.
        Step::CommitAll
    }

    /// Takes `step` (one tick of the step clock), and records it.
    fn apply(&mut self, step: Step) -> Result<(), StreamsError> {
        self.report.steps += 1;
        self.wall_clock += 10;
        match &step {
            Step::Fetch {
                task,
                topic,
                records,
            } => self.fetch(*task, topic, *records)?,
            Step::Process { task, records } => self.process(*task, *records)?,
            Step::Commit { task } => self.commit(*task)?,
            Step::Crash { task } => self.crash(*task)?,
            Step::Move { task, to } => self.rebalance(*task, *to)?,
            Step::CommitAll => {
                let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
                for id in ids {
                    self.commit(id)?;
                }
            }
        }
        if step != Step::CommitAll {
            self.settle_quiet_inputs()?;
        }
        self.send_produced();
        self.report.schedule.push(step);
        Ok(())
    }

    /// After a replay's steps: every task fetches everything, processes everything and
    /// commits, round after round, until nothing is left.
    fn finish(&mut self) -> Result<(), StreamsError> {
        const MAX_ROUNDS: usize = 100_000;
        for _ in 0..MAX_ROUNDS {
            for (task, topic, records) in self.fetchable() {
                self.apply(Step::Fetch {
                    task,
                    topic,
                    records,
                })?;
            }
            let busy: Vec<(TaskId, usize)> = self
                .tasks
                .iter()
                .filter(|(_, r)| r.task.buffered() > 0)
                .map(|(id, r)| (*id, r.task.buffered()))
                .collect();
            for (task, records) in busy {
                self.apply(Step::Process { task, records })?;
            }
            self.apply(Step::CommitAll)?;
            if self.settled() {
                return Ok(());
            }
        }
        Err(io_error(format!(
            "the simulation did not settle in {MAX_ROUNDS} rounds"
        )))
    }

    /// Runs the schedule until every record piped so far (and every record they led to) is
    /// processed and committed: the steps drawn from the seed, or a replay's steps and then
    /// rounds without failures. Returns what it did; on an error,
    /// [`recorded`](Self::recorded) is the replay of the run so far.
    pub fn run(&mut self) -> Result<RunReport, StreamsError> {
        if self.tasks.is_empty() {
            return Ok(self.report.clone());
        }
        if let Some(steps) = self.replaying.take() {
            for step in steps {
                self.apply(step)?;
            }
            self.finish()?;
            return Ok(self.report.clone());
        }
        let mut dirty = true;
        while dirty || !self.settled() {
            let step = self.draw();
            dirty = step != Step::CommitAll;
            self.apply(step)?;
        }
        Ok(self.report.clone())
    }

    /// What the run has done so far (for a failure's message: the seed's schedule).
    pub fn report(&self) -> &RunReport {
        &self.report
    }

    /// The topics the topology reads and writes internally (repartition topics), resolved.
    pub fn internal_topics(&self) -> &[String] {
        &self.internal
    }
}

/// Moves what the task produced into its uncommitted records.
fn collect(running: &mut Running) {
    let uncommitted = &mut running.uncommitted;
    running.task.drain_output_with(|r| {
        uncommitted.push((
            r.topic.to_owned(),
            r.partition,
            RawRecord {
                offset: 0,
                timestamp: r.timestamp,
                key: r.key.map(<[u8]>::to_vec),
                value: r.value.map(<[u8]>::to_vec),
                headers: r.headers.clone(),
            },
        ));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_determined_by_its_seed() {
        let (mut a, mut b, mut c) = (Rng(7), Rng(7), Rng(8));
        let xs: Vec<u64> = (0..5).map(|_| a.next()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next()).collect();
        let zs: Vec<u64> = (0..5).map(|_| c.next()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        assert!((0..100).all(|_| a.below(3) < 3));
    }

    #[test]
    fn keys_spread_over_partitions_and_each_stays_on_one() {
        let parts: Vec<i32> = (0..64)
            .map(|i| crate::partitioner::default_partition(format!("key-{i}").as_bytes(), 4))
            .collect();
        assert!((0..4).all(|p| parts.contains(&p)), "{parts:?}");
    }
}
