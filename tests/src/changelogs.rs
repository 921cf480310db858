//! The changelog records a task sent, kept by topic as a broker would keep them: what the
//! write-behind tests commit a task with and restore a restarted task from.

use std::collections::HashMap;

use streams_core::{ChangelogRecord, OutputRecord, Task};

/// The changelog records of one task, by topic, in the order it sent them.
#[derive(Default)]
pub struct Changelogs(HashMap<String, Vec<ChangelogRecord>>);

impl Changelogs {
    /// Keeps `record` if it went to a changelog topic; whether it did.
    pub fn keep(&mut self, record: &OutputRecord<'_>) -> bool {
        if !record.topic.ends_with("-changelog") {
            return false;
        }
        self.0
            .entry(record.topic.to_string())
            .or_default()
            .push(ChangelogRecord {
                key: record.key.expect("a changelog key").to_vec(),
                value: record.value.map(<[u8]>::to_vec),
                timestamp: record.timestamp,
            });
        true
    }

    /// The offset of the last record of each changelog topic: what a commit covers.
    pub fn offsets(&self) -> Vec<(String, i64)> {
        self.0
            .iter()
            .map(|(topic, records)| (topic.clone(), records.len() as i64 - 1))
            .collect()
    }

    /// Restores `task` as the runtime does, each changelog from just after the task's
    /// checkpoint on, then initializes it.
    pub fn restore(&self, task: &mut Task) {
        for partition in task.changelog_partitions() {
            let records = self
                .0
                .get(&partition.topic)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let from = partition.restored_up_to.map_or(0, |o| o as usize + 1);
            if from < records.len() {
                task.restore(&partition.store, &records[from..], records.len() as i64 - 1)
                    .expect("restores");
            }
        }
        task.init().expect("init");
    }
}
