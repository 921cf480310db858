//! Application configuration and the handler for input that cannot become a record.

use std::path::{Path, PathBuf};
use std::sync::Arc;

#[cfg(feature = "rocksdb")]
use state_stores::RocksDbConfig;

use crate::handlers::{ProcessingExceptionHandler, ProductionExceptionHandler};
use crate::{RawRecord, StreamsError};

/// What an error handler does with a failed record: one that cannot be deserialized or has
/// an invalid timestamp ([`DeserializationHandler`]), whose processing failed
/// ([`ProcessingExceptionHandler`]), or that cannot be produced
/// ([`ProductionExceptionHandler`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HandlerResponse {
    /// Skip the record, count it, and go on.
    Continue,
    /// Stop with the error.
    Fail,
    /// Write the record's key and value unchanged to the handler's dead-letter topic (see
    /// [`DeserializationHandler::dead_letter_topic`]) with the reason, the node and the
    /// origin in headers (see [`dead_letter_headers`]), count it, and go on.
    DeadLetter,
}

/// The headers a dead-lettered record carries, besides its own.
pub mod dead_letter_headers {
    /// Why the record could not be read.
    pub const REASON: &str = "streams.error.reason";
    /// The topic it was read from.
    pub const TOPIC: &str = "streams.error.topic";
    /// Its partition there (decimal text).
    pub const PARTITION: &str = "streams.error.partition";
    /// Its offset there (decimal text).
    pub const OFFSET: &str = "streams.error.offset";
    /// The processor node that failed (processing and serialization errors only).
    pub const NODE: &str = "streams.error.node";
}

/// Decides the fate of input records that cannot become typed records.
pub trait DeserializationHandler: Send + Sync {
    /// Called with the error (which names the record's topic, partition and offset) and the
    /// record's bytes.
    fn handle(&self, error: &StreamsError, record: &RawRecord) -> HandlerResponse;

    /// The topic that [`HandlerResponse::DeadLetter`] sends records to, if the handler uses
    /// one.
    fn dead_letter_topic(&self) -> Option<&str> {
        None
    }
}

/// Sends every bad record, unchanged, to a dead-letter topic, with the reason and the
/// record's origin in headers (see [`dead_letter_headers`]), counts it, and goes on.
///
/// ```
/// use streams_core::{DeadLetterQueue, StreamsConfig};
///
/// let config = StreamsConfig::new("orders").deserialization_handler(DeadLetterQueue::new("orders-dlq"));
/// assert_eq!(config.deserialization_handler_ref().dead_letter_topic(), Some("orders-dlq"));
/// ```
#[derive(Clone, Debug)]
pub struct DeadLetterQueue {
    topic: String,
}

impl DeadLetterQueue {
    /// A handler that writes bad records to `topic`.
    pub fn new(topic: impl Into<String>) -> Self {
        Self {
            topic: topic.into(),
        }
    }

    /// The dead-letter topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }
}

impl DeserializationHandler for DeadLetterQueue {
    fn handle(&self, error: &StreamsError, _: &RawRecord) -> HandlerResponse {
        tracing::warn!(%error, topic = %self.topic, "dead-lettering a record");
        HandlerResponse::DeadLetter
    }

    fn dead_letter_topic(&self) -> Option<&str> {
        Some(&self.topic)
    }
}

/// Fails on the first bad record: the default, as in Kafka Streams.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogAndFail;

impl DeserializationHandler for LogAndFail {
    fn handle(&self, error: &StreamsError, _: &RawRecord) -> HandlerResponse {
        tracing::error!(%error, "failing on a record that cannot be read");
        HandlerResponse::Fail
    }
}

/// Which metrics are recorded (Kafka Streams' `metrics.recording.level`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MetricsRecordingLevel {
    /// Thread, task and store metrics that cost nothing per record (the default).
    #[default]
    Info,
    /// Also the latency of each store operation (put, get, delete, range).
    Debug,
}

