/// What every state store has, whatever its kind and engine.
pub trait StateStore {
    /// The store's name, unique within a topology.
    fn name(&self) -> &str;

    /// Whether the store keeps its data on disk (and so survives a restart without restoration).
    fn persistent(&self) -> bool;

    /// Whether the store is open for reads and writes.
    fn is_open(&self) -> bool;

    /// Makes every write so far durable in the engine.
    fn flush(&mut self) -> Result<(), crate::StoreError>;

    /// Releases the store's resources; later calls fail with [`StoreError::Closed`](crate::StoreError::Closed).
    fn close(&mut self);

    /// What the engine reports of its memory and backlog (nothing, for an engine without
    /// such figures).
    fn engine_metrics(&self) -> EngineMetrics {
        EngineMetrics::default()
    }
}

/// What a store's engine reports of itself: for RocksDB, its `rocksdb.*` properties.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EngineMetrics {
    /// Bytes the block cache holds (`rocksdb.block-cache-usage`; the cache is shared by
    /// every store of the application).
    pub block_cache_usage: Option<u64>,
    /// Bytes in the memtables (`rocksdb.cur-size-all-mem-tables`).
    pub memtable_bytes: Option<u64>,
    /// Bytes that compaction still has to rewrite (`rocksdb.estimate-pending-compaction-bytes`).
    pub pending_compaction_bytes: Option<u64>,
    /// What a [`Metered`](crate::Metered) layer timed, where the store has one.
    pub operations: Option<crate::StoreOperations>,
}
