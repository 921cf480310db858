use thiserror::Error;

/// An error raised by a state store.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The store was used after it was closed.
    #[error("state store `{store}` is closed")]
    Closed {
        /// The store's name.
        store: String,
    },
    /// The storage engine underneath the store failed.
    #[error("state store `{store}` failed: {reason}")]
    Engine {
        /// The store's name.
        store: String,
        /// What the engine reported.
        reason: String,
    },
}