/// Kafka's consumer property for static group membership.
pub(crate) const GROUP_INSTANCE_ID: &str = "group.instance.id";

/// Kafka's consumer property that chooses the group protocol.
pub(crate) const GROUP_PROTOCOL: &str = "group.protocol";

/// How the stream threads take part in their consumer group (Kafka's `group.protocol`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum GroupProtocol {
    /// The classic protocol with eager rebalancing (the default): every rebalance revokes
    /// every partition, so each thread commits and closes all of its tasks, and reopens
    /// those it gets back. Works with every broker.
    #[default]
    Classic,
    /// The consumer group protocol of KIP-848 (Apache Kafka 4.0 and later): rebalancing is
    /// incremental, so a rebalance revokes only the partitions that move, and the tasks
    /// that stay keep processing throughout. The broker assigns partitions with its `range`
    /// assignor, which gives the same partition numbers of topics with equal partition
    /// counts to the same member, as co-partitioning needs. Session and heartbeat timeouts
    /// are then the broker's settings (`group.consumer.session.timeout.ms`), not the
    /// client's.
    Consumer,
}

/// Logs a bad record, counts it in the task's `skipped` metric, and goes on.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogAndContinue;

impl DeserializationHandler for LogAndContinue {
    fn handle(&self, _: &StreamsError, _: &RawRecord) -> HandlerResponse {
        HandlerResponse::Continue
    }
}

/// The configuration of a streams application.
///
/// ```
/// use streams_core::{LogAndContinue, StreamsConfig};
///
/// let config = StreamsConfig::new("word-count").deserialization_handler(LogAndContinue);
/// assert_eq!(config.application_id(), "word-count");
/// ```
#[derive(Clone)]
pub struct StreamsConfig {
    application_id: String,
    deserialization_handler: Arc<dyn DeserializationHandler>,
    processing_handler: Arc<dyn ProcessingExceptionHandler>,
    production_handler: Arc<dyn ProductionExceptionHandler>,
    state_dir: PathBuf,
    #[cfg(feature = "rocksdb")]
    rocksdb: RocksDbConfig,
    cache_max_bytes: usize,
    max_out_of_orderness: std::time::Duration,
    quiet_inputs: crate::quiet::QuietInputs,
    /// `None`: the default (see `windowed_aggregation_emit_interval_value`).
    pub(crate) windowed_aggregation_emit_interval: Option<std::time::Duration>,
    kafka: KafkaSettings,
    metrics_endpoint: Option<std::net::SocketAddr>,
    application_server: Option<crate::HostInfo>,
    metrics_recording_level: MetricsRecordingLevel,
}

/// How much of a record's effect survives a failure.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProcessingGuarantee {
    /// Every input record's effect is applied at least once: after a crash, records since
    /// the last commit are processed again. The default.
    #[default]
    AtLeastOnce,
    /// Kafka transactions (exactly-once v2): outputs, changelog records and input offsets of
    /// a commit become visible together or not at all.
    ExactlyOnce,
}

/// Settings that only the Kafka runtime reads.
#[derive(Clone, Debug)]
struct KafkaSettings {
    bootstrap_servers: String,
    num_stream_threads: usize,
    guarantee: ProcessingGuarantee,
    commit_interval: Option<std::time::Duration>,
    replication_factor: i32,
    max_task_idle: std::time::Duration,
    state_cleanup_delay: std::time::Duration,
    repartition_purge_interval: std::time::Duration,
    startup_timeout: std::time::Duration,
    buffered_records_per_partition: usize,
    common: Vec<(String, String)>,
    consumer: Vec<(String, String)>,
    main_consumer: Vec<(String, String)>,
    restore_consumer: Vec<(String, String)>,
    global_consumer: Vec<(String, String)>,
    producer: Vec<(String, String)>,
    admin: Vec<(String, String)>,
}

