//! Which instance of the application runs which tasks, and where it answers queries: the
//! instances' directory, `<application.id>-instances`, a compacted one-partition topic.
//!
//! Each instance with an [`application_server`](crate::StreamsConfig::application_server)
//! publishes, under its instance id, that address and the tasks its threads run: whenever
//! they change, every [`HEARTBEAT`], and a tombstone when it closes. Every instance follows the
//! topic from its start, so each knows where every key's task runs
//! ([`KafkaStreams::query_metadata_for_key`](super::KafkaStreams::query_metadata_for_key)).
//!
//! Kafka Streams carries this in the group's subscription user data, which librdkafka's
//! assignors cannot; a compacted topic that every instance reads does the same with Kafka's
//! own primitives, and converges as soon as the members' records are read. An instance killed
//! without its tombstone stops its heartbeats, and its record is ignored once older than
//! [`EXPIRY`]; while two records claim a task (the new owner published, the old one has not
//! yet), the latest wins.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Message, Timestamp};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use super::shared::Shared;
use super::{clients, RuntimeError};
pub use crate::host_info::HostInfo;
use crate::{StreamsConfig, TaskId};

/// How often an instance publishes its record when nothing changed.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(5);

/// How old a record may be before its instance counts as gone.
pub(crate) const EXPIRY: Duration = Duration::from_secs(30);

/// The wall-clock time in ms since the epoch (what records' times are compared with).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The directory topic of `application_id`.
pub(crate) fn directory_topic(application_id: &str) -> String {
    format!("{application_id}-instances")
}

/// Where a key of a store lives (Kafka Streams' `KeyQueryMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyQueryMetadata {
    /// The instance whose active task holds the key.
    pub active_host: HostInfo,
    /// Instances with a standby copy of the task (none: standby replicas are not built).
    pub standby_hosts: Vec<HostInfo>,
    /// The partition of the key, and so of its task.
    pub partition: i32,
}

/// What one instance runs (Kafka Streams' `StreamsMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamsMetadata {
    /// Where it answers queries.
    pub host: HostInfo,
    /// The stores of its tasks.
    pub state_store_names: BTreeSet<String>,
    /// Its tasks.
    pub tasks: BTreeSet<TaskId>,
}

/// One instance's record.
#[derive(Clone, Debug, PartialEq)]
struct Member {
    host: HostInfo,
    tasks: BTreeSet<TaskId>,
    /// When it was published (ms since the epoch).
    published: i64,
}

/// Encodes a record: the address on the first line, the task ids (`0_1`) on the second,
/// separated by commas.
fn encode(host: &HostInfo, tasks: &BTreeSet<TaskId>) -> String {
    let tasks: Vec<String> = tasks.iter().map(TaskId::to_string).collect();
    format!("{host}\n{}", tasks.join(","))
}

fn decode(value: &[u8], published: i64) -> Option<Member> {
    let text = std::str::from_utf8(value).ok()?;
    let (host, tasks) = text.split_once('\n')?;
    let tasks = tasks
        .split(',')
        .filter(|t| !t.is_empty())
        .map(|t| t.parse().ok())
        .collect::<Option<BTreeSet<TaskId>>>()?;
    Some(Member {
        host: HostInfo::parse(host)?,
        tasks,
        published,
    })
}

/// The instances' records as read from the directory topic.
#[derive(Debug, Default)]
pub(crate) struct Directory {
    members: RwLock<HashMap<String, Member>>,
}

impl Directory {
    fn apply(&self, instance: &str, value: Option<&[u8]>, published: i64) {
        let mut members = self.members.write().unwrap_or_else(|e| e.into_inner());
        match value.and_then(|v| decode(v, published)) {
            Some(member) => members.insert(instance.to_owned(), member),
            None => members.remove(instance),
        };
    }

    /// The live instances (published within [`EXPIRY`] of `now`) and their tasks, each task
    /// given to the latest of the instances that claim it.
    pub(crate) fn live(&self, now: i64) -> HashMap<HostInfo, BTreeSet<TaskId>> {
        let members = self.members.read().unwrap_or_else(|e| e.into_inner());
        let live: Vec<&Member> = members
            .values()
            .filter(|m| now - m.published <= EXPIRY.as_millis() as i64)
            .collect();
        let mut owners: HashMap<TaskId, &Member> = HashMap::new();
        for member in &live {
            for task in &member.tasks {
                let owner = owners.entry(*task).or_insert(member);
                if member.published > owner.published {
                    *owner = member;
                }
            }
        }
        let mut hosts: HashMap<HostInfo, BTreeSet<TaskId>> = live
            .iter()
            .map(|m| (m.host.clone(), BTreeSet::new()))
            .collect();
        for (task, owner) in owners {
            hosts.entry(owner.host.clone()).or_default().insert(task);
        }
        hosts
    }
}

