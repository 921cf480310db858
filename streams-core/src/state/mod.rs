//! Typed state stores over the byte engines of the `state-stores` crate, and the builders that
//! a topology uses to create one store instance per task.

mod builder;
mod key_value;
mod registry;

pub use builder::{
    BuiltStore, KeyValueStoreBuilder, KeyValueStoreSupplier, StoreBuilder, StoreContext, Stores,
};
pub use key_value::{KeyValueStore, PutOutcome};
pub use registry::ManagedStore;
pub(crate) use registry::StoreRegistry;