impl Default for KafkaSettings {
    fn default() -> Self {
        Self {
            bootstrap_servers: "localhost:9092".to_owned(),
            num_stream_threads: 1,
            guarantee: ProcessingGuarantee::AtLeastOnce,
            commit_interval: None,
            replication_factor: 1,
            max_task_idle: std::time::Duration::ZERO,
            state_cleanup_delay: std::time::Duration::from_secs(600),
            repartition_purge_interval: std::time::Duration::from_secs(30),
            startup_timeout: std::time::Duration::from_secs(10),
            buffered_records_per_partition: 1_000,
            common: Vec::new(),
            consumer: Vec::new(),
            main_consumer: Vec::new(),
            restore_consumer: Vec::new(),
            global_consumer: Vec::new(),
            producer: Vec::new(),
            admin: Vec::new(),
        }
    }
}

/// `rust-streams-<user>` in the temporary directory: one directory per user, as Kafka
/// Streams does, so that another user's application never holds (or reads) our state.
fn default_state_dir() -> PathBuf {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .ok()
        .filter(|u| {
            !u.is_empty()
                && u.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        })
        .or_else(process_uid)
        .unwrap_or_else(|| "user".to_owned());
    std::env::temp_dir().join(format!("rust-streams-{user}"))
}

#[cfg(unix)]
fn process_uid() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    // The owner of /proc/self is the process's user.
    std::fs::metadata("/proc/self")
        .ok()
        .map(|m| m.uid().to_string())
}

#[cfg(not(unix))]
fn process_uid() -> Option<String> {
    None
}

impl StreamsConfig {
    /// A configuration for the application `application_id`, which names its consumer group
    /// and prefixes its internal topics.
    pub fn new(application_id: impl Into<String>) -> Self {
        Self {
            application_id: application_id.into(),
            deserialization_handler: Arc::new(LogAndFail),
            processing_handler: Arc::new(LogAndFail),
            production_handler: Arc::new(LogAndFail),
            state_dir: default_state_dir(),
            #[cfg(feature = "rocksdb")]
            rocksdb: RocksDbConfig::default(),
            cache_max_bytes: Self::DEFAULT_CACHE_MAX_BYTES,
            max_out_of_orderness: std::time::Duration::ZERO,
            quiet_inputs: crate::quiet::QuietInputs::default(),
            windowed_aggregation_emit_interval: None,
            kafka: KafkaSettings::default(),
            metrics_endpoint: None,
            application_server: None,
            metrics_recording_level: MetricsRecordingLevel::Info,
        }
    }

    /// Sets the Kafka cluster to connect to, as `host:port[,host:port...]` (default
    /// `localhost:9092`).
    pub fn bootstrap_servers(mut self, servers: impl Into<String>) -> Self {
        self.kafka.bootstrap_servers = servers.into();
        self
    }

    /// The Kafka cluster to connect to.
    pub fn bootstrap_servers_value(&self) -> &str {
        &self.kafka.bootstrap_servers
    }

    /// Sets how many stream threads an instance runs (default 1). Each has its own consumer
    /// and the tasks of the partitions the group assigns it. 0 is refused when the
    /// application starts (see [`validate`](Self::validate)).
    pub fn num_stream_threads(mut self, threads: usize) -> Self {
        self.kafka.num_stream_threads = threads;
        self
    }

    /// The number of stream threads.
    pub fn num_stream_threads_value(&self) -> usize {
        self.kafka.num_stream_threads
    }

    /// Sets the processing guarantee (default at-least-once).
    pub fn processing_guarantee(mut self, guarantee: ProcessingGuarantee) -> Self {
        self.kafka.guarantee = guarantee;
        self
    }

    /// The processing guarantee.
    pub fn processing_guarantee_value(&self) -> ProcessingGuarantee {
        self.kafka.guarantee
    }

