//! The core of the library: records and serdes, the Processor API, topologies and tasks, and
//! the [`TopologyTestDriver`] that runs a topology deterministically without a broker.
//!
//! Most applications use the DSL crate (`streams-dsl`), which builds a [`Topology`] from typed
//! streams and tables; this crate is what it compiles down to, and what runs it.

#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod handlers;
mod headers;
mod host_info;
mod partitioner;
pub mod processor;
mod properties;
pub mod quiet;
mod record;
#[cfg(feature = "kafka")]
pub mod runtime;
pub mod serdes;
pub mod simulation;
pub mod state;
pub mod task;
pub mod test_driver;
mod time;
pub mod topology;

pub use config::{
    DeadLetterQueue, DeserializationHandler, GroupProtocol, HandlerResponse, LogAndContinue,
    LogAndFail, MetricsRecordingLevel, ProcessingGuarantee, StreamsConfig,
};
pub use error::{ProcessorError, RecordPart, StateError, StreamsError, TopologyError};
pub use handlers::{
    ErrorContext, FailedRecord, ProcessingExceptionHandler, ProductionError,
    ProductionExceptionHandler,
};
pub use headers::{Header, Headers};
pub use host_info::HostInfo;
pub use partitioner::StreamPartitioner;
pub use processor::{
    FixedKey, FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord, Processor,
    ProcessorContext, Punctuation, PunctuationType, ScheduleId,
};
pub use properties::ConfigError;
pub use quiet::{WallClockWatermark, WatermarkSource};
pub use record::{ProducedRecord, RawRecord, Record, RecordMetadata, Timestamp, TopicPartition};
pub use serdes::{
    DefaultSerde, Deserializer, Encoded, SchemaRegistryError, Serde, SerdeError, SerdeRef,
    SerdeRegistry, Serdes, Serializer,
};
pub use simulation::{
    shrink, Interleaving, ParseReplayError, Replay, RunReport, Schedule, SimulationDriver, Step,
};
pub use state::{
    CacheBudget, FlushedChange, KeyValueStore, KeyValueStoreBuilder, PutOutcome, QueryableStore,
    ReadOnlyKeyValueStore, ReadOnlySessionStore, ReadOnlyWindowStore, SessionStore, StoreBuilder,
    StoreContext, StoreEngine, StoreEngineSupplier, StoreMetrics, Stores, TimestampedKeyValueStore,
    TimestampedSerde, ValueAndTimestamp, VersionedKeyValueStore, VersionedPut,
    VersionedStoreBuilder, WindowStore, WindowedStoreBuilder, NO_TIMESTAMP,
};
/// The raw byte stores and their traits (`KeyValueBytesStore`, `WindowBytesStore`,
/// `SessionBytesStore`, `StateStore`), for a user's [`StoreEngineSupplier`].
pub use state_stores;
#[cfg(feature = "rocksdb")]
pub use state_stores::RocksDbConfig;
pub use state_stores::{ChangelogRecord, Checkpoint, EngineMetrics, StoreError};
pub use task::{ChangelogPartition, OutputRecord, Task, TaskId, TaskMetrics};
pub use test_driver::{TestInputTopic, TestOutputTopic, TestRecord, TopologyTestDriver};
pub use time::{
    RecordTimestamp, TimestampExtractor, TypedTimestampExtractor, UsePartitionTimeOnInvalid,
};
pub use topology::{ChangelogTopic, OffsetReset, TopicName, Topology, TopologyDescription};
