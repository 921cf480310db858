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

/// The partition that Kafka's producer gives a record with key bytes `key` among
/// `partitions`: the murmur2 hash of the bytes, made positive, modulo the count.
pub(crate) fn default_partition(key: &[u8], partitions: i32) -> i32 {
    ((murmur2(key) as u32 & 0x7fff_ffff) % partitions.max(1) as u32) as i32
}

/// Kafka's murmur2 hash (`Utils.murmur2`), with which its producer partitions keyed records.
pub(crate) fn murmur2(key: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ key.len() as u32;
    let mut chunks = key.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M) ^ k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, byte) in tail.iter().enumerate().rev() {
            h ^= u32::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hashes that Kafka's own test of `Utils.murmur2` expects.
    #[test]
    fn the_hash_is_kafka_s() {
        for (key, hash) in [
            (&b"21"[..], -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ] {
            assert_eq!(murmur2(key), hash, "{key:?}");
        }
        // Made positive by masking the sign bit, as `Utils.toPositive` does.
        assert_eq!(
            default_partition(b"21", 1000),
            (-973_932_308i32 & 0x7fff_ffff) % 1000
        );
    }
}
