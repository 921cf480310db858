//! The Kafka runtime: runs a topology against a Kafka cluster, in as many processes as the
//! application is started in, with the group spreading the partitions (tasks) over them.
//!
//! [`KafkaStreams`] is the entry point. Each instance runs stream threads (plain OS threads,
//! each with its own consumer, producer and tasks); tokio serves only the async surface
//! ([`KafkaStreams::state_changes`]).

mod client_log;
mod clients;
mod collector;
mod control;
mod embedded;
mod error;
mod global;
mod membership;
mod messages;
pub mod metrics;
mod offset_reset;
mod pacing;
mod purge;
mod query;
mod restore;
mod restore_listener;
mod shared;
mod startup;
mod state_cleaner;
mod tasks;
mod thread;
mod topics;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use collector::SendInterceptor;
pub use embedded::EmbeddedKafka;
pub use error::RuntimeError;
pub use membership::{HostInfo, KeyQueryMetadata, StreamsMetadata};
pub use restore_listener::{LoggingRestoreListener, StateRestoreListener};
pub use shared::{ErrorResponse, RuntimeMetrics, State};
pub use topics::{AdminTopicCreator, InternalTopic, TopicCreator};

use shared::Shared;
use thread::ThreadSetup;

use crate::{StreamsConfig, Topology};

/// How long a query waits for a stream thread's answer.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long start-up waits for the internal topics it created to appear in metadata.
const TOPIC_WAIT: Duration = Duration::from_secs(30);

/// A streams application instance: runs `topology` against the Kafka cluster of `config`.
///
/// Start as many instances (processes) with the same application id as you like: they form
/// one consumer group, and each runs the tasks of the partitions it is assigned. State moves
/// with the tasks through the stores' changelog topics.
///
/// ```no_run
/// use std::time::Duration;
/// use streams_core::runtime::{KafkaStreams, State};
/// use streams_core::{Serdes, StreamsConfig, Topology};
///
/// let mut topology = Topology::new();
/// topology
///     .add_source("in", &["input"], Serdes::string(), Serdes::string())?
///     .add_sink("out", "output", Serdes::string(), Serdes::string(), &["in"])?;
/// let config = StreamsConfig::new("copier").bootstrap_servers("localhost:9092");
/// let streams = KafkaStreams::new(topology, config);
/// streams.start()?;
/// streams.wait_for(State::Running, Duration::from_secs(30));
/// // ... later:
/// streams.close(Duration::from_secs(30));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct KafkaStreams {
    topology: Arc<Topology>,
    config: StreamsConfig,
    shared: Arc<Shared>,
    topic_creator: Arc<dyn TopicCreator>,
    interceptor: Option<Arc<dyn SendInterceptor>>,
    restore_listener: Arc<dyn StateRestoreListener>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    /// What every stream thread starts with (but its index), once started.
    thread_setup: Mutex<Option<ThreadSetup>>,
    /// Where the application's instances run their tasks (with an `application.server`).
    directory: Arc<membership::Directory>,
}

impl KafkaStreams {
    /// An instance of the application that `config` names, not started yet.
    pub fn new(topology: Topology, config: StreamsConfig) -> Self {
        let topic_creator = Arc::new(AdminTopicCreator::new(
            clients::admin(&config),
            config.replication_factor_value(),
        ));
        Self {
            topology: Arc::new(topology),
            config,
            shared: Arc::new(Shared::new()),
            topic_creator,
            interceptor: None,
            restore_listener: Arc::new(LoggingRestoreListener::default()),
            threads: Mutex::new(Vec::new()),
            thread_setup: Mutex::new(None),
            directory: Arc::default(),
        }
    }

    /// Creates internal topics with `creator` instead of Kafka's admin API (for example an
    /// [`EmbeddedKafka`], which does not answer that API).
    pub fn with_topic_creator(mut self, creator: Arc<dyn TopicCreator>) -> Self {
        self.topic_creator = creator;
        self
    }

    /// Tells `listener` how the restoration of every store goes (default:
    /// [`LoggingRestoreListener`], which logs progress and an estimate of the time left).
    pub fn with_restore_listener(mut self, listener: Arc<dyn StateRestoreListener>) -> Self {
        self.restore_listener = listener;
        self
    }

