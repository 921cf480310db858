//! Runs a topology deterministically, without a broker, for unit tests.

mod input;
mod output;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;

pub use input::TestInputTopic;
pub use output::TestOutputTopic;

use crate::{
    CacheBudget, ChangelogRecord, DefaultSerde, Headers, KeyValueStore, ProducedRecord, RawRecord,
    SerdeRef, StreamsConfig, StreamsError, Task, TaskMetrics, Timestamp, Topology,
};

/// A record as a test pipes it in or reads it out. A `None` key or value is a null (a
/// tombstone value); a `None` timestamp on input takes the input topic's current time.
#[derive(Clone, Debug, PartialEq)]
pub struct TestRecord<K, V> {
    /// The key, or `None` for a null key.
    pub key: Option<K>,
    /// The value, or `None` for a tombstone.
    pub value: Option<V>,
    /// The timestamp; always set on records read from an output topic.
    pub timestamp: Option<Timestamp>,
    /// The headers.
    pub headers: Headers,
}

impl<K, V> TestRecord<K, V> {
    /// A record with a key and a value, at the input topic's current time.
    pub fn new(key: K, value: V) -> Self {
        Self {
            key: Some(key),
            value: Some(value),
            timestamp: None,
            headers: Headers::new(),
        }
    }

    /// A tombstone for `key`.
    pub fn tombstone(key: K) -> Self {
        Self {
            key: Some(key),
            value: None,
            timestamp: None,
            headers: Headers::new(),
        }
    }

    /// The same record at time `timestamp`.
    pub fn at(mut self, timestamp: Timestamp) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// The same record with `headers`.
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }
}

/// A record on its way into a topic of the driver.
struct Pending {
    topic: String,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    timestamp: Timestamp,
    headers: Headers,
}

/// Which task reads a topic.
#[derive(Clone, Copy, Debug)]
enum Reader {
    Task(usize),
    Global,
}

struct DriverState {
    application_id: String,
    topology: Topology,
    config: StreamsConfig,
    tasks: Vec<Task>,
    global: Option<Task>,
    /// Every record written to each changelog topic, to restore from on a restart.
    changelogs: HashMap<String, Vec<ChangelogRecord>>,
    /// Every record piped into a global topic, to rebuild the global stores on a restart.
    global_inputs: Vec<(String, RawRecord)>,
    readers: HashMap<String, Reader>,
    internal: HashSet<String>,
    sink_topics: HashSet<String>,
    per_record_sinks: bool,
    outputs: HashMap<String, VecDeque<ProducedRecord>>,
    next_offset: HashMap<String, i64>,
    wall_clock: Timestamp,
    produced: Vec<ProducedRecord>,
    /// Whether caches are flushed after each piped record (Kafka Streams' driver does).
    flush_after_each_record: bool,
}

impl DriverState {
    /// Creates every task in the state directory `dir` (not yet initialized), and which task
    /// reads each topic.
    fn build_tasks(&mut self, dir: &std::path::Path) -> Result<(), StreamsError> {
        let config = self.config.clone().state_dir(dir);
        self.readers.clear();
        self.global = self.topology.create_global_task(&config)?;
        if let Some(task) = &self.global {
            for topic in task.input_topics() {
                self.readers.insert(topic.to_owned(), Reader::Global);
            }
        }
        self.tasks.clear();
        let cache = CacheBudget::new(config.cache_max_bytes_value());
        for id in self.topology.subtopology_ids() {
            let mut task = self
                .topology
                .create_task_sharing_cache(id, 0, &config, &cache)?;
            if let Some(global) = &self.global {
                task.attach_global_stores(global);
            }
            for topic in task.input_topics() {
                self.readers
                    .insert(topic.to_owned(), Reader::Task(self.tasks.len()));
            }
            self.tasks.push(task);
        }
        Ok(())
    }

