use std::path::PathBuf;

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
    /// The store's directory is locked by another instance (another process, or another
    /// task of this one, has the store open).
    #[error("state store `{store}` at {path} is locked by another instance: {reason}")]
    Locked {
        /// The store's name.
        store: String,
        /// The store's directory.
        path: PathBuf,
        /// What the engine reported.
        reason: String,
    },
    /// The store's files are corrupt; deleting the directory lets the store restore from its
    /// changelog.
    #[error("state store `{store}` at {path} is corrupt: {reason}")]
    Corrupt {
        /// The store's name.
        store: String,
        /// The store's directory.
        path: PathBuf,
        /// What the engine reported.
        reason: String,
    },
    /// A file operation of the store failed (creating its directory, a checkpoint file).
    #[error("state store I/O failed at {path}: {reason}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// The storage engine underneath the store failed.
    #[error("state store `{store}` failed: {reason}")]
    Engine {
        /// The store's name.
        store: String,
        /// What the engine reported.
        reason: String,
    },
    /// A changelog record that the store cannot read (for example a window key too short
    /// to hold its window).
    #[error("state store `{store}` cannot restore a changelog record: {reason}")]
    BadChangelogRecord {
        /// The store's name.
        store: String,
        /// What is wrong with it.
        reason: String,
    },
}
