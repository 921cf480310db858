//! RocksDB, tuned for many small stores in one process: every store of the process shares one
//! bounded block cache and one memtable budget, so that the engine's memory stays bounded
//! however many tasks and stores there are.

use std::path::Path;
use std::sync::Arc;

use rocksdb::{BlockBasedOptions, Cache, DBCompressionType, Options, WriteBufferManager, DB};

use crate::StoreError;

/// A user hook that adjusts the options of one store, given its name.
pub type OptionsHook = Arc<dyn Fn(&str, &mut Options) + Send + Sync>;

/// The memory budget and tuning shared by every RocksDB store of a process.
///
/// Defaults: a 16 MiB LRU block cache shared by all stores; memtables of all stores together
/// limited to 8 MiB; 4 MiB write buffers, at most 2 per store; bloom filters of 10 bits per
/// key, kept with index blocks in the table readers (about 1.3 MiB per million keys) rather
/// than in the cache; LZ4 compression; dynamic level sizes; two background jobs per store. A
/// store's write-ahead log is off: its changelog topic is what makes it durable.
#[derive(Clone)]
pub struct RocksDbConfig {
    block_cache: Cache,
    write_buffers: WriteBufferManager,
    hook: Option<OptionsHook>,
}

impl std::fmt::Debug for RocksDbConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbConfig")
            .field("block_cache_bytes", &self.block_cache.get_usage())
            .field("has_hook", &self.hook.is_some())
            .finish()
    }
}

impl Default for RocksDbConfig {
    fn default() -> Self {
        Self::new(
            Self::DEFAULT_BLOCK_CACHE_BYTES,
            Self::DEFAULT_WRITE_BUFFER_BYTES,
        )
    }
}

impl RocksDbConfig {
    /// The default shared block cache: 16 MiB.
    pub const DEFAULT_BLOCK_CACHE_BYTES: usize = 16 << 20;
    /// The default limit on all memtables together: 8 MiB.
    pub const DEFAULT_WRITE_BUFFER_BYTES: usize = 8 << 20;
    /// The write buffer of one store: 4 MiB.
    pub const WRITE_BUFFER_BYTES_PER_STORE: usize = 4 << 20;

    /// A budget of `block_cache_bytes` for the shared block cache and `write_buffer_bytes`
    /// for all memtables together.
    pub fn new(block_cache_bytes: usize, write_buffer_bytes: usize) -> Self {
        let block_cache = Cache::new_lru_cache(block_cache_bytes);
        let write_buffers = WriteBufferManager::new_write_buffer_manager(write_buffer_bytes, false);
        Self {
            block_cache,
            write_buffers,
            hook: None,
        }
    }

    /// Lets `hook` adjust each store's options (after the defaults are set).
    pub fn with_options_hook(
        mut self,
        hook: impl Fn(&str, &mut Options) + Send + Sync + 'static,
    ) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    /// The memory the shared block cache uses now.
    pub fn block_cache_usage(&self) -> usize {
        self.block_cache.get_usage()
    }

    /// The options for the store called `store`.
    pub fn options(&self, store: &str) -> Options {
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&self.block_cache);
        table.set_bloom_filter(10.0, false);
        // Index and filter blocks live with the table readers, outside the block cache: with
        // a small shared cache they would otherwise be evicted by data blocks and reloaded
        // on every lookup of a missing key (which made 1M-key stores 20x slower).
        table.set_cache_index_and_filter_blocks(false);

        let mut options = Options::default();
        options.create_if_missing(true);
        options.set_block_based_table_factory(&table);
        options.set_write_buffer_manager(&self.write_buffers);
        options.set_write_buffer_size(Self::WRITE_BUFFER_BYTES_PER_STORE);
        options.set_max_write_buffer_number(2);
        options.set_compression_type(DBCompressionType::Lz4);
        options.set_level_compaction_dynamic_level_bytes(true);
        options.set_max_background_jobs(2);
        options.set_max_open_files(64);
        if let Some(hook) = &self.hook {
            hook(store, &mut options);
        }
        options
    }

    /// Opens (creating if needed) the RocksDB database of the store `store` in `path`, with a
    /// clear error when another instance holds its lock or its files are corrupt.
    pub fn open(&self, store: &str, path: &Path) -> Result<DB, StoreError> {
        std::fs::create_dir_all(path).map_err(|e| StoreError::Io {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        DB::open(&self.options(store), path).map_err(|e| classify(store, path, e))
    }
}

/// Turns a RocksDB error on open into the store error it stands for.
fn classify(store: &str, path: &Path, error: rocksdb::Error) -> StoreError {
    let reason = error.into_string();
    let lower = reason.to_lowercase();
    if lower.contains("lock") {
        StoreError::Locked {
            store: store.to_owned(),
            path: path.to_owned(),
            reason,
        }
    } else if lower.contains("corrupt") {
        StoreError::Corrupt {
            store: store.to_owned(),
            path: path.to_owned(),
            reason,
        }
    } else {
        StoreError::Engine {
            store: store.to_owned(),
            reason,
        }
    }
}

/// A RocksDB error during operation, as a store error.
/// What a RocksDB database reports of its memory and compaction backlog.
pub(crate) fn engine_metrics(db: &DB) -> crate::EngineMetrics {
    let property = |name: &str| db.property_int_value(name).ok().flatten();
    crate::EngineMetrics {
        block_cache_usage: property("rocksdb.block-cache-usage"),
        memtable_bytes: property("rocksdb.cur-size-all-mem-tables"),
        pending_compaction_bytes: property("rocksdb.estimate-pending-compaction-bytes"),
        operations: None,
    }
}

pub(crate) fn engine_error(store: &str, error: rocksdb::Error) -> StoreError {
    StoreError::Engine {
        store: store.to_owned(),
        reason: error.into_string(),
    }
}
