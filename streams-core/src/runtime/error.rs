//! The errors of the Kafka runtime.

use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

use crate::StreamsError;

/// What can go wrong starting or running an application against Kafka.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RuntimeError {
    /// Local state could not be deleted.
    #[error("could not delete {path}: {reason}")]
    CleanUp {
        /// The directory.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// The metrics endpoint could not be set up.
    #[error("metrics: {0}")]
    Metrics(String),
    /// A Kafka client call failed.
    #[error("Kafka {operation} failed: {source}")]
    Kafka {
        /// What the runtime was doing.
        operation: &'static str,
        /// The client's error.
        #[source]
        source: KafkaError,
    },
    /// The cluster did not answer within the start-up timeout.
    #[error(
        "could not reach the Kafka cluster at {bootstrap_servers} within {timeout:?}: {cause}"
    )]
    Unreachable {
        /// The `bootstrap.servers` tried.
        bootstrap_servers: String,
        /// How long `start()` tried.
        timeout: std::time::Duration,
        /// What the client last reported (a name that does not resolve, a refused
        /// connection, ...).
        cause: String,
    },
    /// The cluster refused the client: its login (SASL) or TLS handshake failed, for example
    /// with a wrong password or a broker certificate it does not trust. The code is
    /// `Authentication` for the login and `SSL` for the handshake; librdkafka's log has the
    /// details.
    #[error("Kafka refused the client's login or TLS handshake: {0}")]
    Authentication(RDKafkaErrorCode),
    /// Topics the topology reads do not exist.
    #[error("source topics do not exist: {}", .0.join(", "))]
    MissingSourceTopics(Vec<String>),
    /// The inputs of one sub-topology have different partition counts, so one task cannot
    /// read the same partition number of each.
    #[error(
        "topics of sub-topology {subtopology} must be co-partitioned (equal partition counts), \
         but have {}",
        .topics.iter().map(|(t, n)| format!("{t}: {n}")).collect::<Vec<_>>().join(", ")
    )]
    CoPartitioning {
        /// The sub-topology.
        subtopology: u32,
        /// Each input topic with its partition count.
        topics: Vec<(String, i32)>,
    },
    /// An internal topic exists with a partition count other than the one it needs.
    #[error("internal topic {topic} has {actual} partitions, but needs {expected}")]
    InternalTopicPartitions {
        /// The topic.
        topic: String,
        /// The partitions it needs.
        expected: i32,
        /// The partitions it has.
        actual: i32,
    },
    /// An internal topic could not be created.
    #[error("could not create internal topic {topic}: {reason}")]
    TopicCreation {
        /// The topic.
        topic: String,
        /// Why.
        reason: String,
    },
    /// The partition counts of repartition topics cannot be derived from the topology.
    #[error("cannot derive the partition count of internal topics {}", .0.join(", "))]
    UnknownPartitions(Vec<String>),
    /// Processing failed.
    #[error(transparent)]
    Streams(#[from] StreamsError),
    /// The call is not allowed in the instance's current state.
    #[error("cannot {operation} an instance that is {state:?}")]
    IllegalState {
        /// The call.
        operation: &'static str,
        /// The instance's state.
        state: crate::runtime::State,
    },
    /// A stream thread asked to stop did not stop in time.
    #[error("stream thread {thread} did not stop within {timeout:?}")]
    ThreadStopTimeout {
        /// The thread's name.
        thread: String,
        /// How long it was given.
        timeout: std::time::Duration,
    },
    /// The configuration cannot be used (it names the key).
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// A stream thread could not be started.
    #[error("could not start a stream thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The embedded broker stopped answering.
    #[error("the embedded Kafka cluster is not running")]
    EmbeddedClusterStopped,
    /// A task's local state does not fit its changelog (a checkpoint beyond the changelog's
    /// end or before its start) and could not be wiped.
    #[error("task {task}: local state does not fit its changelog: {reason}")]
    CorruptedState {
        /// The task.
        task: crate::TaskId,
        /// What does not fit, and why wiping failed.
        reason: String,
    },
    /// A record could not be sent (as seen by a send interceptor or a delivery report).
    #[error("could not send a record to {topic}: {reason}")]
    Send {
        /// The destination topic.
        topic: String,
        /// Why.
        reason: String,
    },
}

impl RuntimeError {
    pub(crate) fn kafka(operation: &'static str) -> impl FnOnce(KafkaError) -> Self {
        move |source| RuntimeError::Kafka { operation, source }
    }
}
