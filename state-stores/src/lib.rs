//! State stores for stream processing.
//!
//! This crate holds the byte-oriented store engines that the stream runtime keeps its state in,
//! and the traits they implement: key-value, versioned key-value, window and session stores, each on RocksDB (the
//! default for applications) and in memory, with changelog records for restoration and
//! checkpoint files. Keys and values are opaque bytes here: the typed facade, with its serdes,
//! lives in `streams-core`, and this crate knows nothing of Kafka.
//!
//! Key-value stores iterate in the byte order of their serialized keys, as Kafka Streams' stores
//! do, so range scans over a key encoding that sorts like its values behave as expected.
//!
//! ```
//! use state_stores::{InMemoryKeyValueStore, KeyValueBytesStore, StateStore};
//!
//! let mut store = InMemoryKeyValueStore::new("counts");
//! store.put(b"apple", b"3").unwrap();
//! store.put(b"banana", b"1").unwrap();
//! assert_eq!(store.get(b"apple").unwrap(), Some(b"3".to_vec()));
//! let keys: Vec<Vec<u8>> = store.all().unwrap().map(|item| item.unwrap().0).collect();
//! assert_eq!(keys, vec![b"apple".to_vec(), b"banana".to_vec()]);
//! assert_eq!(store.name(), "counts");
//! ```

#![warn(missing_docs)]

mod changelog;
mod checkpoint;
mod error;
mod in_memory;
mod in_memory_session;
mod in_memory_versioned;
mod in_memory_window;
mod key_value;
mod logged;
mod logged_versioned;
mod logged_window;
mod metered;
mod restore;
mod retention_clock;
#[cfg(feature = "rocksdb")]
mod rocks;
#[cfg(feature = "rocksdb")]
mod rocks_key_value;
#[cfg(feature = "rocksdb")]
mod rocks_session;
#[cfg(feature = "rocksdb")]
mod rocks_versioned;
#[cfg(feature = "rocksdb")]
mod rocks_window;
#[cfg(feature = "rocksdb")]
mod segment_key;
#[cfg(feature = "rocksdb")]
mod segmented_db;
mod segmented_map;
mod segments;
mod session;
mod store;
mod versioned;
mod window;

pub use changelog::{ChangelogRecord, ChangelogSink, Restorable};
pub use checkpoint::Checkpoint;
pub use error::StoreError;
pub use in_memory::InMemoryKeyValueStore;
pub use in_memory_session::InMemorySessionStore;
pub use in_memory_versioned::InMemoryVersionedStore;
pub use in_memory_window::InMemoryWindowStore;
pub use key_value::{KeyValueBytesStore, KeyValueItem, KeyValueIter};
pub use logged::{LoggedKeyValueStore, SharedSink};
pub use logged_versioned::LoggedVersionedStore;
pub use logged_window::{LoggedSessionStore, LoggedWindowStore};
pub use metered::{Metered, OperationLatency, StoreOperations};
#[cfg(feature = "rocksdb")]
pub use rocks::{OptionsHook, RocksDbConfig};
#[cfg(feature = "rocksdb")]
pub use rocks_key_value::RocksDbKeyValueStore;
#[cfg(feature = "rocksdb")]
pub use rocks_session::RocksDbSessionStore;
#[cfg(feature = "rocksdb")]
pub use rocks_versioned::RocksDbVersionedStore;
#[cfg(feature = "rocksdb")]
pub use rocks_window::RocksDbWindowStore;
pub use segments::Segments;
pub use session::{
    session_changelog_key, split_session_changelog_key, SessionBytesStore, SessionEntry,
};
pub use store::{EngineMetrics, StateStore};
pub use versioned::{
    split_versioned_changelog_value, versioned_changelog_value, VersionedBytesStore, VersionedPut,
    VersionedRecord,
};
pub use window::{
    split_window_changelog_key, window_changelog_key, WindowBytesStore, WindowEntry, WindowWrite,
};

/// RocksDB's options type, for [`RocksDbConfig::with_options_hook`].
#[cfg(feature = "rocksdb")]
pub use rocksdb::Options as RocksDbOptions;