/// Publishes this instance's record and follows everyone's, until the instance shuts down;
/// then publishes its tombstone. `tasks` gives the tasks the instance's threads run.
pub(crate) fn start(
    config: &StreamsConfig,
    shared: Arc<Shared>,
    instance_id: String,
    host: HostInfo,
    directory: Arc<Directory>,
) -> Result<JoinHandle<()>, RuntimeError> {
    let topic = directory_topic(config.application_id());
    let consumer: BaseConsumer = clients::assigned_consumer(config, "instances")
        .create()
        .map_err(RuntimeError::kafka("create the instances consumer"))?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Beginning)
        .map_err(RuntimeError::kafka("assign the instances topic"))?;
    consumer
        .assign(&assignment)
        .map_err(RuntimeError::kafka("assign the instances topic"))?;
    let producer: BaseProducer = clients::producer(config, "instances", "")
        .remove("transactional.id")
        .create()
        .map_err(RuntimeError::kafka("create the instances producer"))?;
    let name = format!("{}-instances", config.application_id());
    Ok(std::thread::Builder::new().name(name).spawn(move || {
        let publish = |value: Option<&str>| {
            let record = BaseRecord::<str, str>::to(&topic)
                .key(&instance_id)
                .partition(0);
            let record = match value {
                Some(value) => record.payload(value),
                None => record,
            };
            if let Err((error, _)) = producer.send(record) {
                tracing::warn!(%error, "could not publish this instance's tasks");
            }
            producer.poll(Duration::ZERO);
        };
        let mut published: Option<(BTreeSet<TaskId>, Instant)> = None;
        while !shared.shutting_down() {
            let tasks = shared.task_dirs.held();
            let due = published
                .as_ref()
                .is_none_or(|(last, at)| *last != tasks || at.elapsed() >= HEARTBEAT);
            if due {
                publish(Some(&encode(&host, &tasks)));
                published = Some((tasks, Instant::now()));
            }
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(message)) => {
                    let instance = message.key().map(String::from_utf8_lossy);
                    let time = match message.timestamp() {
                        Timestamp::CreateTime(t) | Timestamp::LogAppendTime(t) => t,
                        Timestamp::NotAvailable => 0,
                    };
                    if let Some(instance) = instance {
                        directory.apply(&instance, message.payload(), time);
                    }
                }
                Some(Err(error)) => tracing::warn!(%error, "reading the instances topic"),
                None => {}
            }
        }
        publish(None);
        if let Err(error) = producer.flush(Duration::from_secs(10)) {
            tracing::warn!(%error, "could not publish this instance's departure");
        }
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(subtopology: u32, partition: i32) -> TaskId {
        TaskId {
            subtopology,
            partition,
        }
    }

    #[test]
    fn a_record_reads_back_as_written() {
        let host = HostInfo::parse("node-1.example:8080").unwrap();
        let tasks: BTreeSet<TaskId> = [task(0, 1), task(1, 0)].into();
        let member = decode(encode(&host, &tasks).as_bytes(), 7).unwrap();
        assert_eq!(
            member,
            Member {
                host,
                tasks,
                published: 7
            }
        );
        assert!(decode(b"no port\n0_1", 0).is_none());
        assert!(decode(b"h:1\n0-1", 0).is_none());
        assert_eq!(decode(b"h:1\n", 0).unwrap().tasks, BTreeSet::new());
    }

    /// A task claimed twice belongs to the latest claim; an instance silent for longer than
    /// the expiry is gone; a tombstone removes an instance at once.
    #[test]
    fn the_latest_live_claim_owns_a_task() {
        let directory = Directory::default();
        let (a, b) = (
            HostInfo::parse("a:1").unwrap(),
            HostInfo::parse("b:1").unwrap(),
        );
        directory.apply("a", Some(b"a:1\n0_0,0_1"), 1_000);
        directory.apply("b", Some(b"b:1\n0_1"), 2_000);
        let live = directory.live(2_000);
        assert_eq!(live[&a], [task(0, 0)].into());
        assert_eq!(live[&b], [task(0, 1)].into());
        let expired = 1_000 + EXPIRY.as_millis() as i64 + 1;
        assert_eq!(directory.live(expired).len(), 1);
        directory.apply("b", None, 3_000);
        assert_eq!(directory.live(3_000)[&a], [task(0, 0), task(0, 1)].into());
    }
}
