use std::fmt;

use super::{NodeKind, Topology};

/// What a node is, for a description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKindDescription {
    /// A source and the topics it reads.
    Source {
        /// The topics, as named in the topology (internal ones unprefixed).
        topics: Vec<String>,
    },
    /// A processor and the stores it uses.
    Processor {
        /// The connected stores.
        stores: Vec<String>,
    },
    /// A sink and its topic (`None` when it chooses a topic per record).
    Sink {
        /// The topic.
        topic: Option<String>,
    },
}

/// One node of a described topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeDescription {
    /// The node's name.
    pub name: String,
    /// What the node is.
    pub kind: NodeKindDescription,
    /// The names of the nodes it forwards to.
    pub successors: Vec<String>,
    /// The names of the nodes it receives from.
    pub predecessors: Vec<String>,
}

/// One sub-topology of a described topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubtopologyDescription {
    /// The sub-topology's number.
    pub id: u32,
    /// Whether it maintains global stores (and so creates no tasks).
    pub global: bool,
    /// Its nodes, parents before children.
    pub nodes: Vec<NodeDescription>,
}

/// A readable account of a topology, in the shape of Kafka Streams' `TopologyDescription`.
///
/// Its `Display` form lists each sub-topology with its sources and topics, processors and
/// stores, sinks and topics, and the edges between them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopologyDescription {
    /// The sub-topologies, the global one (if any) last.
    pub subtopologies: Vec<SubtopologyDescription>,
}

fn topic_label(topic: &super::TopicName) -> String {
    match topic {
        super::TopicName::External(name) => name.clone(),
        super::TopicName::Internal(name) => name.clone(),
        // Kafka Streams describes a pattern source by its pattern.
        super::TopicName::Pattern(regex) => regex.clone(),
    }
}

pub(super) fn describe(topology: &Topology) -> TopologyDescription {
    let node = |i: usize| {
        let spec = &topology.nodes[i];
        let names = |ids: &[usize]| {
            ids.iter()
                .map(|&j| topology.nodes[j].name.clone())
                .collect()
        };
        NodeDescription {
            name: spec.name.clone(),
            kind: match &spec.kind {
                NodeKind::Source { topics } => NodeKindDescription::Source {
                    topics: topics.iter().map(topic_label).collect(),
                },
                NodeKind::Processor => NodeKindDescription::Processor {
                    stores: spec.stores.clone(),
                },
                NodeKind::Sink { topic } => NodeKindDescription::Sink {
                    topic: topic.as_ref().map(topic_label),
                },
            },
            successors: names(&spec.children),
            predecessors: names(&spec.parents),
        }
    };
    let mut subtopologies: Vec<SubtopologyDescription> = topology
        .groups()
        .into_iter()
        .enumerate()
        .map(|(id, members)| SubtopologyDescription {
            id: id as u32,
            global: false,
            nodes: members.into_iter().map(node).collect(),
        })
        .collect();
    let global = topology.global_members();
    if !global.is_empty() {
        subtopologies.push(SubtopologyDescription {
            id: subtopologies.len() as u32,
            global: true,
            nodes: global.into_iter().map(node).collect(),
        });
    }
    TopologyDescription { subtopologies }
}

impl fmt::Display for TopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Topologies:")?;
        for sub in &self.subtopologies {
            if sub.global {
                writeln!(
                    f,
                    "  Sub-topology: {} for global store (will not generate tasks)",
                    sub.id
                )?;
            } else {
                writeln!(f, "  Sub-topology: {}", sub.id)?;
            }
            for node in &sub.nodes {
                match &node.kind {
                    NodeKindDescription::Source { topics } => writeln!(
                        f,
                        "    Source: {} (topics: [{}])",
                        node.name,
                        topics.join(", ")
                    )?,
                    NodeKindDescription::Processor { stores } => writeln!(
                        f,
                        "    Processor: {} (stores: [{}])",
                        node.name,
                        stores.join(", ")
                    )?,
                    NodeKindDescription::Sink { topic } => writeln!(
                        f,
                        "    Sink: {} (topic: {})",
                        node.name,
                        topic.as_deref().unwrap_or("<chosen per record>")
                    )?,
                }
                if !node.successors.is_empty() {
                    writeln!(f, "      --> {}", node.successors.join(", "))?;
                }
                if !node.predecessors.is_empty() {
                    writeln!(f, "      <-- {}", node.predecessors.join(", "))?;
                }
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
