//! Turning a sub-topology into a task: stores first, then nodes from the sinks up, so that
//! every node is built knowing its children's typed inputs.

use std::any::Any;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use super::factory::BuildContext;
use super::{NodeKind, Topology};
use crate::state::{StoreContext, StoreRegistry};
use crate::task::{NodeInfo, Task, TaskParts};
use crate::{StreamsConfig, StreamsError, TaskId, TopologyError};

impl Topology {
    /// Creates the task of sub-topology `subtopology` for partition `partition`.
    pub fn create_task(
        &self,
        subtopology: u32,
        partition: i32,
        config: &StreamsConfig,
    ) -> Result<Task, StreamsError> {
        let groups = self.groups();
        let members = groups
            .get(subtopology as usize)
            .ok_or(TopologyError::NoSource)?;
        let task_id = TaskId {
            subtopology,
            partition,
        };
        self.assemble(members, task_id, config)
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
        self.assemble(&members, task_id, config).map(Some)
    }

    fn assemble(
        &self,
        members: &[usize],
        task_id: TaskId,
        config: &StreamsConfig,
    ) -> Result<Task, StreamsError> {
        let application_id = config.application_id();
        let store_ctx = StoreContext {
            application_id,
            task_id,
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
                let built = store.builder.build(store_ctx);
                registry.insert(store.builder.name().to_owned(), built.handle, store.global);
                managed_stores.push(built.managed);
            }
        }

        let mut inputs: HashMap<usize, Box<dyn Any>> = HashMap::new();
        let mut nodes = HashMap::new();
        let mut sources = Vec::new();
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
        Ok(Task::new(TaskParts {
            application_id: Arc::from(application_id),
            task_id,
            sources,
            nodes,
            stores: registry,
            managed_stores,
            handler: Arc::clone(config.deserialization_handler_ref()),
        }))
    }
}