    /// Sets how often stream threads commit (default 30 s at-least-once, 100 ms exactly-once,
    /// as in Kafka Streams).
    pub fn commit_interval(mut self, interval: std::time::Duration) -> Self {
        self.kafka.commit_interval = Some(interval);
        self
    }

    /// How often stream threads commit.
    pub fn commit_interval_value(&self) -> std::time::Duration {
        self.kafka
            .commit_interval
            .unwrap_or(match self.kafka.guarantee {
                ProcessingGuarantee::AtLeastOnce => std::time::Duration::from_secs(30),
                ProcessingGuarantee::ExactlyOnce => std::time::Duration::from_millis(100),
            })
    }

    /// Sets the replication factor of the internal topics the runtime creates (default 1).
    pub fn replication_factor(mut self, factor: i32) -> Self {
        self.kafka.replication_factor = factor;
        self
    }

    /// The replication factor of internal topics.
    pub fn replication_factor_value(&self) -> i32 {
        self.kafka.replication_factor
    }

    /// Sets how long a task with some empty input partitions waits for them before it
    /// processes what it has (Kafka Streams' `max.task.idle.ms`; default 0: it waits only for
    /// the fetch in flight).
    pub fn max_task_idle(mut self, idle: std::time::Duration) -> Self {
        self.kafka.max_task_idle = idle;
        self
    }

    /// Sets how long the local state of a task this instance no longer runs is kept (Kafka
    /// Streams' `state.cleanup.delay.ms`, default 10 minutes): a task that comes back
    /// within it restores only what changed, one that does not has its directory under
    /// [`state_dir`](Self::state_dir) removed after it. Directories of an earlier run count
    /// from their last modification. The instance looks for such directories as often as
    /// the delay, at most every minute.
    pub fn state_cleanup_delay(mut self, delay: std::time::Duration) -> Self {
        self.kafka.state_cleanup_delay = delay;
        self
    }

    /// How long the local state of a task no longer run here is kept.
    pub fn state_cleanup_delay_value(&self) -> std::time::Duration {
        self.kafka.state_cleanup_delay
    }

    /// Sets how often, at most, a stream thread deletes the records of repartition topics
    /// below its committed offsets, after a commit (Kafka Streams'
    /// `repartition.purge.interval.ms`, default 30 s).
    pub fn repartition_purge_interval(mut self, interval: std::time::Duration) -> Self {
        self.kafka.repartition_purge_interval = interval;
        self
    }

    /// How often, at most, repartition topics are purged.
    pub fn repartition_purge_interval_value(&self) -> std::time::Duration {
        self.kafka.repartition_purge_interval
    }

    /// How long a task waits for its empty input partitions.
    pub fn max_task_idle_value(&self) -> std::time::Duration {
        self.kafka.max_task_idle
    }

    /// Sets how many records of one input partition a task may still hold after processing
    /// before the thread pauses fetching that partition (Kafka Streams'
    /// `buffered.records.per.partition`, default 1000); it resumes once half of them are
    /// processed. A task that keeps up never holds that many, so only a partition held back
    /// (by pacing, or by a slower task) is paused, and the others' records come in. 0 is
    /// refused when the application starts (see [`validate`](Self::validate)).
    pub fn buffered_records_per_partition(mut self, records: usize) -> Self {
        self.kafka.buffered_records_per_partition = records;
        self
    }

    /// How many records of one input partition a task buffers.
    pub fn buffered_records_per_partition_value(&self) -> usize {
        self.kafka.buffered_records_per_partition
    }

