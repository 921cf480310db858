//! Stream partitioners (Kafka Streams' `StreamPartitioner`): the partition a sink writes a
//! record to, chosen from the record instead of the key's hash.

/// Chooses the partition of each record a sink writes (Kafka Streams' `StreamPartitioner`),
/// given the topic's partition count. `None` leaves the record to the default partitioning
/// (the murmur2 hash of the key bytes, as Kafka's producer does).
///
/// ```
/// use streams_core::StreamPartitioner;
///
/// /// Every order of one region goes to one partition.
/// struct ByRegion;
///
/// impl StreamPartitioner<String, String> for ByRegion {
///     fn partition(&self, _: &str, _: &String, region: &String, partitions: i32) -> Option<i32> {
///         Some(region.bytes().map(i32::from).sum::<i32>() % partitions)
///     }
/// }
/// assert_eq!(ByRegion.partition("orders", &"o1".into(), &"eu".into(), 4), Some(2));
/// ```
pub trait StreamPartitioner<K, V>: Send + Sync {
    /// The partition of `topic` (which has `partitions` partitions) for the record, from 0 to
    /// `partitions - 1`, or `None` for the default.
    fn partition(&self, topic: &str, key: &K, value: &V, partitions: i32) -> Option<i32>;
}

impl<K, V, F> StreamPartitioner<K, V> for F
where
    F: Fn(&str, &K, &V, i32) -> Option<i32> + Send + Sync,
{
    fn partition(&self, topic: &str, key: &K, value: &V, partitions: i32) -> Option<i32> {
        self(topic, key, value, partitions)
    }
}