    /// Restores every task's stores from the changelog history and replays the global
    /// topics, then initializes the tasks.
    fn restore_and_init(&mut self) -> Result<(), StreamsError> {
        if let Some(global) = &mut self.global {
            global.set_wall_clock(self.wall_clock);
            global.init()?;
            for (topic, record) in &self.global_inputs {
                global.add_records(topic, [record.clone()])?;
                while global.process_next()? {}
            }
        }
        for task in &mut self.tasks {
            for partition in task.changelog_partitions() {
                let records = self
                    .changelogs
                    .get(&partition.topic)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                if !records.is_empty() {
                    task.restore(&partition.store, records, records.len() as i64 - 1)?;
                }
            }
            task.set_wall_clock(self.wall_clock);
            task.init()?;
        }
        Ok(())
    }

    /// Which task reads `topic`: by name, or by a source pattern that the name matches.
    fn reader(&mut self, topic: &str) -> Option<Reader> {
        if let Some(reader) = self.readers.get(topic) {
            return Some(*reader);
        }
        let patterns = crate::topology::pattern::compile(self.readers.keys().map(String::as_str));
        let pattern = crate::topology::pattern::matching(&patterns, topic)?;
        let reader = *self.readers.get(pattern)?;
        self.readers.insert(topic.to_owned(), reader);
        Some(reader)
    }

    fn pipe(&mut self, first: Pending) -> Result<(), StreamsError> {
        let mut pending = VecDeque::from([first]);
        while let Some(Pending {
            topic,
            key,
            value,
            timestamp,
            headers,
        }) = pending.pop_front()
        {
            let offset = self.next_offset.entry(topic.clone()).or_insert(0);
            let record = RawRecord {
                offset: *offset,
                timestamp,
                key,
                value,
                headers,
            };
            *offset += 1;
            let task = match self.reader(&topic) {
                Some(Reader::Task(i)) => &mut self.tasks[i],
                Some(Reader::Global) => self
                    .global
                    .as_mut()
                    .expect("a global reader implies a global task"),
                None => {
                    return Err(StreamsError::UnknownTopic {
                        topic,
                        direction: "input",
                    })
                }
            };
            task.set_wall_clock(self.wall_clock);
            task.add_records(&topic, [record])?;
            while task.process_next()? {}
            // A processor's commit request is honoured at once, as a commit interval's end.
            if task.take_commit_request() || self.flush_after_each_record {
                // As Kafka Streams' driver does, commit after every record: caches never
                // hold back what a test expects to see.
                task.flush_caches()?;
            }
            self.collect(&mut pending);
        }
        self.settle_quiet_inputs()
    }

    /// Applies the rules for quiet inputs at the driver's wall-clock time (see
    /// [`crate::quiet`]): the watermark of a quiet task may rise, and what that closes goes
    /// downstream (through repartition topics, too).
    fn settle_quiet_inputs(&mut self) -> Result<(), StreamsError> {
        let rules = self.config.quiet_inputs();
        if !rules.enabled() {
            return Ok(());
        }
        let mut tasks: Vec<&mut Task> = self.tasks.iter_mut().collect();
        let raised = crate::quiet::advance_quiet_tasks(&mut tasks, self.wall_clock, &rules)?;
        if raised.is_empty() {
            return Ok(());
        }
        if self.flush_after_each_record {
            for i in raised {
                self.tasks[i].flush_caches()?;
            }
        }
        let mut pending = VecDeque::new();
        self.collect(&mut pending);
        // Each pipe settles again; a watermark only rises, so this ends.
        while let Some(next) = pending.pop_front() {
            self.pipe(next)?;
        }
        Ok(())
    }

    /// Moves what the tasks produced to the output topics, and records for internal topics
    /// to `pending`, to be processed next (as Kafka Streams' test driver does).
    fn collect(&mut self, pending: &mut VecDeque<Pending>) {
        for task in &mut self.tasks {
            task.drain_output(&mut self.produced);
        }
        for record in self.produced.drain(..) {
            if self.internal.contains(&*record.topic) {
                pending.push_back(Pending {
                    topic: record.topic.to_string(),
                    key: record.key,
                    value: record.value,
                    timestamp: record.timestamp,
                    headers: record.headers,
                });
            } else {
                if let Some(history) = self.changelogs.get_mut(&*record.topic) {
                    history.push(ChangelogRecord {
                        key: record.key.clone().unwrap_or_default(),
                        value: record.value.clone(),
                        timestamp: record.timestamp,
                    });
                }
                self.outputs
                    .entry(record.topic.to_string())
                    .or_default()
                    .push_back(record);
            }
        }
    }

