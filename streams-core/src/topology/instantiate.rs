//! Turning a sub-topology into a task: stores first, then nodes from the sinks up, so that
//! every node is built knowing its children's typed inputs.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use state_stores::SharedSink;

use super::factory::BuildContext;
use super::{NodeKind, Topology};
use crate::state::{CacheBudget, StoreContext, StoreRegistry};
use crate::task::{ChangelogCollector, NodeInfo, Task, TaskParts, TaskStore};
use crate::{StreamsConfig, StreamsError, TaskId, TopologyError};

impl Topology {
    /// Creates the task of sub-topology `subtopology` for partition `partition`.
    /// Its cached stores get a record-cache budget of their own; see
    /// [`create_task_sharing_cache`](Self::create_task_sharing_cache).
    pub fn create_task(
        &self,
        subtopology: u32,
        partition: i32,
        config: &StreamsConfig,
    ) -> Result<Task, StreamsError> {
        let cache = CacheBudget::new(config.cache_max_bytes_value());
        self.create_task_sharing_cache(subtopology, partition, config, &cache)
    }

    /// Creates a task whose cached stores draw on `cache`, the budget of the thread that runs it.
    pub fn create_task_sharing_cache(
        &self,
        subtopology: u32,
        partition: i32,
        config: &StreamsConfig,
        cache: &CacheBudget,
    ) -> Result<Task, StreamsError> {
        let groups = self.groups();
        let members = groups
            .get(subtopology as usize)
            .ok_or(TopologyError::NoSource)?;
        let task_id = TaskId {
            subtopology,
            partition,
        };
        self.assemble(members, task_id, config, cache)
    }

    /// Creates the task that maintains the global stores, if the topology has any.
    pub fn create_global_task(&self, config: &StreamsConfig) -> Result<Option<Task>, StreamsError> {
        let members = self.global_members();
        if members.is_empty() {
            return Ok(None);
        }
        let task_id = TaskId {
            subtopology: self.groups().len() as u32,
            partition: 0,
        };
        let cache = CacheBudget::new(config.cache_max_bytes_value());
        self.assemble(&members, task_id, config, &cache).map(Some)
    }

    fn assemble(
        &self,
        members: &[usize],
        task_id: TaskId,
        config: &StreamsConfig,
        cache: &CacheBudget,
    ) -> Result<Task, StreamsError> {
        let application_id = config.application_id();
        let directory = config.task_dir(task_id);
        let changelog = Rc::new(RefCell::new(ChangelogCollector::new(
            Arc::from(application_id),
            task_id.partition,
        )));
        let sink: SharedSink = changelog.clone();
        let store_ctx = StoreContext {
            application_id,
            task_id,
            directory: &directory,
            #[cfg(feature = "rocksdb")]
            rocksdb: config.rocksdb_config(),
            changelog: &sink,
            cache,
            max_out_of_orderness: config.max_out_of_orderness_ms(),
            metered: config.metrics_recording_level_value() == crate::MetricsRecordingLevel::Debug,
        };
        let mut registry = StoreRegistry::default();
        let mut managed_stores = Vec::new();
        for store in &self.stores {
            let used = members.iter().any(|&i| {
                self.nodes[i]
                    .stores
                    .iter()
                    .any(|s| s == store.builder.name())
            });
            if used {
                let built = store.builder.build(store_ctx)?;
                registry.insert(store.builder.name().to_owned(), built.handle, store.global);
                managed_stores.push(TaskStore {
                    store: built.managed,
                    logged: store.builder.logging_enabled(),
                    flushes: 0,
                    flush_time: std::time::Duration::ZERO,
                });
            }
        }

        let mut inputs: HashMap<usize, Box<dyn Any>> = HashMap::new();
        let mut nodes = HashMap::new();
        let mut sources = Vec::new();
        let node_names = members
            .iter()
            .map(|&i| (i, self.nodes[i].name.clone()))
            .collect();
        // Members are in insertion order, which puts parents before children.
        for &index in members.iter().rev() {
            let spec = &self.nodes[index];
            let children = spec
                .children
                .iter()
                .map(|c| (self.nodes[*c].name.clone(), &*inputs[c]))
                .collect();
            let built = spec.factory.build(BuildContext {
                info: NodeInfo {
                    index,
                    name: spec.name.clone(),
                    stores: spec.stores.clone(),
                },
                children,
                application_id,
            })?;
            if let (Some(source), NodeKind::Source { topics }) = (&built.source, &spec.kind) {
                for topic in topics {
                    sources.push((Arc::from(topic.resolve(application_id)), Rc::clone(source)));
                }
            }
            if let Some(input) = built.input {
                inputs.insert(index, input);
            }
            nodes.insert(index, built.lifecycle);
        }
        // Sources were met last-first; restore topology order for stable partition order.
        sources.reverse();
        Task::new(TaskParts {
            application_id: Arc::from(application_id),
            task_id,
            sources,
            nodes,
            stores: registry,
            managed_stores,
            handler: Arc::clone(config.deserialization_handler_ref()),
            processing_handler: Arc::clone(config.processing_exception_handler_ref()),
            node_names,
            production_handler: Arc::clone(config.production_exception_handler_ref()),
            directory,
            changelog,
            max_out_of_orderness: config.max_out_of_orderness_ms(),
            emit_interval: config.windowed_aggregation_emit_interval_ms(),
        })
    }
}
