//! The hot records of one key in a stream-stream join's buffer, by time (arrival order within
//! a time). A key usually holds one record at a time (a join window is short beside the
//! time between a key's records), so one record is kept inline, beside the key's bytes:
//! a lookup that finds the key finds its record in the same cache line, without a miss on
//! a heap block. Two or more records go to a ring on the heap, kept (with its capacity)
//! until the key is dropped.

use std::collections::VecDeque;

/// One buffered record of a key.
pub(crate) struct HotRecord<V> {
    pub(crate) time: i64,
    pub(crate) value: V,
}

/// A key's records, by time, in arrival order within a time.
pub(crate) enum KeyQueue<V> {
    /// Exactly one record.
    One(HotRecord<V>),
    /// Any number of records (none: an empty ring, which allocates nothing until used).
    Many(VecDeque<HotRecord<V>>),
}

impl<V> Default for KeyQueue<V> {
    fn default() -> Self {
        KeyQueue::Many(VecDeque::new())
    }
}

impl<V> KeyQueue<V> {
    /// Whether no record is queued.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            KeyQueue::One(_) => false,
            KeyQueue::Many(records) => records.is_empty(),
        }
    }

    /// The oldest record.
    pub(crate) fn front(&self) -> Option<&HotRecord<V>> {
        match self {
            KeyQueue::One(record) => Some(record),
            KeyQueue::Many(records) => records.front(),
        }
    }

    /// Removes the oldest record.
    pub(crate) fn pop_front(&mut self) -> Option<HotRecord<V>> {
        match self {
            KeyQueue::One(_) => match std::mem::take(self) {
                KeyQueue::One(record) => Some(record),
                KeyQueue::Many(_) => None,
            },
            KeyQueue::Many(records) => records.pop_front(),
        }
    }

    /// Queues `record` after every record of its time or earlier.
    pub(crate) fn insert(&mut self, record: HotRecord<V>) {
        match self {
            KeyQueue::Many(records) if records.is_empty() && records.capacity() == 0 => {
                *self = KeyQueue::One(record);
            }
            KeyQueue::Many(records) => {
                if records.back().is_none_or(|r| r.time <= record.time) {
                    records.push_back(record);
                } else {
                    let at = records.partition_point(|r| r.time <= record.time);
                    records.insert(at, record);
                }
            }
            KeyQueue::One(_) => {
                let KeyQueue::One(first) = std::mem::take(self) else {
                    unreachable!("matched as one record");
                };
                let mut records = VecDeque::with_capacity(2);
                if first.time <= record.time {
                    records.extend([first, record]);
                } else {
                    records.extend([record, first]);
                }
                *self = KeyQueue::Many(records);
            }
        }
    }

    /// Drops the records older than `live` at the front; returns how many.
    pub(crate) fn trim(&mut self, live: i64) -> usize {
        let mut trimmed = 0;
        while self.front().is_some_and(|r| r.time < live) {
            self.pop_front();
            trimmed += 1;
        }
        trimmed
    }

    /// The records at `from` or later, by time.
    pub(crate) fn since(&self, from: i64) -> impl Iterator<Item = &HotRecord<V>> {
        let (one, many) = match self {
            KeyQueue::One(record) => (Some(record).filter(|r| r.time >= from), None),
            KeyQueue::Many(records) => {
                let at = records.partition_point(|r| r.time < from);
                (None, Some(records.range(at..)))
            }
        };
        one.into_iter().chain(many.into_iter().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(queue: &KeyQueue<u32>, from: i64) -> Vec<(i64, u32)> {
        queue.since(from).map(|r| (r.time, r.value)).collect()
    }

    #[test]
    fn keeps_time_then_arrival_order_inline_and_on_the_heap() {
        let mut queue = KeyQueue::default();
        assert!(queue.is_empty());
        queue.insert(HotRecord { time: 5, value: 1 });
        assert!(matches!(queue, KeyQueue::One(_)));
        assert_eq!(times(&queue, 0), vec![(5, 1)]);
        assert_eq!(times(&queue, 6), vec![]);
        queue.insert(HotRecord { time: 3, value: 2 });
        queue.insert(HotRecord { time: 5, value: 3 });
        queue.insert(HotRecord { time: 4, value: 4 });
        assert_eq!(times(&queue, 0), vec![(3, 2), (4, 4), (5, 1), (5, 3)]);
        assert_eq!(times(&queue, 5), vec![(5, 1), (5, 3)]);
        assert_eq!(queue.trim(5), 2);
        assert_eq!(queue.front().map(|r| r.value), Some(1));
        assert_eq!(queue.pop_front().map(|r| r.value), Some(1));
        assert_eq!(queue.pop_front().map(|r| r.value), Some(3));
        assert!(queue.is_empty());
        // The ring keeps its capacity once it has one.
        queue.insert(HotRecord { time: 9, value: 5 });
        assert!(matches!(queue, KeyQueue::Many(_)));
        assert_eq!(times(&queue, 9), vec![(9, 5)]);
    }

    #[test]
    fn one_record_leaves_by_pop_and_by_trim() {
        let mut queue = KeyQueue::default();
        queue.insert(HotRecord { time: 7, value: 1 });
        assert_eq!(queue.trim(7), 0);
        assert_eq!(queue.trim(8), 1);
        assert!(queue.is_empty());
        queue.insert(HotRecord { time: 9, value: 2 });
        assert_eq!(queue.pop_front().map(|r| (r.time, r.value)), Some((9, 2)));
        assert!(queue.pop_front().is_none());
        // Ties keep arrival order when the second record moves both to the heap.
        queue.insert(HotRecord { time: 9, value: 3 });
        queue.insert(HotRecord { time: 9, value: 4 });
        assert_eq!(times(&queue, 0), vec![(9, 3), (9, 4)]);
    }
}