    fn advance_wall_clock(&mut self, by: Duration) -> Result<(), StreamsError> {
        self.wall_clock = self
            .wall_clock
            .saturating_add(i64::try_from(by.as_millis()).unwrap_or(i64::MAX));
        let mut pending = VecDeque::new();
        for task in &mut self.tasks {
            task.punctuate_wall_clock(self.wall_clock)?;
            task.flush_caches()?;
        }
        self.collect(&mut pending);
        while let Some(next) = pending.pop_front() {
            self.pipe(next)?;
        }
        self.settle_quiet_inputs()
    }

    fn commit(&mut self) -> Result<(), StreamsError> {
        let mut pending = VecDeque::new();
        for task in &mut self.tasks {
            task.flush_caches()?;
        }
        self.collect(&mut pending);
        while let Some(next) = pending.pop_front() {
            self.pipe(next)?;
        }
        Ok(())
    }

    fn store<S: Clone + 'static>(&self, name: &str) -> Result<S, StreamsError> {
        self.tasks
            .iter()
            .chain(self.global.iter())
            .find(|t| t.has_store(name))
            .ok_or_else(|| StreamsError::UnknownStore(name.to_owned()))?
            .store(name)
    }
}

/// Runs a [`Topology`] without a broker: records piped into input topics are processed at
/// once, through the same task code that the Kafka runtime runs, and what the sinks write is
/// captured per output topic. Wall-clock time only moves when the test moves it.
///
/// Each sub-topology runs as one task on partition 0. Records written to the application's
/// internal (repartition) topics are processed right after the record that caused them.
/// Stores live in a temporary state directory that is removed when the driver is dropped;
/// their changelog records can be read as output topics `<application.id>-<store>-changelog`.
///
/// ```
/// use streams_core::{Serdes, StreamsConfig, Topology, TopologyTestDriver};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut topology = Topology::new();
/// topology
///     .add_source("in", &["input"], Serdes::string(), Serdes::i64())?
///     .add_sink("out", "output", Serdes::string(), Serdes::i64(), &["in"])?;
///
/// let driver = TopologyTestDriver::new(topology, StreamsConfig::new("test"))?;
/// let input = driver.input_topic::<String, i64>("input")?;
/// let output = driver.output_topic::<String, i64>("output")?;
/// input.pipe_key_value("a".to_string(), 1)?;
/// assert_eq!(output.read_key_value()?, ("a".to_string(), 1));
/// assert!(output.is_empty());
/// # Ok(())
/// # }
/// ```
pub struct TopologyTestDriver {
    state: Rc<RefCell<DriverState>>,
    /// Declared after `state`, so stores close before their directory is removed.
    state_dir: RefCell<tempfile::TempDir>,
}

fn fresh_state_dir() -> Result<tempfile::TempDir, StreamsError> {
    tempfile::tempdir().map_err(|e| {
        StreamsError::from(state_stores::StoreError::Io {
            path: std::env::temp_dir(),
            reason: e.to_string(),
        })
    })
}

impl TopologyTestDriver {
    /// A driver for `topology`, with the wall clock at 0.
    pub fn new(topology: Topology, config: StreamsConfig) -> Result<Self, StreamsError> {
        Self::with_wall_clock(topology, config, 0)
    }

