//! Per-source offset reset policies (Kafka Streams' `Consumed.withOffsetResetPolicy`): where a
//! stream thread starts reading an assigned partition that the group has no committed offset
//! for. librdkafka has one `auto.offset.reset` per consumer (ours: earliest), so the runtime
//! sets the start offsets of the other topics' partitions in the assignment itself.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use crate::topology::OffsetReset;

/// How long the look-ups of committed offsets and offsets by time may take.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// Sets the start offset of every partition of `assignment` whose topic has a policy other
/// than earliest (in `resets`) and that has no committed offset: the end for `Latest`, the
/// first offset at or after now minus the duration for `ByDuration` (the end if there is
/// none). Partitions with a committed offset, and earliest topics, are left to the consumer.
/// A topic that a source's pattern matches has that source's policy.
pub(crate) fn apply<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    resets: &HashMap<String, OffsetReset>,
    assignment: &mut TopicPartitionList,
) -> Result<(), KafkaError> {
    // A pattern source's policy is keyed by its pattern.
    let patterns = crate::topology::pattern::compile(resets.keys().map(String::as_str));
    let policy = |topic: &str| {
        let pattern = crate::topology::pattern::matching(&patterns, topic);
        (resets.get(topic))
            .or_else(|| pattern.and_then(|p| resets.get(p)))
            .copied()
            .unwrap_or_default()
    };
    let mut reset = TopicPartitionList::new();
    for element in assignment.elements() {
        if policy(element.topic()) != OffsetReset::Earliest {
            reset.add_partition(element.topic(), element.partition());
        }
    }
    if reset.count() == 0 {
        return Ok(());
    }
    let committed = consumer.committed_offsets(reset, LOOKUP_TIMEOUT)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let mut by_time = TopicPartitionList::new();
    for element in committed.elements() {
        if let Offset::Offset(_) = element.offset() {
            continue;
        }
        match policy(element.topic()) {
            OffsetReset::Earliest => {}
            OffsetReset::Latest => assignment.set_partition_offset(
                element.topic(),
                element.partition(),
                Offset::End,
            )?,
            OffsetReset::ByDuration(back) => {
                let since = now.saturating_sub(i64::try_from(back.as_millis()).unwrap_or(i64::MAX));
                by_time.add_partition_offset(
                    element.topic(),
                    element.partition(),
                    Offset::Offset(since.max(0)),
                )?;
            }
        }
    }
    if by_time.count() > 0 {
        let found = consumer.offsets_for_times(by_time, LOOKUP_TIMEOUT)?;
        for element in found.elements() {
            let start = match element.offset() {
                Offset::Offset(offset) => Offset::Offset(offset),
                _ => Offset::End,
            };
            assignment.set_partition_offset(element.topic(), element.partition(), start)?;
        }
    }
    Ok(())
}