    /// Sets how long `KafkaStreams::start()` waits for the cluster to answer before it
    /// fails, naming the address and the cause (default 10 s).
    pub fn startup_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.kafka.startup_timeout = timeout;
        self
    }

    /// How long `start()` waits for the cluster.
    pub fn startup_timeout_value(&self) -> std::time::Duration {
        self.kafka.startup_timeout
    }

    /// Passes a property to every rdkafka client the runtime creates: the consumers (group,
    /// restore, global and start-up), the producers and the admin client; the per-client
    /// properties below override it. A secured cluster's `security.protocol`, `sasl.*` and
    /// `ssl.*` settings go here, so that no client is left without them.
    ///
    /// ```
    /// use streams_core::StreamsConfig;
    ///
    /// let config = StreamsConfig::new("word-count")
    ///     .client_property("security.protocol", "SASL_SSL")
    ///     .client_property("sasl.mechanism", "SCRAM-SHA-512");
    /// assert_eq!(config.client_properties().common.len(), 2);
    /// ```
    pub fn client_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.kafka.common.push((key.into(), value.into()));
        self
    }

    /// Passes a property to the rdkafka consumers (it overrides the runtime's own settings).
    pub fn consumer_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.kafka.consumer.push((key.into(), value.into()));
        self
    }

    /// Passes a property to the group consumers of the stream threads only (Kafka Streams'
    /// `main.consumer.` prefix); it overrides [`consumer_property`](Self::consumer_property).
    pub fn main_consumer_property(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.kafka.main_consumer.push((key.into(), value.into()));
        self
    }

    /// Makes the instance a static member of its consumer group (Kafka's
    /// `group.instance.id`, KIP-345): each stream thread joins as `<id>-<thread index>`, so
    /// ids differ across threads and stay the same across restarts. A restarted instance
    /// that comes back within the session timeout (`session.timeout.ms`, a consumer
    /// property) gets its tasks back without a rebalance. Every instance of the application
    /// needs an id of its own. The same as setting `group.instance.id` as a consumer property.
    ///
    /// A static member does not leave the group when it closes: its tasks move to other
    /// instances only once its session has timed out.
    ///
    /// ```
    /// use streams_core::StreamsConfig;
    ///
    /// let config = StreamsConfig::new("orders")
    ///     .group_instance_id("orders-host-1")
    ///     .consumer_property("session.timeout.ms", "30000");
    /// ```
    pub fn group_instance_id(self, id: impl Into<String>) -> Self {
        self.main_consumer_property(GROUP_INSTANCE_ID, id)
    }

    /// Chooses the consumer group protocol (see [`GroupProtocol`]; Kafka's
    /// `group.protocol`). [`GroupProtocol::Consumer`] gives cooperative rebalancing, on
    /// brokers that support KIP-848.
    ///
    /// ```
    /// use streams_core::{GroupProtocol, StreamsConfig};
    ///
    /// let config = StreamsConfig::new("orders").group_protocol(GroupProtocol::Consumer);
    /// ```
    pub fn group_protocol(self, protocol: GroupProtocol) -> Self {
        let value = match protocol {
            GroupProtocol::Classic => "classic",
            GroupProtocol::Consumer => "consumer",
        };
        self.main_consumer_property(GROUP_PROTOCOL, value)
    }

    /// Passes a property to the consumers that restore stores from changelogs only (Kafka
    /// Streams' `restore.consumer.` prefix).
    pub fn restore_consumer_property(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.kafka.restore_consumer.push((key.into(), value.into()));
        self
    }

    /// Passes a property to the consumers that keep global stores only (Kafka Streams'
    /// `global.consumer.` prefix).
    pub fn global_consumer_property(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.kafka.global_consumer.push((key.into(), value.into()));
        self
    }

    /// Passes a property to the rdkafka producers.
    pub fn producer_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.kafka.producer.push((key.into(), value.into()));
        self
    }

    /// Passes a property to the rdkafka admin client.
    pub fn admin_property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.kafka.admin.push((key.into(), value.into()));
        self
    }

    /// The rdkafka properties passed to consumers, producers and the admin client.
    pub fn client_properties(&self) -> ClientProperties<'_> {
        ClientProperties {
            common: &self.kafka.common,
            consumer: &self.kafka.consumer,
            main_consumer: &self.kafka.main_consumer,
            restore_consumer: &self.kafka.restore_consumer,
            global_consumer: &self.kafka.global_consumer,
            producer: &self.kafka.producer,
            admin: &self.kafka.admin,
        }
    }

    /// Sets how far the watermark trails stream time (default 0: the watermark is stream
    /// time, as in Kafka Streams). Windows close on the watermark, so a larger value keeps
    /// them open for records that arrive out of order.
    pub fn max_out_of_orderness(mut self, by: std::time::Duration) -> Self {
        self.max_out_of_orderness = by;
        self
    }

    /// How far the watermark trails stream time, in ms.
    pub fn max_out_of_orderness_ms(&self) -> i64 {
        i64::try_from(self.max_out_of_orderness.as_millis()).unwrap_or(i64::MAX)
    }

    /// Turns on the idle-partition timeout (our extension; off by default, as Kafka
    /// Streams): once a task's input partitions have been quiet for `timeout` of wall-clock
    /// time (nothing buffered, nothing arriving), its watermark follows the smallest
    /// watermark of the tasks that are not quiet among those the driver runs (the test
    /// driver's tasks, or those of a stream thread), so its windows, sessions and
    /// suppressed results close as the rest of the input moves on, as Flink's source
    /// idleness. Stream time itself stays the largest record time processed. Different from
    /// [`max_task_idle`](Self::max_task_idle), which only bounds how long a task waits for
    /// data before it picks its next record. See [`crate::quiet`].
    pub fn idle_partition_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.quiet_inputs.idle_partition_timeout = Some(timeout);
        self
    }

    /// The idle-partition timeout, if on.
    pub fn idle_partition_timeout_value(&self) -> Option<std::time::Duration> {
        self.quiet_inputs.idle_partition_timeout
    }

    /// Turns on the wall-clock watermark (our extension; off by default, as Kafka Streams):
    /// once a task's inputs have been quiet for `watermark.idle`, its watermark is at least
    /// the wall clock (the test driver's clock in tests) minus `watermark.max_lag`, so that
    /// windows and suppression emit final results even when no input comes at all. Meant for
    /// record times that follow the wall clock: records older than the lag that arrive after
    /// a quiet spell are late. See [`crate::quiet`].
    pub fn wall_clock_watermark(mut self, watermark: crate::WallClockWatermark) -> Self {
        self.quiet_inputs.wall_clock_watermark = Some(watermark);
        self
    }

    /// The wall-clock watermark's settings, if on.
    pub fn wall_clock_watermark_value(&self) -> Option<crate::WallClockWatermark> {
        self.quiet_inputs.wall_clock_watermark
    }

    /// The rules for quiet inputs that are on.
    pub(crate) fn quiet_inputs(&self) -> crate::quiet::QuietInputs {
        self.quiet_inputs
    }

    /// The default of [`windowed_aggregation_emit_interval`](Self::windowed_aggregation_emit_interval):
    /// 1 s, as in Kafka Streams.
    pub const DEFAULT_WINDOWED_AGGREGATION_EMIT_INTERVAL: std::time::Duration =
        std::time::Duration::from_secs(1);

    /// Sets how often, at most, an emit-on-window-close aggregation looks for windows that
    /// have closed (by wall-clock time; Kafka Streams'
    /// `emit.interval.ms.kstreams.windowed.aggregation`, default 1 s): a closed window's
    /// result may wait for up to this long, or for the next record after it. The
    /// `TopologyTestDriver` uses 0 (look on every record) unless this is set, as Kafka
    /// Streams' driver does.
    pub fn windowed_aggregation_emit_interval(mut self, interval: std::time::Duration) -> Self {
        self.windowed_aggregation_emit_interval = Some(interval);
        self
    }

    /// The emit-on-window-close throttle, in ms.
    pub fn windowed_aggregation_emit_interval_ms(&self) -> i64 {
        let interval = self
            .windowed_aggregation_emit_interval
            .unwrap_or(Self::DEFAULT_WINDOWED_AGGREGATION_EMIT_INTERVAL);
        i64::try_from(interval.as_millis()).unwrap_or(i64::MAX)
    }

    /// The default record-cache budget of a stream thread: 10 MiB, as in Kafka Streams.
    pub const DEFAULT_CACHE_MAX_BYTES: usize = 10 << 20;

    /// Sets the record-cache budget that the cached stores of a stream thread share (Kafka
    /// Streams' `statestore.cache.max.bytes`); 0 makes every update go through at once.
    pub fn cache_max_bytes(mut self, bytes: usize) -> Self {
        self.cache_max_bytes = bytes;
        self
    }

    /// The record-cache budget of a stream thread.
    pub fn cache_max_bytes_value(&self) -> usize {
        self.cache_max_bytes
    }

    /// Sets the directory under which tasks keep their stores and checkpoint files (default:
    /// `rust-streams-<user>` in the system's temporary directory, so that users of one
    /// machine never share it). Each task uses `<state_dir>/<application.id>/<task id>`.
    pub fn state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = dir.into();
        self
    }

    /// Sets the memory budget and tuning of the RocksDB stores (see [`RocksDbConfig`] for the
    /// defaults). Every store of the application shares it.
    #[cfg(feature = "rocksdb")]
    pub fn rocksdb(mut self, config: RocksDbConfig) -> Self {
        self.rocksdb = config;
        self
    }

    /// The state directory.
    pub fn state_dir_path(&self) -> &Path {
        &self.state_dir
    }

    /// The RocksDB configuration.
    #[cfg(feature = "rocksdb")]
    pub fn rocksdb_config(&self) -> &RocksDbConfig {
        &self.rocksdb
    }

    /// The directory of the task `task`: `<state_dir>/<application.id>/<task id>`.
    pub fn task_dir(&self, task: crate::TaskId) -> PathBuf {
        self.state_dir
            .join(&self.application_id)
            .join(task.to_string())
    }

    /// Sets the handler for records that cannot be deserialized (default: [`LogAndFail`]).
    pub fn deserialization_handler(
        mut self,
        handler: impl DeserializationHandler + 'static,
    ) -> Self {
        self.deserialization_handler = Arc::new(handler);
        self
    }

    /// The application id.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// The handler for records that cannot be deserialized.
    pub fn deserialization_handler_ref(&self) -> &Arc<dyn DeserializationHandler> {
        &self.deserialization_handler
    }

    /// Sets the handler for records whose processing fails, panics included (Kafka Streams'
    /// `processing.exception.handler`; default: [`LogAndFail`]).
    pub fn processing_exception_handler(
        mut self,
        handler: impl ProcessingExceptionHandler + 'static,
    ) -> Self {
        self.processing_handler = Arc::new(handler);
        self
    }

    /// The handler for records whose processing fails.
    pub fn processing_exception_handler_ref(&self) -> &Arc<dyn ProcessingExceptionHandler> {
        &self.processing_handler
    }

    /// Sets the handler for records that cannot be serialized or sent (Kafka Streams'
    /// `production.exception.handler`; default: [`LogAndFail`]).
    pub fn production_exception_handler(
        mut self,
        handler: impl ProductionExceptionHandler + 'static,
    ) -> Self {
        self.production_handler = Arc::new(handler);
        self
    }

    /// The handler for records that cannot be serialized or sent.
    pub fn production_exception_handler_ref(&self) -> &Arc<dyn ProductionExceptionHandler> {
        &self.production_handler
    }

    /// Serves the application's metrics in Prometheus' text format at
    /// `http://<address>/metrics` (off by default; the exporter becomes the process's
    /// `metrics` recorder, so one address per process).
    pub fn metrics_endpoint(mut self, address: std::net::SocketAddr) -> Self {
        self.metrics_endpoint = Some(address);
        self
    }

    /// Where the metrics are served, if they are.
    pub fn metrics_endpoint_value(&self) -> Option<std::net::SocketAddr> {
        self.metrics_endpoint
    }

    /// The `host:port` at which this instance answers the queries of other instances (Kafka
    /// Streams' `application.server`; served by the user's own server). The instances then
    /// tell each other where their tasks run, and
    /// [`KafkaStreams::query_metadata_for_key`](crate::runtime::KafkaStreams::query_metadata_for_key)
    /// names the instance that holds a key.
    ///
    /// ```
    /// use streams_core::{HostInfo, StreamsConfig};
    ///
    /// let server = HostInfo::parse("orders-1.internal:8080").expect("host:port");
    /// let config = StreamsConfig::new("orders").application_server(server);
    /// ```
    pub fn application_server(mut self, server: crate::HostInfo) -> Self {
        self.application_server = Some(server);
        self
    }

    /// Where this instance answers queries, if it does.
    pub fn application_server_value(&self) -> Option<&crate::HostInfo> {
        self.application_server.as_ref()
    }

    /// Sets which metrics are recorded (Kafka Streams' `metrics.recording.level`; default
    /// [`Info`](MetricsRecordingLevel::Info)). [`Debug`](MetricsRecordingLevel::Debug) also
    /// times every operation on the stores' engines (put, get, delete, range), which costs
    /// two clock reads per operation.
    ///
    /// ```
    /// use streams_core::{MetricsRecordingLevel, StreamsConfig};
    ///
    /// let config = StreamsConfig::new("orders").metrics_recording_level(MetricsRecordingLevel::Debug);
    /// assert_eq!(config.metrics_recording_level_value(), MetricsRecordingLevel::Debug);
    /// ```
    pub fn metrics_recording_level(mut self, level: MetricsRecordingLevel) -> Self {
        self.metrics_recording_level = level;
        self
    }

    /// Which metrics are recorded.
    pub fn metrics_recording_level_value(&self) -> MetricsRecordingLevel {
        self.metrics_recording_level
    }

    /// The dead-letter topics of the three handlers (each once).
    pub fn dead_letter_topics(&self) -> Vec<&str> {
        let mut topics = Vec::new();
        for topic in [
            self.deserialization_handler.dead_letter_topic(),
            self.processing_handler.dead_letter_topic(),
            self.production_handler.dead_letter_topic(),
        ]
        .into_iter()
        .flatten()
        {
            if !topics.contains(&topic) {
                topics.push(topic);
            }
        }
        topics
    }
}

