//! The typed streams DSL: build a topology from [`KStream`]s, [`KTable`]s and
//! [`GlobalKTable`]s with the operations Kafka Streams users know, then run it with the
//! Kafka runtime or test it with the [`TopologyTestDriver`](streams_core::TopologyTestDriver).
//!
//! One `use` brings in everything an application needs:
//!
//! ```
//! use streams_dsl::prelude::*;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream::<String, i64>("payments")
//!     .filter(|_, amount| *amount > 0)
//!     .group_by_key()
//!     .reduce(|total, amount| total + amount)
//!     .to_stream()
//!     .to("totals");
//! let driver = TopologyTestDriver::new(builder.build()?, StreamsConfig::new("totals"))?;
//! let payments = driver.input_topic::<String, i64>("payments")?;
//! payments.pipe_key_values([("ann".to_string(), 5), ("ann".to_string(), -1), ("ann".to_string(), 7)])?;
//! let totals = driver.output_topic::<String, i64>("totals")?;
//! assert_eq!(totals.read_values_to_list()?, vec![5, 12]);
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod branch;
mod builder;
mod change;
mod cogroup;
mod config;
mod fk_join;
mod global;
mod grouped;
mod join_windows;
mod joined;
mod kstream;
mod ktable;
mod old_values;
mod panes;
mod processors;
mod session_stream;
mod sliding_stream;
mod source_topics;
mod stream_join;
mod stream_table_join;
mod suppress;
mod table_join;
mod triggered_stream;
mod value_transformer;
mod versioned_table;
mod windowed_stream;
mod windows;

pub use branch::BranchedKStream;
pub use builder::StreamsBuilder;
pub use change::Change;
pub use cogroup::{Cogrouped, CogroupedKStream, CogroupedWindowedKStream};
pub use config::{
    Branched, Consumed, Grouped, Materialized, Named, Printed, Produced, Repartitioned,
};
pub use global::GlobalKTable;
pub use grouped::{KGroupedStream, KGroupedTable};
pub use join_windows::JoinWindows;
pub use joined::Joined;
pub use kstream::{Branches, KStream};
pub use ktable::KTable;
pub use panes::{
    Accumulation, EarlyFiring, Pane, PaneInfo, PaneSerde, PaneTiming, Trigger, PANE_INDEX_HEADER,
    PANE_LAST_HEADER, PANE_RETRACTION_HEADER, PANE_TIMING_HEADER, PANE_WATERMARK_HEADER,
};
pub use session_stream::SessionWindowedKStream;
pub use sliding_stream::SlidingWindowedKStream;
pub use source_topics::SourceTopics;
pub use stream_join::StreamJoined;
pub use suppress::{BufferConfig, BufferFull, Suppressed};
pub use triggered_stream::Triggered;
pub use value_transformer::ValueTransformerWithKey;
pub use windowed_stream::TimeWindowedKStream;
pub use windows::{
    EmitStrategy, SessionWindowedSerde, SessionWindows, SlidingWindows, TimeWindowedSerde,
    TimeWindows, Window, Windowed, WindowedSerdes,
};

/// Everything an application needs, in one `use`.
pub mod prelude {
    pub use crate::{
        Accumulation, Branched, BufferConfig, BufferFull, Change, Cogrouped, CogroupedKStream,
        CogroupedWindowedKStream, Consumed, EarlyFiring, EmitStrategy, GlobalKTable, Grouped,
        JoinWindows, Joined, KGroupedStream, KGroupedTable, KStream, KTable, Materialized, Named,
        Pane, PaneInfo, PaneTiming, Printed, Produced, Repartitioned, SessionWindowedKStream,
        SessionWindows, SlidingWindowedKStream, SlidingWindows, SourceTopics, StreamJoined,
        StreamsBuilder, Suppressed, TimeWindowedKStream, TimeWindows, Trigger, Triggered,
        ValueTransformerWithKey, Window, Windowed,
    };
    #[cfg(feature = "kafka")]
    pub use streams_core::runtime::{
        EmbeddedKafka, ErrorResponse, KafkaStreams, RuntimeError, State,
    };
    #[cfg(feature = "rocksdb")]
    pub use streams_core::RocksDbConfig;
    pub use streams_core::{
        shrink, Interleaving, Replay, RunReport, Schedule, SimulationDriver, Step,
    };
    pub use streams_core::{
        DeadLetterQueue, GroupProtocol, MetricsRecordingLevel, ProcessingGuarantee,
    };
    pub use streams_core::{
        DefaultSerde, DeserializationHandler, Headers, KeyValueStore, LogAndContinue, LogAndFail,
        Processor, ProcessorContext, ProcessorError, PunctuationType, RawRecord,
        ReadOnlyKeyValueStore, ReadOnlySessionStore, ReadOnlyWindowStore, Record, SerdeRef, Serdes,
        StateError, StoreEngine, StoreEngineSupplier, Stores, StreamsConfig, StreamsError,
        TestInputTopic, TestOutputTopic, TestRecord, Timestamp, TimestampExtractor, Topology,
        TopologyError, TopologyTestDriver, ValueAndTimestamp, VersionedKeyValueStore,
    };
    pub use streams_core::{
        FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord, OffsetReset, StreamPartitioner,
    };
    pub use streams_core::{ProcessingExceptionHandler, ProductionExceptionHandler};
    pub use streams_core::{WallClockWatermark, WatermarkSource};
}

/// The README's example, compiled and run as a doc test so that it cannot go stale (with the
/// Kafka runtime, which some of its examples use).
#[cfg(all(doctest, feature = "kafka"))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeExample;