    /// A driver for `topology`, with the wall clock at `initial_wall_clock`.
    pub fn with_wall_clock(
        topology: Topology,
        config: StreamsConfig,
        initial_wall_clock: Timestamp,
    ) -> Result<Self, StreamsError> {
        let mut config = config;
        // As Kafka Streams' driver: closed windows are looked for on every record unless the
        // test sets a throttle (the driver's wall clock moves only when told).
        config
            .windowed_aggregation_emit_interval
            .get_or_insert(Duration::ZERO);
        let state_dir = fresh_state_dir()?;
        let application_id = config.application_id().to_owned();
        let (mut sink_topics, per_record_sinks) = topology.sink_topics(&application_id);
        let changelog_topics = topology.changelog_topics(&application_id);
        sink_topics.extend(changelog_topics.iter().cloned());
        sink_topics.extend(config.dead_letter_topics().into_iter().map(str::to_owned));
        let internal = topology
            .internal_topics(&application_id)
            .into_iter()
            .collect();
        let mut state = DriverState {
            application_id,
            topology,
            config,
            tasks: Vec::new(),
            global: None,
            changelogs: changelog_topics
                .into_iter()
                .map(|t| (t, Vec::new()))
                .collect(),
            global_inputs: Vec::new(),
            readers: HashMap::new(),
            internal,
            sink_topics: sink_topics.into_iter().collect(),
            per_record_sinks,
            outputs: HashMap::new(),
            next_offset: HashMap::new(),
            wall_clock: initial_wall_clock,
            produced: Vec::new(),
            flush_after_each_record: true,
        };
        state.build_tasks(state_dir.path())?;
        state.restore_and_init()?;
        Ok(Self {
            state: Rc::new(RefCell::new(state)),
            state_dir: RefCell::new(state_dir),
        })
    }

    /// Simulates a crash and a restart on a new machine: every task is dropped with its
    /// local state, then rebuilt in a fresh state directory and restored from what its
    /// changelogs hold (global stores from their topics), as the Kafka runtime restores a
    /// task that moves to a new instance. Records piped afterwards continue from there.
    /// Processors start afresh, so what they keep outside stores is lost, as in a real
    /// restart.
    pub fn restart(&self) -> Result<(), StreamsError> {
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        for task in state.tasks.iter_mut().chain(state.global.iter_mut()) {
            task.close();
        }
        let dir = fresh_state_dir()?;
        state.build_tasks(dir.path())?;
        state.restore_and_init()?;
        // The old directory goes only now, after its stores are closed and dropped.
        *self.state_dir.borrow_mut() = dir;
        Ok(())
    }

    /// An input topic with the default serdes of `K` and `V`.
    pub fn input_topic<K: DefaultSerde, V: DefaultSerde>(
        &self,
        topic: &str,
    ) -> Result<TestInputTopic<K, V>, StreamsError> {
        self.input_topic_with(topic, self.serde::<K>(), self.serde::<V>())
    }

    /// The serde of `T` that the topology was built with, else the type's default.
    fn serde<T: DefaultSerde>(&self) -> SerdeRef<T> {
        self.state
            .borrow()
            .topology
            .registered_serde::<T>()
            .unwrap_or_else(T::default_serde)
    }

