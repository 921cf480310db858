//! The runtime's metrics, through the `metrics` facade: per stream thread, per task and per
//! store, named after Kafka Streams' metrics (`process-total` in the group
//! `stream-task-metrics` becomes `kafka_streams_stream_task_process_total`) with its tags as
//! labels (`thread_id`, `task_id`, `store`, plus `topic` and `partition` for lag).
//!
//! Nothing is recorded per record: tasks count in plain fields, and each stream thread
//! publishes the changes to handles registered once per thread, task and store, after its
//! poll, process, punctuate and commit steps (and the gauges at most every
//! [`PUBLISH_INTERVAL`]). The same values feed [`RuntimeMetrics`](super::RuntimeMetrics),
//! the typed snapshot of `KafkaStreams::metrics()`. Whatever recorder the process installs
//! receives them; [`StreamsConfig::metrics_endpoint`](crate::StreamsConfig::metrics_endpoint)
//! installs a Prometheus exporter that serves them over HTTP.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use metrics::{counter, gauge, histogram, Counter, Gauge, Histogram, Label};

use super::RuntimeError;
use crate::{StoreMetrics, Task, TaskId, TaskMetrics, Timestamp};

/// How often, at most, a thread publishes its gauges and its snapshot.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// The metric names, in Prometheus style.
pub mod names {
    /// Polls of the thread's consumer (counter).
    pub const POLL_TOTAL: &str = "kafka_streams_stream_thread_poll_total";
    /// Time a poll round took, waiting included (histogram, seconds).
    pub const POLL_LATENCY: &str = "kafka_streams_stream_thread_poll_latency_seconds";
    /// Records a poll round returned (histogram).
    pub const POLL_RECORDS: &str = "kafka_streams_stream_thread_poll_records";
    /// Time the thread waited in poll for records that did not come (counter, ns).
    pub const BLOCKED_TIME: &str = "kafka_streams_stream_thread_blocked_time_ns_total";
    /// Records the thread's tasks processed (counter).
    pub const THREAD_PROCESS_TOTAL: &str = "kafka_streams_stream_thread_process_total";
    /// Time a processing round took (histogram, seconds).
    pub const PROCESS_LATENCY: &str = "kafka_streams_stream_thread_process_latency_seconds";
    /// Records a processing round processed (histogram).
    pub const PROCESS_RECORDS: &str = "kafka_streams_stream_thread_process_records";
    /// Commits of the thread (counter).
    pub const COMMIT_TOTAL: &str = "kafka_streams_stream_thread_commit_total";
    /// Time a commit took (histogram, seconds).
    pub const COMMIT_LATENCY: &str = "kafka_streams_stream_thread_commit_latency_seconds";
    /// Wall-clock punctuation rounds of the thread (counter).
    pub const PUNCTUATE_TOTAL: &str = "kafka_streams_stream_thread_punctuate_total";
    /// Time a wall-clock punctuation round took (histogram, seconds).
    pub const PUNCTUATE_LATENCY: &str = "kafka_streams_stream_thread_punctuate_latency_seconds";
    /// Records a task processed (counter).
    pub const TASK_PROCESS_TOTAL: &str = "kafka_streams_stream_task_process_total";
    /// Records operators dropped (counter).
    pub const DROPPED_RECORDS: &str = "kafka_streams_stream_task_dropped_records_total";
    /// Records an error handler skipped (counter).
    pub const SKIPPED_RECORDS: &str = "kafka_streams_stream_task_skipped_records_total";
    /// Records an error handler dead-lettered (counter).
    pub const DEAD_LETTERED_RECORDS: &str = "kafka_streams_stream_task_dead_lettered_records_total";
    /// Stream-time punctuations a task fired (counter).
    pub const TASK_PUNCTUATE_TOTAL: &str = "kafka_streams_stream_task_punctuate_total";
    /// Records a task holds, not processed yet (gauge).
    pub const BUFFERED_RECORDS: &str = "kafka_streams_stream_task_buffered_records";
    /// A task's stream time, ms (gauge).
    pub const STREAM_TIME: &str = "kafka_streams_stream_task_stream_time_ms";
    /// Records on the broker beyond the consumer's position, per input partition (gauge).
    pub const RECORDS_LAG: &str = "kafka_streams_stream_task_records_lag";
    /// Records a processor node processed (counter; label `processor_node_id`).
    pub const NODE_PROCESS_TOTAL: &str = "kafka_streams_processor_node_process_total";
    /// Flushes of a store (counter).
    pub const FLUSH_TOTAL: &str = "kafka_streams_state_store_flush_total";
    /// Time a store's flush took (histogram, seconds).
    pub const FLUSH_LATENCY: &str = "kafka_streams_state_store_flush_latency_seconds";
    /// Share of a store's cache reads that hit (gauge, 0..1).
    pub const CACHE_HIT_RATIO: &str = "kafka_streams_state_store_cache_hit_ratio";
    /// RocksDB block-cache usage, bytes (gauge).
    pub const BLOCK_CACHE_USAGE: &str = "kafka_streams_state_store_block_cache_usage_bytes";
    /// RocksDB memtable size, bytes (gauge).
    pub const MEMTABLE_BYTES: &str = "kafka_streams_state_store_memtable_bytes";
    /// RocksDB bytes pending compaction (gauge).
    pub const PENDING_COMPACTION_BYTES: &str = "kafka_streams_state_store_pending_compaction_bytes";
    /// Writes to a store's engine (counter; at the `Debug` recording level).
    pub const PUT_TOTAL: &str = "kafka_streams_state_store_put_total";
    /// Time a write took (histogram, seconds; at the `Debug` recording level).
    pub const PUT_LATENCY: &str = "kafka_streams_state_store_put_latency_seconds";
    /// Point reads of a store's engine (counter; at the `Debug` recording level).
    pub const GET_TOTAL: &str = "kafka_streams_state_store_get_total";
    /// Time a point read took (histogram, seconds; at the `Debug` recording level).
    pub const GET_LATENCY: &str = "kafka_streams_state_store_get_latency_seconds";
    /// Deletes in a store's engine (counter; at the `Debug` recording level).
    pub const DELETE_TOTAL: &str = "kafka_streams_state_store_delete_total";
    /// Time a delete took (histogram, seconds; at the `Debug` recording level).
    pub const DELETE_LATENCY: &str = "kafka_streams_state_store_delete_latency_seconds";
    /// Scans of a store's engine (counter; at the `Debug` recording level).
    pub const RANGE_TOTAL: &str = "kafka_streams_state_store_range_total";
    /// Time opening a scan took (histogram, seconds; at the `Debug` recording level).
    pub const RANGE_LATENCY: &str = "kafka_streams_state_store_range_latency_seconds";
}

