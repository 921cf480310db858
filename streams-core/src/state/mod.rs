//! Typed state stores over the byte engines of the `state-stores` crate, and the builders that
//! a topology uses to create one store instance per task.

mod builder;
mod cache;
pub mod key_index;
mod key_value;
mod lru;
mod ordered_cache;
mod read_only;
mod registry;
mod session_store;
mod timestamped;
mod versioned;
mod window_store;
mod windowed;

pub use builder::{
    changelog_topic, BuiltStore, KeyValueStoreBuilder, KeyValueStoreSupplier, StoreBuilder,
    StoreContext, StoreEngine, StoreEngineSupplier, Stores,
};
pub use cache::CacheBudget;
pub use key_value::{FlushedChange, KeyValueStore, PutOutcome, NO_TIMESTAMP};
pub use read_only::{
    QueryableStore, ReadOnlyKeyValueStore, ReadOnlySessionStore, ReadOnlyWindowStore,
};
pub(crate) use registry::StoreRegistry;
pub use registry::{ManagedStore, StoreMetrics};
pub use session_store::{SessionStore, SessionValue};
pub use timestamped::{TimestampedKeyValueStore, TimestampedSerde, ValueAndTimestamp};
pub use versioned::{VersionedKeyValueStore, VersionedPut, VersionedStoreBuilder};
pub use window_store::{WindowStore, WindowedValue};
pub use windowed::WindowedStoreBuilder;
