//! The errors of building and running topologies.

use state_stores::StoreError;
use thiserror::Error;

use crate::SerdeError;

/// Which part of a record a serde failed on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordPart {
    /// The key.
    Key,
    /// The value.
    Value,
}

impl std::fmt::Display for RecordPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RecordPart::Key => "key",
            RecordPart::Value => "value",
        })
    }
}

/// A mistake in how a topology was put together, found when it is built or run.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TopologyError {
    /// Two nodes, or two stores, share a name.
    #[error("the name `{0}` is used twice in the topology")]
    DuplicateName(String),
    /// A node names a parent that does not exist.
    #[error("node `{node}` names an unknown parent `{parent}`")]
    UnknownParent {
        /// The node being added.
        node: String,
        /// The missing parent.
        parent: String,
    },
    /// A sink cannot be a parent.
    #[error("node `{node}` cannot have the sink `{parent}` as its parent")]
    SinkAsParent {
        /// The node being added.
        node: String,
        /// The sink named as its parent.
        parent: String,
    },
    /// A processor or sink needs at least one parent.
    #[error("node `{0}` needs at least one parent")]
    NoParent(String),
    /// Two sources read one topic.
    #[error("topic `{0}` is read by two sources")]
    TopicReadTwice(String),
    /// A parent's output types differ from its child's input types.
    #[error("node `{child}` takes {expected} but its parent `{parent}` produces {actual}")]
    TypeMismatch {
        /// The parent.
        parent: String,
        /// The child.
        child: String,
        /// The child's input key and value types.
        expected: &'static str,
        /// The parent's output key and value types.
        actual: &'static str,
    },
    /// A store is connected to a node that is not a processor, or to an unknown node.
    #[error("store `{store}` cannot be connected to `{node}`: no processor has that name")]
    UnknownProcessor {
        /// The store.
        store: String,
        /// The node named.
        node: String,
    },
    /// A store that is named but not added.
    #[error("no store named `{0}` was added to the topology")]
    UnknownStore(String),
    /// An operation needs a serde for a type that has none registered and none given.
    #[error("{operation} needs a serde for `{type_name}`: give one with {give_with}, or register one for the type with `StreamsBuilder::with_serde`")]
    MissingSerde {
        /// The operation.
        operation: String,
        /// The type without a serde.
        type_name: &'static str,
        /// The configuration that gives the operation its serdes (for example
        /// `Consumed::with` for a source topic).
        give_with: &'static str,
    },
    /// A topology without any source.
    #[error("the topology has no source")]
    NoSource,
    /// An operation that cannot apply where it was used.
    #[error("invalid operation: {0}")]
    InvalidOperation(String),
}

/// Why a typed state store operation failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StateError {
    /// The engine failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key or value could not pass through its serde.
    #[error("store serde failed: {0}")]
    Serde(#[from] SerdeError),
}

/// Why a processor failed on a record or a punctuation.
#[derive(Debug, Error)]
pub enum ProcessorError {
    /// A state store failed.
    #[error(transparent)]
    Store(Box<StoreError>),
    /// A serde failed.
    #[error("serde failed: {0}")]
    Serde(#[from] SerdeError),
    /// A state store operation failed.
    #[error(transparent)]
    State(Box<StateError>),
    /// A record could not be serialized for a sink.
    #[error("cannot serialize the {part} for topic `{topic}`: {source}")]
    Serialization {
        /// The destination topic.
        topic: String,
        /// Key or value.
        part: RecordPart,
        /// The serde's error.
        source: SerdeError,
    },
    /// `forward_to` named a child that the node does not have.
    #[error("no child named `{0}`")]
    UnknownChild(String),
    /// A store that this processor is not connected to, or that does not exist.
    #[error("processor is not connected to a store named `{0}`")]
    UnknownStore(String),
    /// A store exists but is of another kind or key/value type.
    #[error("store `{store}` is not a {expected}")]
    StoreType {
        /// The store.
        store: String,
        /// The kind and types asked for.
        expected: &'static str,
    },
    /// User code panicked.
    #[error("panicked: {0}")]
    Panic(String),
    /// User code failed.
    #[error(transparent)]
    Failed(Box<dyn std::error::Error + Send + Sync>),
    /// A suppression buffer configured to fail when full is full.
    #[error("suppression buffer `{buffer}` is full ({records} keys, {bytes} bytes) and is configured to fail when full")]
    BufferFull {
        /// The buffer's store.
        buffer: String,
        /// The keys it holds.
        records: usize,
        /// The bytes it holds.
        bytes: usize,
    },
    /// A node failed; the error names it.
    #[error("node `{node}` failed: {source}")]
    InNode {
        /// The failing node.
        node: String,
        /// Why it failed.
        source: Box<ProcessorError>,
    },
}

impl From<StoreError> for ProcessorError {
    fn from(e: StoreError) -> Self {
        ProcessorError::Store(Box::new(e))
    }
}

impl From<StateError> for ProcessorError {
    fn from(e: StateError) -> Self {
        ProcessorError::State(Box::new(e))
    }
}

impl ProcessorError {
    /// A failure described by a message.
    pub fn message(message: impl Into<String>) -> Self {
        ProcessorError::Failed(message.into().into())
    }