/// The figures of one stream thread.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ThreadMetrics {
    /// The thread's id: `<application.id>-<instance>-thread-<n>`.
    pub thread_id: String,
    /// Poll rounds.
    pub polls: u64,
    /// Records those polls returned.
    pub polled_records: u64,
    /// Time spent polling.
    pub poll_time: Duration,
    /// Time spent waiting in poll for records that did not come.
    pub blocked_time: Duration,
    /// Records processed.
    pub processed: u64,
    /// Time spent processing.
    pub process_time: Duration,
    /// Commits.
    pub commits: u64,
    /// Time spent committing.
    pub commit_time: Duration,
    /// Wall-clock punctuation rounds.
    pub punctuations: u64,
    /// Time spent in them.
    pub punctuate_time: Duration,
}

/// The lag of one input partition: records on the broker beyond the consumer's position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionLag {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The high watermark minus the position.
    pub lag: i64,
}

/// The figures of one task.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskSnapshot {
    /// The thread that runs it.
    pub thread_id: String,
    /// The task.
    pub task_id: TaskId,
    /// Its counters: processed, skipped, dead-lettered and dropped records, punctuations.
    pub counters: TaskMetrics,
    /// Records buffered, not processed yet.
    pub buffered: usize,
    /// Its stream time (-1 before any record).
    pub stream_time: Timestamp,
    /// The lag of each input partition, once the consumer knows it.
    pub lag: Vec<PartitionLag>,
    /// The records each processor node processed, by node name (nodes with none left out).
    pub nodes: Vec<(String, u64)>,
}

