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
}
