//! The task's side of changelogs: collects what its logged stores write, stamped with the
//! time of the record being processed, for the driver to send to the changelog topics.

use std::collections::HashMap;
use std::sync::Arc;

use state_stores::ChangelogSink;

use super::output::{OutputBuffer, OutputRecord};
use crate::state::changelog_topic;
use crate::{Headers, Timestamp};

/// Changelog records of one task, in the order its stores wrote them.
pub(crate) struct ChangelogCollector {
    application_id: Arc<str>,
    /// The changelog topic id of each store, so that a write looks its topic up without
    /// formatting its name.
    topics: HashMap<String, u32>,
    records: OutputBuffer,
    /// The time of the record (or punctuation) being processed.
    pub(crate) timestamp: Timestamp,
}

impl ChangelogCollector {
    pub(crate) fn new(application_id: Arc<str>, partition: i32) -> Self {
        Self {
            application_id,
            topics: HashMap::new(),
            records: OutputBuffer::to_partition(partition),
            timestamp: 0,
        }
    }

    pub(crate) fn drain(&mut self, f: impl FnMut(OutputRecord<'_>)) {
        self.records.drain(f);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

impl ChangelogCollector {
    fn push(&mut self, store: &str, key: &[u8], value: Option<&[u8]>, timestamp: Timestamp) {
        let topic = match self.topics.get(store) {
            Some(&id) => id,
            None => {
                let id = self
                    .records
                    .topic_id(&changelog_topic(&self.application_id, store));
                self.topics.insert(store.to_owned(), id);
                id
            }
        };
        self.records
            .push_bytes(topic, timestamp, Headers::new(), Some(key), value);
    }
}

impl ChangelogSink for ChangelogCollector {
    fn send(&mut self, store: &str, key: &[u8], value: Option<&[u8]>) {
        self.push(store, key, value, self.timestamp);
    }

    fn send_at(&mut self, store: &str, key: &[u8], value: Option<&[u8]>, timestamp: i64) {
        self.push(store, key, value, timestamp);
    }
}