/// The figures of one store of one task.
#[derive(Clone, Debug, PartialEq)]
pub struct StoreSnapshot {
    /// The thread that runs the task.
    pub thread_id: String,
    /// The task.
    pub task_id: TaskId,
    /// The store.
    pub store: String,
    /// Its figures.
    pub metrics: StoreMetrics,
}

/// What every thread last published, by thread index.
#[derive(Default)]
pub(crate) struct Published {
    threads: Mutex<BTreeMap<usize, ThreadPublished>>,
}

#[derive(Clone, Default)]
struct ThreadPublished {
    thread: ThreadMetrics,
    tasks: Vec<TaskSnapshot>,
    stores: Vec<StoreSnapshot>,
}

impl Published {
    /// Every thread's, task's and store's figures.
    pub(crate) fn collect(&self) -> (Vec<ThreadMetrics>, Vec<TaskSnapshot>, Vec<StoreSnapshot>) {
        let threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
        let mut all = (Vec::new(), Vec::new(), Vec::new());
        for published in threads.values() {
            all.0.push(published.thread.clone());
            all.1.extend(published.tasks.iter().cloned());
            all.2.extend(published.stores.iter().cloned());
        }
        all
    }
}

fn labels(pairs: &[(&'static str, String)]) -> Vec<Label> {
    pairs
        .iter()
        .map(|(k, v)| Label::new(*k, v.clone()))
        .collect()
}

/// The handles of one task.
struct TaskHandles {
    labels: Vec<Label>,
    process: Counter,
    dropped: Counter,
    skipped: Counter,
    dead_lettered: Counter,
    punctuations: Counter,
    buffered: Gauge,
    stream_time: Gauge,
    lag: HashMap<(String, i32), Gauge>,
    stores: HashMap<String, StoreHandles>,
    /// Per processor node: its counter and the count last published.
    nodes: HashMap<String, (Counter, u64)>,
    /// The counters as last published, to publish the change.
    last: TaskMetrics,
}

/// The handles of one store of one task.
struct StoreHandles {
    flushes: Counter,
    flush_latency: Histogram,
    cache_hit_ratio: Gauge,
    block_cache_usage: Gauge,
    memtable_bytes: Gauge,
    pending_compaction_bytes: Gauge,
    last_flushes: u64,
    last_flush_time: Duration,
    /// Put, get, delete and range: count and latency.
    operations: [(Counter, Histogram); 4],
    last_operations: state_stores::StoreOperations,
}

impl StoreHandles {
    /// Publishes the operations timed since the last publication: their number, and their
    /// mean time as one histogram sample (as flushes are).
    fn publish_operations(&mut self, now: state_stores::StoreOperations) {
        let last = self.last_operations;
        let kinds = [
            (now.put, last.put),
            (now.get, last.get),
            (now.delete, last.delete),
            (now.range, last.range),
        ];
        for ((counter, histogram), (now, last)) in self.operations.iter().zip(kinds) {
            let count = now.count.saturating_sub(last.count);
            if count > 0 {
                counter.increment(count);
                let took = now.total.saturating_sub(last.total);
                histogram.record(took.as_secs_f64() / count as f64);
            }
        }
        self.last_operations = now;
    }
}

impl TaskHandles {
    fn new(thread_id: &str, task: TaskId) -> Self {
        let labels = labels(&[
            ("thread_id", thread_id.to_owned()),
            ("task_id", task.to_string()),
        ]);
        Self {
            process: counter!(names::TASK_PROCESS_TOTAL, labels.clone()),
            dropped: counter!(names::DROPPED_RECORDS, labels.clone()),
            skipped: counter!(names::SKIPPED_RECORDS, labels.clone()),
            dead_lettered: counter!(names::DEAD_LETTERED_RECORDS, labels.clone()),
            punctuations: counter!(names::TASK_PUNCTUATE_TOTAL, labels.clone()),
            buffered: gauge!(names::BUFFERED_RECORDS, labels.clone()),
            stream_time: gauge!(names::STREAM_TIME, labels.clone()),
            lag: HashMap::new(),
            stores: HashMap::new(),
            nodes: HashMap::new(),
            last: TaskMetrics::default(),
            labels,
        }
    }

    /// Publishes that node `node` has processed `records` so far.
    fn node(&mut self, node: &str, records: u64) {
        let labels = &self.labels;
        let (counter, last) = self.nodes.entry(node.to_owned()).or_insert_with(|| {
            let mut labels = labels.clone();
            labels.push(Label::new("processor_node_id", node.to_owned()));
            (counter!(names::NODE_PROCESS_TOTAL, labels), 0)
        });
        counter.increment(records.saturating_sub(*last));
        *last = records;
    }

    fn store(&mut self, store: &str) -> &mut StoreHandles {
        let labels = &self.labels;
        self.stores.entry(store.to_owned()).or_insert_with(|| {
            let mut labels = labels.clone();
            labels.push(Label::new("store", store.to_owned()));
            StoreHandles {
                flushes: counter!(names::FLUSH_TOTAL, labels.clone()),
                flush_latency: histogram!(names::FLUSH_LATENCY, labels.clone()),
                cache_hit_ratio: gauge!(names::CACHE_HIT_RATIO, labels.clone()),
                block_cache_usage: gauge!(names::BLOCK_CACHE_USAGE, labels.clone()),
                memtable_bytes: gauge!(names::MEMTABLE_BYTES, labels.clone()),
                pending_compaction_bytes: gauge!(names::PENDING_COMPACTION_BYTES, labels.clone()),
                last_flushes: 0,
                last_flush_time: Duration::ZERO,
                operations: [
                    (names::PUT_TOTAL, names::PUT_LATENCY),
                    (names::GET_TOTAL, names::GET_LATENCY),
                    (names::DELETE_TOTAL, names::DELETE_LATENCY),
                    (names::RANGE_TOTAL, names::RANGE_LATENCY),
                ]
                .map(|(total, latency)| {
                    (
                        counter!(total, labels.clone()),
                        histogram!(latency, labels.clone()),
                    )
                }),
                last_operations: state_stores::StoreOperations::default(),
            }
        })
    }

    fn lag(&mut self, topic: &str, partition: i32) -> &Gauge {
        let labels = &self.labels;
        self.lag
            .entry((topic.to_owned(), partition))
            .or_insert_with(|| {
                let mut labels = labels.clone();
                labels.push(Label::new("topic", topic.to_owned()));
                labels.push(Label::new("partition", partition.to_string()));
                gauge!(names::RECORDS_LAG, labels)
            })
    }
}

/// The metrics of one stream thread: its handles, its figures so far, and its tasks'.
pub(crate) struct ThreadRecorder {
    index: usize,
    figures: ThreadMetrics,
    poll_total: Counter,
    poll_latency: Histogram,
    poll_records: Histogram,
    blocked: Counter,
    process_total: Counter,
    process_latency: Histogram,
    process_records: Histogram,
    commit_total: Counter,
    commit_latency: Histogram,
    punctuate_total: Counter,
    punctuate_latency: Histogram,
    tasks: HashMap<TaskId, TaskHandles>,
    last_publish: Option<Instant>,
}

impl ThreadRecorder {
    /// Registers the handles of the thread `thread_id` (the `index`th of its instance).
    pub(crate) fn new(index: usize, thread_id: String) -> Self {
        let l = labels(&[("thread_id", thread_id.clone())]);
        Self {
            index,
            poll_total: counter!(names::POLL_TOTAL, l.clone()),
            poll_latency: histogram!(names::POLL_LATENCY, l.clone()),
            poll_records: histogram!(names::POLL_RECORDS, l.clone()),
            blocked: counter!(names::BLOCKED_TIME, l.clone()),
            process_total: counter!(names::THREAD_PROCESS_TOTAL, l.clone()),
            process_latency: histogram!(names::PROCESS_LATENCY, l.clone()),
            process_records: histogram!(names::PROCESS_RECORDS, l.clone()),
            commit_total: counter!(names::COMMIT_TOTAL, l.clone()),
            commit_latency: histogram!(names::COMMIT_LATENCY, l.clone()),
            punctuate_total: counter!(names::PUNCTUATE_TOTAL, l.clone()),
            punctuate_latency: histogram!(names::PUNCTUATE_LATENCY, l),
            figures: ThreadMetrics {
                thread_id,
                ..ThreadMetrics::default()
            },
            tasks: HashMap::new(),
            last_publish: None,
        }
    }

    /// A poll round that returned `records` in `took`, of which `blocked` was spent waiting
    /// for records that did not come.
    pub(crate) fn poll(&mut self, records: usize, took: Duration, blocked: Duration) {
        self.figures.polls += 1;
        self.figures.polled_records += records as u64;
        self.figures.poll_time += took;
        self.figures.blocked_time += blocked;
        self.poll_total.increment(1);
        self.poll_latency.record(took.as_secs_f64());
        self.poll_records.record(records as f64);
        if !blocked.is_zero() {
            self.blocked
                .increment(u64::try_from(blocked.as_nanos()).unwrap_or(u64::MAX));
        }
    }

    /// A processing round that processed `records` in `took`.
    pub(crate) fn process(&mut self, records: u64, took: Duration) {
        if records == 0 {
            return;
        }
        self.figures.processed += records;
        self.figures.process_time += took;
        self.process_total.increment(records);
        self.process_latency.record(took.as_secs_f64());
        self.process_records.record(records as f64);
    }

    /// A commit that took `took`.
    pub(crate) fn commit(&mut self, took: Duration) {
        self.figures.commits += 1;
        self.figures.commit_time += took;
        self.commit_total.increment(1);
        self.commit_latency.record(took.as_secs_f64());
    }

    /// A wall-clock punctuation round that fired something, in `took`.
    pub(crate) fn punctuate(&mut self, took: Duration) {
        self.figures.punctuations += 1;
        self.figures.punctuate_time += took;
        self.punctuate_total.increment(1);
        self.punctuate_latency.record(took.as_secs_f64());
    }

    /// Publishes the tasks' figures (and the thread's snapshot) unless it did less than
    /// [`PUBLISH_INTERVAL`] ago and `force` is off. `lag(topic, partition)` reads an input
    /// partition's lag, if the consumer knows it.
    pub(crate) fn publish<'a>(
        &mut self,
        tasks: impl Iterator<Item = &'a Task>,
        lag: &dyn Fn(&str, i32) -> Option<i64>,
        published: &Published,
        force: bool,
    ) {
        if !force
            && self
                .last_publish
                .is_some_and(|t| t.elapsed() < PUBLISH_INTERVAL)
        {
            return;
        }
        self.last_publish = Some(Instant::now());
        let thread_id = &self.figures.thread_id;
        let mut task_snapshots = Vec::new();
        let mut store_snapshots = Vec::new();
        let mut live = Vec::new();
        for task in tasks {
            let id = task.id();
            live.push(id);
            let handles = self
                .tasks
                .entry(id)
                .or_insert_with(|| TaskHandles::new(thread_id, id));
            let now = task.metrics();
            let last = handles.last;
            handles
                .process
                .increment(now.processed.saturating_sub(last.processed));
            handles
                .dropped
                .increment(now.dropped.saturating_sub(last.dropped));
            handles
                .skipped
                .increment(now.skipped.saturating_sub(last.skipped));
            handles
                .dead_lettered
                .increment(now.dead_lettered.saturating_sub(last.dead_lettered));
            handles
                .punctuations
                .increment(now.punctuations.saturating_sub(last.punctuations));
            handles.last = now;
            handles.buffered.set(task.buffered() as f64);
            handles.stream_time.set(task.stream_time() as f64);
            let mut lags = Vec::new();
            for topic in task.input_topics() {
                if let Some(records) = lag(topic, id.partition) {
                    handles.lag(topic, id.partition).set(records as f64);
                    lags.push(PartitionLag {
                        topic: topic.to_owned(),
                        partition: id.partition,
                        lag: records,
                    });
                }
            }
            for (store, metrics) in task.store_metrics() {
                let h = handles.store(store);
                let flushes = metrics.flushes.saturating_sub(h.last_flushes);
                if flushes > 0 {
                    h.flushes.increment(flushes);
                    // The mean of the flushes since the last publication.
                    let took = metrics.flush_time.saturating_sub(h.last_flush_time);
                    h.flush_latency.record(took.as_secs_f64() / flushes as f64);
                }
                h.last_flushes = metrics.flushes;
                h.last_flush_time = metrics.flush_time;
                if let Some(ratio) = metrics.cache_hit_ratio() {
                    h.cache_hit_ratio.set(ratio);
                }
                let engine = metrics.engine;
                for (gauge, value) in [
                    (&h.block_cache_usage, engine.block_cache_usage),
                    (&h.memtable_bytes, engine.memtable_bytes),
                    (&h.pending_compaction_bytes, engine.pending_compaction_bytes),
                ] {
                    if let Some(value) = value {
                        gauge.set(value as f64);
                    }
                }
                if let Some(operations) = engine.operations {
                    h.publish_operations(operations);
                }
                store_snapshots.push(StoreSnapshot {
                    thread_id: thread_id.clone(),
                    task_id: id,
                    store: store.to_owned(),
                    metrics,
                });
            }
            let nodes: Vec<(String, u64)> = task
                .node_metrics()
                .map(|(node, records)| (node.to_owned(), records))
                .collect();
            for (node, records) in &nodes {
                handles.node(node, *records);
            }
            task_snapshots.push(TaskSnapshot {
                thread_id: thread_id.clone(),
                task_id: id,
                counters: now,
                buffered: task.buffered(),
                stream_time: task.stream_time(),
                lag: lags,
                nodes,
            });
        }
        // Tasks that left: their handles go (a task that comes back counts afresh).
        self.tasks.retain(|id, _| live.contains(id));
        let mut threads = published.threads.lock().unwrap_or_else(|p| p.into_inner());
        threads.insert(
            self.index,
            ThreadPublished {
                thread: self.figures.clone(),
                tasks: task_snapshots,
                stores: store_snapshots,
            },
        );
    }
}

/// The address the Prometheus exporter of this process serves on, once installed.
static ENDPOINT: OnceLock<Result<SocketAddr, String>> = OnceLock::new();

/// Installs the Prometheus exporter as the process's metrics recorder, serving
/// `http://<address>/metrics` (once per process; a second instance asking for the same
/// address shares it).
pub(crate) fn install_prometheus(address: SocketAddr) -> Result<(), RuntimeError> {
    let installed = ENDPOINT.get_or_init(|| {
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .with_http_listener(address)
            .install()
            .map(|()| address)
            .map_err(|e| e.to_string())
    });
    match installed {
        Ok(serving) if *serving == address => Ok(()),
        Ok(serving) => Err(RuntimeError::Metrics(format!(
            "this process already serves its metrics on {serving}, not {address}"
        ))),
        Err(reason) => Err(RuntimeError::Metrics(format!(
            "cannot serve metrics on {address}: {reason}"
        ))),
    }
}
