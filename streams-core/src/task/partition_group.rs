use std::collections::VecDeque;

use crate::{RawRecord, Timestamp};

/// A buffered record with its extracted time.
#[derive(Debug)]
pub(crate) struct QueuedRecord {
    pub(crate) timestamp: Timestamp,
    pub(crate) record: RawRecord,
}

#[derive(Debug, Default)]
struct RecordQueue {
    records: VecDeque<QueuedRecord>,
    /// The largest time seen on this partition; what timestamp extractors get as partition time.
    partition_time: Option<Timestamp>,
    /// A queue that never gets records (a source's pattern, whose matching topics get
    /// queues of their own): it is never waited for.
    passive: bool,
}

/// The buffered input partitions of one task, drained in timestamp order: the partition whose
/// head record has the smallest time goes next (ties go to the partition added first), so that
/// a task sees its inputs interleaved by event time as Kafka Streams does.
#[derive(Debug)]
pub(crate) struct PartitionGroup {
    queues: Vec<RecordQueue>,
}

impl PartitionGroup {
    /// A group of `partitions` empty queues, addressed by their index.
    pub(crate) fn new(partitions: usize) -> Self {
        Self {
            queues: (0..partitions).map(|_| RecordQueue::default()).collect(),
        }
    }

    /// Marks `queue` as one that never gets records.
    pub(crate) fn set_passive(&mut self, queue: usize) {
        self.queues[queue].passive = true;
    }

    /// Adds an empty queue; returns its index.
    pub(crate) fn add_queue(&mut self) -> usize {
        self.queues.push(RecordQueue::default());
        self.queues.len() - 1
    }

    /// The largest time seen on `queue` so far, or -1.
    pub(crate) fn partition_time(&self, queue: usize) -> Timestamp {
        self.queues[queue].partition_time.unwrap_or(-1)
    }

    pub(crate) fn push(&mut self, queue: usize, record: QueuedRecord) {
        let q = &mut self.queues[queue];
        q.partition_time = Some(
            q.partition_time
                .map_or(record.timestamp, |t| t.max(record.timestamp)),
        );
        q.records.push_back(record);
    }

    /// The number of records buffered on `queue`.
    pub(crate) fn len_of(&self, queue: usize) -> usize {
        self.queues[queue].records.len()
    }

    /// The queues with no record buffered, with their partition time.
    pub(crate) fn empty_queues(&self) -> impl Iterator<Item = (usize, Timestamp)> + '_ {
        self.queues
            .iter()
            .enumerate()
            .filter(|(_, q)| q.records.is_empty() && !q.passive)
            .map(|(i, q)| (i, q.partition_time.unwrap_or(-1)))
    }

    /// The queue whose head goes next, and the head's time.
    fn next(&self) -> Option<(usize, Timestamp)> {
        self.queues
            .iter()
            .enumerate()
            .filter_map(|(i, q)| q.records.front().map(|r| (i, r.timestamp)))
            .min_by_key(|&(i, ts)| (ts, i))
    }

    /// The time of the record [`pop`](Self::pop) would return.
    pub(crate) fn next_timestamp(&self) -> Option<Timestamp> {
        self.next().map(|(_, ts)| ts)
    }

    /// The next record in timestamp order, with the index of its queue.
    pub(crate) fn pop(&mut self) -> Option<(usize, QueuedRecord)> {
        let (index, _) = self.next()?;
        let record = self.queues[index].records.pop_front()?;
        Some((index, record))
    }

    /// Whether every partition has buffered records, so that the order across them is known.
    pub(crate) fn all_buffered(&self) -> bool {
        self.queues
            .iter()
            .all(|q| !q.records.is_empty() || q.passive)
    }

    /// Drops every buffered record; partition times stay.
    pub(crate) fn clear(&mut self) {
        for queue in &mut self.queues {
            queue.records.clear();
        }
    }

    /// The number of buffered records.
    pub(crate) fn len(&self) -> usize {
        self.queues.iter().map(|q| q.records.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Headers;

    fn rec(offset: i64, timestamp: i64) -> QueuedRecord {
        QueuedRecord {
            timestamp,
            record: RawRecord {
                offset,
                timestamp,
                key: None,
                value: None,
                headers: Headers::new(),
            },
        }
    }

    #[test]
    fn drains_partitions_in_timestamp_order() {
        let mut group = PartitionGroup::new(2);
        for (o, t) in [(0, 5), (1, 1), (2, 9)] {
            group.push(0, rec(o, t));
        }
        assert!(!group.all_buffered());
        for (o, t) in [(0, 3), (1, 6)] {
            group.push(1, rec(o, t));
        }
        assert!(group.all_buffered());
        assert_eq!(group.len(), 5);
        let order: Vec<(usize, i64)> = std::iter::from_fn(|| group.pop())
            .map(|(q, r)| (q, r.record.offset))
            .collect();
        // Heads compared each time: 5 vs 3, 5 vs 6, 1 (out of order within its partition) vs 6,
        // 9 vs 6, then 9.
        assert_eq!(order, vec![(1, 0), (0, 0), (0, 1), (1, 1), (0, 2)]);
        assert_eq!(group.partition_time(0), 9);
        assert_eq!(group.partition_time(1), 6);
    }

    #[test]
    fn ties_go_to_the_first_partition() {
        let mut group = PartitionGroup::new(2);
        group.push(1, rec(0, 4));
        group.push(0, rec(0, 4));
        assert_eq!(group.pop().map(|(q, _)| q), Some(0));
    }
}