/// The rdkafka properties a configuration passes through, by client.
#[derive(Clone, Copy, Debug)]
pub struct ClientProperties<'a> {
    /// For every client; the per-client properties override these.
    pub common: &'a [(String, String)],
    /// For consumers.
    pub consumer: &'a [(String, String)],
    /// For the group consumers of stream threads (after `consumer`).
    pub main_consumer: &'a [(String, String)],
    /// For the consumers that restore stores (after `consumer`).
    pub restore_consumer: &'a [(String, String)],
    /// For the consumers that keep global stores (after `consumer`).
    pub global_consumer: &'a [(String, String)],
    /// For producers.
    pub producer: &'a [(String, String)],
    /// For the admin client.
    pub admin: &'a [(String, String)],
}

impl std::fmt::Debug for StreamsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsConfig")
            .field("application_id", &self.application_id)
            .field("state_dir", &self.state_dir)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_state_dir_belongs_to_the_user() {
        let dir = StreamsConfig::new("app").state_dir_path().to_path_buf();
        assert_eq!(dir.parent(), Some(std::env::temp_dir().as_path()));
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let user = name.strip_prefix("rust-streams-").unwrap_or_default();
        assert!(!user.is_empty(), "{name}");
        assert_eq!(
            StreamsConfig::new("app").task_dir(crate::TaskId {
                subtopology: 0,
                partition: 3
            }),
            dir.join("app").join("0_3")
        );
    }
}