    /// A failure wrapping any error.
    pub fn other(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ProcessorError::Failed(Box::new(error))
    }

    /// This error, attributed to `node` unless it already names the node that failed.
    pub(crate) fn in_node(self, node: &str) -> Self {
        match self {
            ProcessorError::InNode { .. } => self,
            other => ProcessorError::InNode {
                node: node.to_owned(),
                source: Box::new(other),
            },
        }
    }

    /// The error, without the node that reported it.
    pub fn root(&self) -> &ProcessorError {
        match self {
            ProcessorError::InNode { source, .. } => source.root(),
            other => other,
        }
    }
}

/// An error from building, running or testing a topology.
#[derive(Debug, Error)]
pub enum StreamsError {
    /// The topology is malformed.
    #[error("invalid topology: {0}")]
    Topology(#[from] TopologyError),
    /// A record's key or value could not be deserialized.
    #[error(
        "cannot deserialize the {part} of the record at {topic}-{partition}@{offset}: {source}"
    )]
    Deserialization {
        /// The record's topic.
        topic: String,
        /// The record's partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// Key or value.
        part: RecordPart,
        /// The serde's error.
        source: SerdeError,
    },
    /// A record's time (from its timestamp or the extractor) is negative.
    #[error("the record at {topic}-{partition}@{offset} has the invalid timestamp {timestamp}")]
    InvalidTimestamp {
        /// The record's topic.
        topic: String,
        /// The record's partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// The invalid time.
        timestamp: i64,
    },
    /// Processing a record failed.
    #[error("processing the record at {topic}-{partition}@{offset} failed: {source}")]
    Processing {
        /// The record's topic.
        topic: String,
        /// The record's partition.
        partition: i32,
        /// The record's offset.
        offset: i64,
        /// What failed.
        source: ProcessorError,
    },
    /// A punctuation failed.
    #[error("punctuation at {timestamp} in task {task} failed: {source}")]
    Punctuation {
        /// The task.
        task: String,
        /// The punctuation's time.
        timestamp: i64,
        /// What failed.
        source: ProcessorError,
    },
    /// Flushing a processor's caches failed.
    #[error("flushing the caches of task {task} failed: {source}")]
    Flush {
        /// The task.
        task: String,
        /// What failed.
        source: ProcessorError,
    },
    /// Initializing a processor failed.
    #[error("initializing task {task} failed: {source}")]
    Init {
        /// The task.
        task: String,
        /// What failed.
        source: ProcessorError,
    },
    /// A topic that the topology neither reads nor writes.
    #[error("the topology has no {direction} topic `{topic}`")]
    UnknownTopic {
        /// The topic.
        topic: String,
        /// `input` or `output`.
        direction: &'static str,
    },
    /// A store that the topology does not have.
    #[error("the topology has no store named `{0}`")]
    UnknownStore(String),
    /// A store of another kind or type than asked for.
    #[error("store `{store}` is not a {expected}")]
    StoreType {
        /// The store.
        store: String,
        /// The kind and types asked for.
        expected: &'static str,
    },
    /// An output topic has no record left to read.
    #[error("no record left in output topic `{0}`")]
    NoRecord(String),
    /// A serde failed outside of record processing (for example in a test topic).
    #[error("serde failed on topic `{topic}`: {source}")]
    Serde {
        /// The topic.
        topic: String,
        /// The serde's error.
        source: SerdeError,
    },
    /// A state store failed outside of record processing.
    #[error(transparent)]
    Store(Box<StoreError>),
    /// A typed state store operation failed outside of record processing.
    #[error(transparent)]
    State(Box<StateError>),
}

impl From<StoreError> for StreamsError {
    fn from(e: StoreError) -> Self {
        StreamsError::Store(Box::new(e))
    }
}

impl From<StateError> for StreamsError {
    fn from(e: StateError) -> Self {
        StreamsError::State(Box::new(e))
    }
}