    /// Passes every record the threads send through `interceptor` first.
    pub fn with_send_interceptor(mut self, interceptor: Arc<dyn SendInterceptor>) -> Self {
        self.interceptor = Some(interceptor);
        self
    }

    /// Calls `listener(old, new)` on every state change.
    pub fn on_state_change(&self, listener: impl Fn(State, State) + Send + Sync + 'static) {
        self.shared.add_listener(Box::new(listener));
    }

    /// Decides what happens when a stream thread fails with an error it cannot handle
    /// (default: [`ErrorResponse::ShutdownClient`]).
    ///
    /// ```no_run
    /// # use streams_core::runtime::{ErrorResponse, KafkaStreams, RuntimeError};
    /// # fn policy(streams: &KafkaStreams) {
    /// streams.on_uncaught_error(|error: &RuntimeError| match error {
    ///     RuntimeError::Streams(_) => ErrorResponse::ReplaceThread,
    ///     _ => ErrorResponse::ShutdownApplication,
    /// });
    /// # }
    /// ```
    pub fn on_uncaught_error(
        &self,
        policy: impl Fn(&RuntimeError) -> ErrorResponse + Send + Sync + 'static,
    ) {
        self.shared.set_error_policy(Box::new(policy));
    }

    /// The instance's state.
    pub fn state(&self) -> State {
        self.shared.state()
    }

    /// A receiver that sees every state change, for async code.
    pub fn state_changes(&self) -> tokio::sync::watch::Receiver<State> {
        self.shared.subscribe()
    }

    /// The instance's counters, and the figures of its threads, tasks and stores (see
    /// [`metrics`] for what each means and its Prometheus name).
    pub fn metrics(&self) -> RuntimeMetrics {
        let (threads, tasks, stores) = self.shared.published.collect();
        RuntimeMetrics {
            threads,
            tasks,
            stores,
            ..self.shared.metrics.snapshot()
        }
    }

    /// The errors its threads have failed with, oldest first.
    pub fn thread_errors(&self) -> Vec<String> {
        self.shared.errors()
    }

