//! `GlobalKTable`: a table replicated in full to every instance.

use std::marker::PhantomData;

/// A table of a whole topic, kept in full by every instance of the application and updated
/// before the records that follow are processed. Streams join it by any key they compute,
/// without co-partitioning: see [`KStream::join_global`](crate::KStream::join_global).
pub struct GlobalKTable<K, V> {
    store: String,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for GlobalKTable<K, V> {
    fn clone(&self) -> Self {
        Self {
            store: self.store.clone(),
            types: PhantomData,
        }
    }
}

impl<K, V> GlobalKTable<K, V> {
    pub(crate) fn new(store: String) -> Self {
        Self {
            store,
            types: PhantomData,
        }
    }

    /// The name of the global store that holds the table.
    pub fn store_name(&self) -> &str {
        &self.store
    }
}
