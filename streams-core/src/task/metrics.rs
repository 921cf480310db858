/// Counters of one task, in the spirit of Kafka Streams' task-level metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskMetrics {
    /// Records handed to the topology.
    pub processed: u64,
    /// Records skipped by the error handler (undeserializable, or with an invalid timestamp).
    pub skipped: u64,
    /// Records sent to the dead-letter topic by the error handler.
    pub dead_lettered: u64,
    /// Records dropped by operators (for example too late for their window).
    pub dropped: u64,
    /// Punctuations fired.
    pub punctuations: u64,
}

impl std::ops::AddAssign for TaskMetrics {
    fn add_assign(&mut self, other: Self) {
        self.processed += other.processed;
        self.skipped += other.skipped;
        self.dead_lettered += other.dead_lettered;
        self.dropped += other.dropped;
        self.punctuations += other.punctuations;
    }
}