    /// An input topic with the given serdes. Fails if the topology does not read `topic`.
    pub fn input_topic_with<K, V>(
        &self,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Result<TestInputTopic<K, V>, StreamsError> {
        let mut state = self.state.borrow_mut();
        if state.reader(topic).is_none() {
            return Err(StreamsError::UnknownTopic {
                topic: topic.to_owned(),
                direction: "input",
            });
        }
        Ok(TestInputTopic::new(
            Rc::clone(&self.state),
            topic,
            key_serde,
            value_serde,
            state.wall_clock,
        ))
    }

    /// An output topic with the default serdes of `K` and `V`.
    pub fn output_topic<K: DefaultSerde, V: DefaultSerde>(
        &self,
        topic: &str,
    ) -> Result<TestOutputTopic<K, V>, StreamsError> {
        self.output_topic_with(topic, self.serde::<K>(), self.serde::<V>())
    }

    /// An output topic with the given serdes. Fails if no sink of the topology writes
    /// `topic` (unless a sink chooses its topic per record).
    pub fn output_topic_with<K, V>(
        &self,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Result<TestOutputTopic<K, V>, StreamsError> {
        let state = self.state.borrow();
        if !state.per_record_sinks && !state.sink_topics.contains(topic) {
            return Err(StreamsError::UnknownTopic {
                topic: topic.to_owned(),
                direction: "output",
            });
        }
        Ok(TestOutputTopic::new(
            Rc::clone(&self.state),
            topic,
            key_serde,
            value_serde,
        ))
    }

    /// Whether the driver commits (flushes every record cache, forwarding what the caches
    /// hold) after each piped record: `true` by default, as Kafka Streams' driver does. With
    /// `false`, caches keep collapsing updates across records, as between two commits of a
    /// running application, until [`commit`](Self::commit), a wall-clock advance or an
    /// eviction: cached behaviour can be tested.
    ///
    /// ```
    /// use streams_core::{Serdes, StreamsConfig, Topology, TopologyTestDriver};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut topology = Topology::new();
    /// topology
    ///     .add_source("in", &["input"], Serdes::string(), Serdes::i64())?
    ///     .add_sink("out", "output", Serdes::string(), Serdes::i64(), &["in"])?;
    /// let driver = TopologyTestDriver::new(topology, StreamsConfig::new("test"))?;
    /// driver.flush_caches_after_each_record(false);
    /// driver.input_topic::<String, i64>("input")?.pipe_key_value("a".to_string(), 1)?;
    /// driver.commit()?;
    /// assert_eq!(driver.output_topic::<String, i64>("output")?.read_value()?, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn flush_caches_after_each_record(&self, flush: bool) {
        self.state.borrow_mut().flush_after_each_record = flush;
    }

    /// Commits as a running application does every commit interval: flushes every cache,
    /// forwarding what it held, and processes what that produced for internal topics.
    pub fn commit(&self) -> Result<(), StreamsError> {
        self.state.borrow_mut().commit()
    }

    /// Moves the wall clock forward and fires the wall-clock punctuations that are due.
    pub fn advance_wall_clock_time(&self, by: Duration) -> Result<(), StreamsError> {
        self.state.borrow_mut().advance_wall_clock(by)
    }

    /// The wall-clock time.
    pub fn wall_clock_time(&self) -> Timestamp {
        self.state.borrow().wall_clock
    }

    /// The key-value store called `name`, with its key and value types.
    pub fn key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<KeyValueStore<K, V>, StreamsError> {
        self.state_store(name)
    }

    /// The store called `name` as the typed handle `S`.
    pub fn state_store<S: Clone + 'static>(&self, name: &str) -> Result<S, StreamsError> {
        self.state.borrow().store(name)
    }

    /// The counters of all tasks, added up.
    pub fn metrics(&self) -> TaskMetrics {
        let state = self.state.borrow();
        let mut total = TaskMetrics::default();
        for task in state.tasks.iter().chain(state.global.iter()) {
            total += task.metrics();
        }
        total
    }

    /// The counters of each task (the global task's too), by task id.
    pub fn task_metrics(&self) -> Vec<(crate::TaskId, TaskMetrics)> {
        let state = self.state.borrow();
        state
            .tasks
            .iter()
            .chain(state.global.iter())
            .map(|task| (task.id(), task.metrics()))
            .collect()
    }

    /// The records each processor node processed, by task id and node name (Kafka Streams'
    /// per-node `process-total`; nodes that processed none are left out).
    pub fn node_metrics(&self) -> Vec<(crate::TaskId, String, u64)> {
        let state = self.state.borrow();
        state
            .tasks
            .iter()
            .chain(state.global.iter())
            .flat_map(|task| {
                task.node_metrics()
                    .map(|(node, records)| (task.id(), node.to_owned(), records))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The figures of the store `name` in each task that has it (cache reads, flushes, the
    /// engine's memory and backlog), by task id.
    pub fn store_metrics(&self, name: &str) -> Vec<(crate::TaskId, crate::StoreMetrics)> {
        let state = self.state.borrow();
        state
            .tasks
            .iter()
            .chain(state.global.iter())
            .flat_map(|task| {
                task.store_metrics()
                    .filter(|(store, _)| *store == name)
                    .map(|(_, metrics)| (task.id(), metrics))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The directory the driver keeps its stores in (removed when the driver is dropped).
    pub fn state_dir(&self) -> std::path::PathBuf {
        self.state_dir.borrow().path().to_owned()
    }

    /// The application id the driver runs with.
    pub fn application_id(&self) -> String {
        self.state.borrow().application_id.clone()
    }
}

impl Drop for TopologyTestDriver {
    fn drop(&mut self) {
        if let Ok(mut state) = self.state.try_borrow_mut() {
            let state = &mut *state;
            for task in state.tasks.iter_mut().chain(state.global.iter_mut()) {
                task.close();
            }
        }
    }
}