    /// Runs `read` on this instance's store `store` in every task that has it, each on the
    /// stream thread that owns the task, and returns the answers (one per local task).
    /// `Q` is a read-only view of the store (a query cannot write):
    /// [`ReadOnlyKeyValueStore`](crate::ReadOnlyKeyValueStore),
    /// [`ReadOnlyWindowStore`](crate::ReadOnlyWindowStore) or
    /// [`ReadOnlySessionStore`](crate::ReadOnlySessionStore).
    ///
    /// Only this instance's tasks answer: a key whose partition another instance runs is not
    /// found here. The instance must be [`State::Running`] or [`State::Rebalancing`]: during
    /// a rebalance its tasks answer until they move away, and those that stay throughout.
    ///
    /// ```no_run
    /// # use streams_core::runtime::KafkaStreams;
    /// # use streams_core::ReadOnlyKeyValueStore;
    /// # fn counts(streams: &KafkaStreams) -> Result<(), streams_core::runtime::RuntimeError> {
    /// let sizes = streams.query("word-counts", |s: &ReadOnlyKeyValueStore<String, i64>| Ok(s.all()?.len()))?;
    /// println!("{} words here", sizes.iter().sum::<usize>());
    /// # Ok(()) }
    /// ```
    pub fn query<Q, R>(
        &self,
        store: &str,
        read: impl Fn(&Q) -> Result<R, crate::StateError> + Send + Sync + 'static,
    ) -> Result<Vec<R>, RuntimeError>
    where
        Q: crate::QueryableStore,
        R: Send + 'static,
    {
        let state = self.state();
        // During a rebalance, the tasks that stay (suspended, then resumed) answer.
        if !matches!(state, State::Running | State::Rebalancing) {
            return Err(RuntimeError::IllegalState {
                operation: "query",
                state,
            });
        }
        if !self.topology.store_names().iter().any(|s| s == store) {
            return Err(crate::StreamsError::UnknownStore(store.to_owned()).into());
        }
        let read = Arc::new(read);
        let (answers, receiver) = std::sync::mpsc::channel();
        let mut asked = 0;
        for route in self.shared.queries.all() {
            let (read, answers, store) = (Arc::clone(&read), answers.clone(), store.to_owned());
            let query: query::Query = Box::new(move |tasks| {
                let read_only = |s: &Q::Store| read(&Q::read_only(s.clone()));
                let _ = answers.send(tasks.query::<Q::Store, R>(&store, &read_only));
            });
            if route.send(query).is_ok() {
                asked += 1;
            }
        }
        drop(answers);
        let mut results = Vec::new();
        for _ in 0..asked {
            match receiver.recv_timeout(QUERY_TIMEOUT) {
                Ok(answer) => results.extend(answer?),
                // A thread that stopped (or was replaced) meanwhile has nothing to say.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    return Err(RuntimeError::IllegalState {
                        operation: "query (a stream thread did not answer)",
                        state: self.state(),
                    })
                }
            }
        }
        Ok(results)
    }

    /// Where `key` of store `store` lives (Kafka Streams' `queryMetadataForKey`): the
    /// instance whose task holds it, by its `application.server`, and the key's partition.
    /// `key_serde` encodes the key as the store's input topic carries it (the partition is
    /// its murmur2 hash, as Kafka's producer computes it). `None` while no live instance
    /// claims the key's task (during a rebalance, or before the instances' records are read).
    ///
    /// Needs [`StreamsConfig::application_server`] on every instance; the user's own server
    /// answers the remote queries (with [`get`](Self::get) or [`query`](Self::query) there).
    ///
    /// ```no_run
    /// # use streams_core::runtime::KafkaStreams;
    /// # use streams_core::Serdes;
    /// # fn route(streams: &KafkaStreams) -> Result<(), streams_core::runtime::RuntimeError> {
    /// if let Some(owner) =
    ///     streams.query_metadata_for_key("word-counts", &"kafka".to_string(), &*Serdes::string())?
    /// {
    ///     println!("ask http://{}/counts/kafka", owner.active_host);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query_metadata_for_key<K>(
        &self,
        store: &str,
        key: &K,
        key_serde: &dyn crate::Serializer<K>,
    ) -> Result<Option<KeyQueryMetadata>, RuntimeError> {
        let application_id = self.config.application_id();
        let subtopology = self
            .topology
            .subtopology_ids()
            .into_iter()
            .find(|&id| {
                self.topology
                    .subtopology_stores(id)
                    .iter()
                    .any(|s| s == store)
            })
            .ok_or_else(|| crate::StreamsError::UnknownStore(store.to_owned()))?;
        let partitions = self
            .thread_setup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|setup| {
                let topics = self.topology.source_topics(subtopology, application_id);
                topics
                    .iter()
                    .find_map(|t| setup.partition_counts.get(t).copied())
                    .map(|n| (topics[0].clone(), n))
            });
        let Some((topic, partitions)) = partitions else {
            return Err(RuntimeError::IllegalState {
                operation: "find the owner of a key (not started)",
                state: self.state(),
            });
        };
        self.require_application_server()?;
        let bytes = key_serde
            .to_bytes(&topic, key)
            .map_err(|source| crate::StreamsError::Serde { topic, source })?
            .unwrap_or_default();
        let partition = crate::partitioner::default_partition(&bytes, partitions);
        let task = crate::TaskId {
            subtopology,
            partition,
        };
        let owner = self
            .directory
            .live(membership::now_ms())
            .into_iter()
            .find(|(_, tasks)| tasks.contains(&task));
        Ok(owner.map(|(host, _)| KeyQueryMetadata {
            active_host: host,
            standby_hosts: Vec::new(),
            partition,
        }))
    }

    /// Every live instance of the application: where it answers queries, its tasks and
    /// their stores (Kafka Streams' `metadataForAllStreamsClients`). Needs
    /// [`StreamsConfig::application_server`].
    pub fn all_metadata(&self) -> Result<Vec<StreamsMetadata>, RuntimeError> {
        self.require_application_server()?;
        let mut all: Vec<StreamsMetadata> = self
            .directory
            .live(membership::now_ms())
            .into_iter()
            .map(|(host, tasks)| StreamsMetadata {
                host,
                state_store_names: tasks
                    .iter()
                    .flat_map(|t| self.topology.subtopology_stores(t.subtopology))
                    .collect(),
                tasks,
            })
            .collect();
        all.sort_by(|a, b| a.host.cmp(&b.host));
        Ok(all)
    }

    fn require_application_server(&self) -> Result<(), RuntimeError> {
        match self.config.application_server_value() {
            Some(_) => Ok(()),
            None => Err(crate::ConfigError::Missing("application.server").into()),
        }
    }

    /// The value of `key` in this instance's key-value store `store`, if a local task holds
    /// it (see [`query`](Self::query)).
    pub fn get<K, V>(&self, store: &str, key: K) -> Result<Option<V>, RuntimeError>
    where
        K: Send + Sync + 'static,
        V: Clone + Send + 'static,
    {
        let found = self.query(store, move |s: &crate::ReadOnlyKeyValueStore<K, V>| {
            s.get(&key)
        })?;
        Ok(found.into_iter().flatten().next())
    }

    /// Waits until the instance is in `state` (or `timeout` passes); returns whether it is.
    pub fn wait_for(&self, state: State, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.state() != state {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Checks the topology against the cluster, creates the internal topics it lacks, and
    /// starts the stream threads.
    ///
    /// Fails with [`RuntimeError::MissingSourceTopics`] or
    /// [`RuntimeError::CoPartitioning`] (naming the topics) before any thread starts.
    pub fn start(&self) -> Result<(), RuntimeError> {
        let state = self.state();
        if state != State::Created {
            return Err(RuntimeError::IllegalState {
                operation: "start",
                state,
            });
        }
        self.config.validate()?;
        let application_id = self.config.application_id();
        let metadata = startup::metadata_client(&self.config)?;
        let timeout = self.config.startup_timeout_value();
        let existing = topics::partition_counts(&metadata, timeout)
            .map_err(|e| startup::unreachable(&metadata, &self.config, timeout, e))?;
        let mut plan = topics::plan(&self.topology, application_id, &existing)?;
        let mut partition_counts = existing.clone();
        for topic in &plan.missing {
            partition_counts.insert(topic.name.clone(), topic.partitions);
        }
        let control = control::control_topic(application_id);
        if !existing.contains_key(&control) {
            plan.missing.push(InternalTopic {
                name: control,
                partitions: 1,
                configs: vec![("cleanup.policy".into(), "delete".into())],
            });
        }
        let directory = membership::directory_topic(application_id);
        if self.config.application_server_value().is_some() && !existing.contains_key(&directory) {
            plan.missing.push(InternalTopic {
                name: directory,
                partitions: 1,
                configs: vec![("cleanup.policy".into(), "compact".into())],
            });
        }
        if !plan.missing.is_empty() {
            tracing::info!(topics = ?plan.missing.iter().map(|t| &t.name).collect::<Vec<_>>(), "creating internal topics");
            self.topic_creator.create_topics(&plan.missing)?;
            wait_for_topics(&metadata, &plan.missing)?;
        }
        tracing::info!(tasks = ?plan.tasks_per_subtopology, "starting");
        if let Some(address) = self.config.metrics_endpoint_value() {
            metrics::install_prometheus(address)?;
            tracing::info!(%address, "serving metrics at /metrics");
        }

        let mut subtopology_of = HashMap::new();
        for id in self.topology.subtopology_ids() {
            for topic in self.topology.source_topics(id, application_id) {
                subtopology_of.insert(topic, id);
            }
        }
        let mut source_topics: Vec<String> = subtopology_of.keys().cloned().collect();
        source_topics.sort();
        let instance_id = instance_id(&self.config)?;
        let threads = self.config.num_stream_threads_value();
        self.shared.start_threads(threads);
        self.shared.transition(State::Rebalancing);
        let subtopology_of = Arc::new(subtopology_of);
        let mut handles = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        handles.push(control::follow(&self.config, Arc::clone(&self.shared))?);
        handles.push(state_cleaner::start(
            &self.config,
            Arc::clone(&self.shared),
        )?);
        if let Some(server) = self.config.application_server_value() {
            handles.push(membership::start(
                &self.config,
                Arc::clone(&self.shared),
                instance_id.clone(),
                server.clone(),
                Arc::clone(&self.directory),
            )?);
        }
        let template = ThreadSetup {
            index: 0,
            instance_id,
            topology: Arc::clone(&self.topology),
            config: self.config.clone(),
            shared: Arc::clone(&self.shared),
            source_topics,
            subtopology_of,
            interceptor: self.interceptor.clone(),
            partition_counts: Arc::new(partition_counts),
            restore_listener: Arc::clone(&self.restore_listener),
        };
        for index in 0..threads {
            handles.push(spawn_thread(&template, index)?);
        }
        *self.thread_setup.lock().unwrap_or_else(|p| p.into_inner()) = Some(template);
        Ok(())
    }

    /// The setup new stream threads copy; an error naming `operation` unless the instance
    /// runs or rebalances.
    fn thread_template(&self, operation: &'static str) -> Result<ThreadSetup, RuntimeError> {
        let state = self.state();
        let template = self
            .thread_setup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        template
            .filter(|_| matches!(state, State::Running | State::Rebalancing))
            .ok_or(RuntimeError::IllegalState { operation, state })
    }

    /// Starts one more stream thread (Kafka Streams' `addStreamThread`); the group
    /// rebalances to give it tasks. Returns its name. Only while running or rebalancing.
    pub fn add_stream_thread(&self) -> Result<String, RuntimeError> {
        let template = self.thread_template("add a stream thread to")?;
        let index = self.shared.add_thread();
        let handle = spawn_thread(&template, index)?;
        let name = thread_name(&template, index);
        self.threads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(handle);
        Ok(name)
    }

    /// Stops one stream thread (the most recently started one still alive; Kafka Streams'
    /// `removeStreamThread`): it commits, closes its tasks and leaves the group, which gives
    /// them to the other members. Returns its name once it has stopped, `None` if no thread
    /// is left, or [`RuntimeError::ThreadStopTimeout`] if it did not stop within `timeout`.
    pub fn remove_stream_thread(&self, timeout: Duration) -> Result<Option<String>, RuntimeError> {
        let template = self.thread_template("remove a stream thread from")?;
        let Some(index) = self.shared.retire_thread() else {
            return Ok(None);
        };
        let name = thread_name(&template, index);
        let deadline = Instant::now() + timeout;
        loop {
            let mut handles = self.threads.lock().unwrap_or_else(|p| p.into_inner());
            let position = handles
                .iter()
                .position(|h| h.thread().name() == Some(name.as_str()));
            match position {
                Some(i) if handles[i].is_finished() => {
                    let _ = handles.remove(i).join();
                    return Ok(Some(name));
                }
                None => return Ok(Some(name)),
                Some(_) if Instant::now() >= deadline => {
                    return Err(RuntimeError::ThreadStopTimeout {
                        thread: name,
                        timeout,
                    })
                }
                Some(_) => {}
            }
            drop(handles);
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Pauses processing (Kafka Streams' `pause()`, KIP-834): the stream threads stop
    /// processing and punctuating but stay in the group, keep restoring and committing, and
    /// stop fetching a partition once its buffer is full. Also before `start()`: the
    /// application then starts paused.
    pub fn pause(&self) {
        self.shared.set_paused(true);
    }

    /// Resumes processing after [`pause`](Self::pause).
    pub fn resume(&self) {
        self.shared.set_paused(false);
    }

    /// Whether processing is paused.
    pub fn is_paused(&self) -> bool {
        self.shared.paused()
    }

    /// The instance's id (Kafka Streams' process id): a UUID kept in
    /// `<state_dir>/<application.id>/instance.id`, made on first use, the same across
    /// restarts with that state directory. Transactional ids and client ids derive from it.
    pub fn instance_id(&self) -> Result<String, RuntimeError> {
        instance_id(&self.config)
    }

    /// Deletes this application's local state (Kafka Streams' `cleanUp()`): every task's
    /// stores and checkpoints under `<state_dir>/<application.id>`, and the global stores'
    /// replicas. The next start restores everything from the changelogs. Only while the
    /// instance does not run: before `start`, or after it stopped.
    pub fn clean_up(&self) -> Result<(), RuntimeError> {
        let state = self.state();
        if !matches!(state, State::Created | State::NotRunning | State::Error) {
            return Err(RuntimeError::IllegalState {
                operation: "clean_up",
                state,
            });
        }
        let root = self.config.state_dir_path();
        let application = self.config.application_id();
        let mut dirs = vec![root.join(application)];
        if let Ok(entries) = std::fs::read_dir(root) {
            dirs.extend(
                entries
                    .flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with("global-"))
                    .map(|e| e.path().join(application)),
            );
        }
        for dir in dirs {
            match std::fs::remove_dir_all(&dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(RuntimeError::CleanUp {
                        path: dir,
                        reason: e.to_string(),
                    })
                }
                _ => tracing::info!(dir = %dir.display(), "deleted local state"),
            }
        }
        Ok(())
    }

    /// Stops the threads (each commits and closes its tasks) and waits up to `timeout` for
    /// them. Returns whether they all stopped in time.
    pub fn close(&self, timeout: Duration) -> bool {
        let error = matches!(self.state(), State::PendingError | State::Error);
        if !error {
            self.shared.transition(State::PendingShutdown);
        }
        self.shared.request_shutdown();
        let deadline = Instant::now() + timeout;
        let mut handles = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        while handles.iter().any(|h| !h.is_finished()) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for handle in handles.drain(..) {
            let _ = handle.join();
        }
        self.shared
            .transition(if error || self.state() == State::PendingError {
                State::Error
            } else {
                State::NotRunning
            });
        true
    }
}

impl Drop for KafkaStreams {
    fn drop(&mut self) {
        if !matches!(
            self.state(),
            State::Created | State::NotRunning | State::Error
        ) {
            self.close(Duration::from_secs(60));
        }
    }
}

impl std::fmt::Debug for KafkaStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaStreams")
            .field("application_id", &self.config.application_id())
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

fn wait_for_topics(
    metadata: &startup::MetadataClient,
    topics: &[InternalTopic],
) -> Result<(), RuntimeError> {
    let deadline = Instant::now() + TOPIC_WAIT;
    loop {
        let existing = topics::partition_counts(metadata, Duration::from_secs(10))
            .map_err(RuntimeError::kafka("fetch metadata"))?;
        let missing: Vec<&InternalTopic> = topics
            .iter()
            .filter(|t| existing.get(&t.name) != Some(&t.partitions))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(RuntimeError::TopicCreation {
                topic: missing[0].name.clone(),
                reason: "created, but not in the cluster's metadata after 30 s".into(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The name of stream thread `index`.
fn thread_name(setup: &ThreadSetup, index: usize) -> String {
    format!("{}-stream-{index}", setup.config.application_id())
}

/// Starts stream thread `index`.
fn spawn_thread(template: &ThreadSetup, index: usize) -> std::io::Result<JoinHandle<()>> {
    let setup = ThreadSetup {
        index,
        ..template.clone()
    };
    std::thread::Builder::new()
        .name(thread_name(template, index))
        .spawn(move || thread::run(setup))
}

/// The instance's id, a random (v4) UUID kept in its state directory, as Kafka Streams'
/// process id: transactional ids derive from it, so a restarted instance fences the
/// producers of its previous run at once. An id of an older format is replaced.
fn instance_id(config: &StreamsConfig) -> Result<String, RuntimeError> {
    let dir = config.state_dir_path().join(config.application_id());
    let path = dir.join("instance.id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        if let Ok(id) = uuid::Uuid::parse_str(id.trim()) {
            return Ok(id.hyphenated().to_string());
        }
        tracing::info!(path = %path.display(), "replacing an instance id that is not a UUID");
    }
    let id = uuid::Uuid::new_v4().hyphenated().to_string();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(&path, &id)?;
    Ok(id)
}
