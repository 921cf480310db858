//! State stores for stream processing.
//!
//! This crate holds the byte-oriented store engines that the stream runtime keeps its state in,
//! and the traits they implement. Keys and values are opaque bytes here: the typed facade, with
//! its serdes, lives in `streams-core`, and this crate knows nothing of Kafka.
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
//! let keys: Vec<Vec<u8>> = store.all().unwrap().map(|(k, _)| k).collect();
//! assert_eq!(keys, vec![b"apple".to_vec(), b"banana".to_vec()]);
//! assert_eq!(store.name(), "counts");
//! ```

#![warn(missing_docs)]

mod error;
mod in_memory;
mod key_value;
mod store;

pub use error::StoreError;
pub use in_memory::InMemoryKeyValueStore;
pub use key_value::{KeyValueBytesStore, KeyValueIter};
pub use store::StateStore;
