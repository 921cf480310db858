//! The topology: a graph of sources, processors and sinks with the stores they use, built
//! once and instantiated as one task per sub-topology and partition.

mod describe;
mod factory;
mod instantiate;
pub(crate) mod pattern;

use std::any::TypeId;
use std::marker::PhantomData;
use std::sync::Arc;

pub use describe::{
    NodeDescription, NodeKindDescription, SubtopologyDescription, TopologyDescription,
};
use factory::{NodeFactory, ProcessorFactory, SinkFactory, SinkTopicSpec, SourceFactory};

use crate::processor::Processor;
use crate::state::StoreBuilder;
use crate::task::SourceTime;
use crate::time::RecordTimestamp;
use crate::{Record, SerdeRef, TimestampExtractor, TopologyError, TypedTimestampExtractor};

/// A topic as a topology names it: external, or internal to the application (named
/// `<application.id>-<name>` once the application id is known).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TopicName {
    /// A topic named by the user.
    External(String),
    /// A topic the application owns, such as a repartition topic.
    Internal(String),
    /// Every topic whose whole name matches this regular expression (Kafka Streams'
    /// `builder.stream(Pattern)`), those created later included.
    Pattern(String),
}

impl TopicName {
    /// The topic's full name for `application_id`.
    pub fn resolve(&self, application_id: &str) -> String {
        match self {
            TopicName::External(name) => name.clone(),
            TopicName::Internal(name) => format!("{application_id}-{name}"),
            TopicName::Pattern(regex) => format!("^({regex})$"),
        }
    }

    /// Whether the name, resolved, is a subscription pattern rather than a topic: it then
    /// starts with `^`, as librdkafka's regular-expression subscriptions do.
    pub fn is_pattern(resolved: &str) -> bool {
        resolved.starts_with('^')
    }

    /// Whether the application owns the topic.
    pub fn is_internal(&self) -> bool {
        matches!(self, TopicName::Internal(_))
    }
}

/// Where a source starts reading a partition that the application has no committed offset
/// for (Kafka Streams' `AutoOffsetReset`); the runtime's default is `Earliest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OffsetReset {
    /// The partition's first record.
    #[default]
    Earliest,
    /// After its last record: only records written from now on.
    Latest,
    /// The first record at or after this long before now (the end if there is none).
    ByDuration(std::time::Duration),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TypeSig {
    id: TypeId,
    name: &'static str,
}

impl TypeSig {
    fn of<K: 'static, V: 'static>() -> Self {
        Self {
            id: TypeId::of::<(K, V)>(),
            name: std::any::type_name::<(K, V)>(),
        }
    }
}

#[derive(Clone, Debug)]
enum NodeKind {
    Source { topics: Vec<TopicName> },
    Processor,
    Sink { topic: Option<TopicName> },
}

struct NodeSpec {
    name: String,
    kind: NodeKind,
    parents: Vec<usize>,
    children: Vec<usize>,
    stores: Vec<String>,
    output: Option<TypeSig>,
    global: bool,
    factory: Arc<dyn NodeFactory>,
}

struct StoreSpec {
    builder: Arc<dyn StoreBuilder>,
    global: bool,
}

/// A logged store's changelog topic, as the runtime creates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangelogTopic {
    /// The topic's name, `<application.id>-<store>-changelog`.
    pub name: String,
    /// The store's retention (ms), if it expires data: the topic is then `compact,delete`.
    pub retention_ms: Option<i64>,
    /// How long compaction must leave a record alone (ms), if the store needs older records.
    pub min_compaction_lag_ms: Option<i64>,
    /// Topic configs the user gave the store's changelog, over the runtime's own.
    pub configs: Vec<(String, String)>,
}

/// The processing graph of an application, built through the Processor API below or by the
/// DSL's `StreamsBuilder`.
///
/// Nodes are added parents first, so the graph is acyclic by construction. Parent and child
/// types are checked when a node is added.
///
/// ```
/// use streams_core::{Processor, ProcessorContext, ProcessorError, Record, Serdes, Topology};
///
/// struct Upper;
/// impl Processor<String, String> for Upper {
///     fn process(&mut self, r: Record<String, String>, ctx: &mut ProcessorContext<'_, String, String>)
///         -> Result<(), ProcessorError> {
///         let upper = r.value.to_uppercase();
///         ctx.forward(r.with_value(upper))
///     }
/// }
///
/// let mut topology = Topology::new();
/// topology
///     .add_source("in", &["words"], Serdes::string(), Serdes::string())?
///     .add_processor("upper", || Upper, &["in"])?
///     .add_sink("out", "shouted", Serdes::string(), Serdes::string(), &["upper"])?;
/// assert!(topology.describe().to_string().contains("Processor: upper"));
/// # Ok::<(), streams_core::TopologyError>(())
/// ```
#[derive(Default)]
pub struct Topology {
    nodes: Vec<NodeSpec>,
    stores: Vec<StoreSpec>,
    /// Topics that processors write to directly (for example late records), not via sinks.
    side_outputs: Vec<String>,
    /// The serdes by type that the topology was built with.
    serdes: crate::SerdeRegistry,
    /// Internal topics (unresolved names) whose partition count is fixed, not derived.
    fixed_partitions: Vec<(String, i32)>,
    /// Source topics with an offset reset policy of their own.
    offset_resets: Vec<(TopicName, OffsetReset)>,
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.describe())
    }
}

impl Topology {
    /// An empty topology.
    pub fn new() -> Self {
        Self::default()
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    fn check_new_name(&self, name: &str) -> Result<(), TopologyError> {
        if self.index_of(name).is_some() {
            return Err(TopologyError::DuplicateName(name.to_owned()));
        }
        Ok(())
    }

    /// Resolves parent names and checks that each produces `input` types.
    fn parents_of(
        &self,
        node: &str,
        parents: &[&str],
        input: TypeSig,
    ) -> Result<Vec<usize>, TopologyError> {
        if parents.is_empty() {
            return Err(TopologyError::NoParent(node.to_owned()));
        }
        parents
            .iter()
            .map(|parent| {
                let index = self
                    .index_of(parent)
                    .ok_or_else(|| TopologyError::UnknownParent {
                        node: node.to_owned(),
                        parent: (*parent).to_owned(),
                    })?;
                let output =
                    self.nodes[index]
                        .output
                        .ok_or_else(|| TopologyError::SinkAsParent {
                            node: node.to_owned(),
                            parent: (*parent).to_owned(),
                        })?;
                if output != input {
                    return Err(TopologyError::TypeMismatch {
                        parent: (*parent).to_owned(),
                        child: node.to_owned(),
                        expected: input.name,
                        actual: output.name,
                    });
                }
                Ok(index)
            })
            .collect()
    }

    fn push(&mut self, spec: NodeSpec) -> &mut Self {
        let index = self.nodes.len();
        for &parent in &spec.parents {
            self.nodes[parent].children.push(index);
        }
        self.nodes.push(spec);
        self
    }

    /// Adds a source that reads `topics`, deserializing with the given serdes and taking each
    /// record's time from its Kafka timestamp.
    pub fn add_source<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        name: &str,
        topics: &[&str],
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Result<&mut Self, TopologyError> {
        let topics = topics
            .iter()
            .map(|t| TopicName::External((*t).to_owned()))
            .collect();
        self.add_source_node(
            name,
            topics,
            key_serde,
            value_serde,
            Arc::new(RecordTimestamp),
        )
    }

    /// Adds a source of `topics` (external or internal) with a timestamp extractor that reads
    /// the records' bytes.
    pub fn add_source_node<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        name: &str,
        topics: Vec<TopicName>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        extractor: Arc<dyn TimestampExtractor>,
    ) -> Result<&mut Self, TopologyError> {
        let time = SourceTime::Bytes(extractor);
        self.add_source_with_time(name, topics, key_serde, value_serde, time)
    }

    /// Adds a source of `topics` (external or internal) with a timestamp extractor that reads
    /// the deserialized records (each is deserialized once, on arrival).
    pub fn add_source_node_with_typed_extractor<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        name: &str,
        topics: Vec<TopicName>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        extractor: Arc<dyn TypedTimestampExtractor<K, V>>,
    ) -> Result<&mut Self, TopologyError> {
        let time = SourceTime::Typed(extractor);
        self.add_source_with_time(name, topics, key_serde, value_serde, time)
    }

    fn add_source_with_time<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        name: &str,
        topics: Vec<TopicName>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        time: SourceTime<K, V>,
    ) -> Result<&mut Self, TopologyError> {
        self.check_new_name(name)?;
        for topic in &topics {
            if let TopicName::Pattern(regex) = topic {
                if let Err(error) = regex::Regex::new(regex) {
                    return Err(TopologyError::InvalidOperation(format!(
                        "the source `{name}` has a pattern that does not compile: {error}"
                    )));
                }
            }
            let taken = self.nodes.iter().any(|n| match &n.kind {
                NodeKind::Source { topics: t } => t.contains(topic),
                _ => false,
            });
            if taken {
                return Err(TopologyError::TopicReadTwice(
                    topic.resolve("<application.id>"),
                ));
            }
        }
        Ok(self.push(NodeSpec {
            name: name.to_owned(),
            kind: NodeKind::Source { topics },
            parents: Vec::new(),
            children: Vec::new(),
            stores: Vec::new(),
            output: Some(TypeSig::of::<K, V>()),
            global: false,
            factory: Arc::new(SourceFactory {
                key_serde,
                value_serde,
                time,
            }),
        }))
    }

    /// Adds a processor, created once per task by `supplier`, as a child of `parents`.
    pub fn add_processor<KIn, VIn, KOut, VOut, P>(
        &mut self,
        name: &str,
        supplier: impl Fn() -> P + Send + Sync + 'static,
        parents: &[&str],
    ) -> Result<&mut Self, TopologyError>
    where
        P: Processor<KIn, VIn, KOut, VOut>,
        KIn: 'static,
        VIn: 'static,
        KOut: 'static,
        VOut: 'static,
    {
        self.check_new_name(name)?;
        let parents = self.parents_of(name, parents, TypeSig::of::<KIn, VIn>())?;
        let global = parents.iter().any(|&p| self.nodes[p].global);
        Ok(self.push(NodeSpec {
            name: name.to_owned(),
            kind: NodeKind::Processor,
            parents,
            children: Vec::new(),
            stores: Vec::new(),
            output: Some(TypeSig::of::<KOut, VOut>()),
            global,
            factory: Arc::new(ProcessorFactory {
                supplier: Arc::new(supplier),
                types: PhantomData,
            }),
        }))
    }

    /// Adds a sink that writes to `topic`, serializing with the given serdes.
    pub fn add_sink<K: 'static, V: 'static>(
        &mut self,
        name: &str,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        parents: &[&str],
    ) -> Result<&mut Self, TopologyError> {
        self.add_sink_node(
            name,
            TopicName::External(topic.to_owned()),
            key_serde,
            value_serde,
            parents,
        )
    }

    /// Adds a sink that writes to `topic` (external or internal).
    pub fn add_sink_node<K: 'static, V: 'static>(
        &mut self,
        name: &str,
        topic: TopicName,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        parents: &[&str],
    ) -> Result<&mut Self, TopologyError> {
        self.add_sink_spec(
            name,
            SinkTopicSpec::Fixed(topic),
            key_serde,
            value_serde,
            None,
            parents,
        )
    }

    /// Adds a sink that writes to `topic` (external or internal), each record to the
    /// partition `partitioner` chooses (Kafka Streams' `StreamPartitioner`).
    pub fn add_sink_node_with_partitioner<K: 'static, V: 'static>(
        &mut self,
        name: &str,
        topic: TopicName,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        partitioner: Arc<dyn crate::StreamPartitioner<K, V>>,
        parents: &[&str],
    ) -> Result<&mut Self, TopologyError> {
        self.add_sink_spec(
            name,
            SinkTopicSpec::Fixed(topic),
            key_serde,
            value_serde,
            Some(partitioner),
            parents,
        )
    }

    /// Adds a sink that chooses each record's topic with `choose` (Kafka Streams'
    /// `TopicNameExtractor`).
    pub fn add_sink_per_record<K: 'static, V: 'static>(
        &mut self,
        name: &str,
        choose: impl Fn(&Record<K, V>) -> String + Send + Sync + 'static,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        parents: &[&str],
    ) -> Result<&mut Self, TopologyError> {
        self.add_sink_spec(
            name,
            SinkTopicSpec::PerRecord(Arc::new(choose)),
            key_serde,
            value_serde,
            None,
            parents,
        )
    }

    fn add_sink_spec<K: 'static, V: 'static>(
        &mut self,
        name: &str,
        topic: SinkTopicSpec<K, V>,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        partitioner: Option<Arc<dyn crate::StreamPartitioner<K, V>>>,
        parents: &[&str],
    ) -> Result<&mut Self, TopologyError> {
        self.check_new_name(name)?;
        let parents = self.parents_of(name, parents, TypeSig::of::<K, V>())?;
        let described = match &topic {
            SinkTopicSpec::Fixed(t) => Some(t.clone()),
            SinkTopicSpec::PerRecord(_) => None,
        };
        Ok(self.push(NodeSpec {
            name: name.to_owned(),
            kind: NodeKind::Sink { topic: described },
            parents,
            children: Vec::new(),
            stores: Vec::new(),
            output: None,
            global: false,
            factory: Arc::new(SinkFactory {
                topic,
                key_serde,
                value_serde,
                partitioner,
            }),
        }))
    }

    /// Renames the node `from` to `to`; its edges and stores are kept.
    pub fn rename_node(&mut self, from: &str, to: &str) -> Result<&mut Self, TopologyError> {
        if from == to {
            return Ok(self);
        }
        self.check_new_name(to)?;
        let index = self
            .index_of(from)
            .ok_or_else(|| TopologyError::UnknownParent {
                node: to.to_owned(),
                parent: from.to_owned(),
            })?;
        self.nodes[index].name = to.to_owned();
        Ok(self)
    }

    /// Adds a state store and connects it to the named processors.
    pub fn add_state_store(
        &mut self,
        builder: impl StoreBuilder,
        processors: &[&str],
    ) -> Result<&mut Self, TopologyError> {
        let name = builder.name().to_owned();
        if self.stores.iter().any(|s| s.builder.name() == name) {
            return Err(TopologyError::DuplicateName(name));
        }
        self.stores.push(StoreSpec {
            builder: Arc::new(builder),
            global: false,
        });
        for processor in processors {
            self.connect_processor_and_state_stores(processor, &[&name])?;
        }
        Ok(self)
    }

    /// Connects an existing processor to existing stores, so that it may use them.
    pub fn connect_processor_and_state_stores(
        &mut self,
        processor: &str,
        stores: &[&str],
    ) -> Result<&mut Self, TopologyError> {
        let index = self
            .index_of(processor)
            .filter(|&i| matches!(self.nodes[i].kind, NodeKind::Processor))
            .ok_or_else(|| TopologyError::UnknownProcessor {
                store: stores.join(", "),
                node: processor.to_owned(),
            })?;
        for store in stores {
            if !self.stores.iter().any(|s| s.builder.name() == *store) {
                return Err(TopologyError::UnknownStore((*store).to_owned()));
            }
            let node = &mut self.nodes[index];
            if !node.stores.iter().any(|s| s == store) {
                node.stores.push((*store).to_owned());
            }
        }
        Ok(self)
    }

    /// Adds a global store: a store replicated in full to every instance, kept up to date from
    /// `topic` by the processor that `supplier` creates (which should write each record into
    /// the store). Every processor may read a global store without being connected to it.
    #[allow(clippy::too_many_arguments)]
    pub fn add_global_store<K, V, P>(
        &mut self,
        store: impl StoreBuilder,
        source_name: &str,
        topic: &str,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        processor_name: &str,
        supplier: impl Fn() -> P + Send + Sync + 'static,
    ) -> Result<&mut Self, TopologyError>
    where
        K: Clone + 'static,
        V: Clone + 'static,
        P: Processor<K, V, (), ()>,
    {
        let store_name = store.name().to_owned();
        self.add_source(source_name, &[topic], key_serde, value_serde)?;
        let source = self.nodes.len() - 1;
        self.nodes[source].global = true;
        self.add_processor::<K, V, (), (), P>(processor_name, supplier, &[source_name])?;
        self.add_state_store(store, &[processor_name])?;
        if let Some(spec) = self
            .stores
            .iter_mut()
            .find(|s| s.builder.name() == store_name)
        {
            spec.global = true;
        }
        Ok(self)
    }

    /// A description of the sub-topologies, their nodes and stores.
    pub fn describe(&self) -> TopologyDescription {
        describe::describe(self)
    }

    /// The sub-topology numbers, in order.
    pub fn subtopology_ids(&self) -> Vec<u32> {
        (0..self.groups().len() as u32).collect()
    }

    /// The topics that sub-topology `id` reads, resolved for `application_id`.
    pub fn source_topics(&self, id: u32, application_id: &str) -> Vec<String> {
        self.groups()
            .get(id as usize)
            .map(|members| self.topics_read_by(members, application_id))
            .unwrap_or_default()
    }

    /// The topics that the global stores are kept from, resolved for `application_id`.
    pub fn global_topics(&self, application_id: &str) -> Vec<String> {
        self.topics_read_by(&self.global_members(), application_id)
    }

    /// The topics that the application owns (repartition topics), resolved.
    pub fn internal_topics(&self, application_id: &str) -> Vec<String> {
        let mut topics: Vec<String> = self
            .nodes
            .iter()
            .flat_map(|n| match &n.kind {
                NodeKind::Source { topics } => topics.clone(),
                NodeKind::Sink { topic: Some(t) } => vec![t.clone()],
                _ => Vec::new(),
            })
            .filter(TopicName::is_internal)
            .map(|t| t.resolve(application_id))
            .collect();
        topics.sort();
        topics.dedup();
        topics
    }

    /// Fixes the partition count of the internal topic `topic` (its name without the
    /// application id, such as `<name>-repartition`; Kafka Streams'
    /// `Repartitioned.withNumberOfPartitions`) instead of deriving it from the topics that
    /// feed it. The sub-topology that reads it then runs that many tasks.
    pub fn set_internal_topic_partitions(
        &mut self,
        topic: &str,
        partitions: i32,
    ) -> Result<&mut Self, TopologyError> {
        if partitions < 1 {
            return Err(TopologyError::InvalidOperation(format!(
                "internal topic `{topic}` needs at least one partition, not {partitions}"
            )));
        }
        self.fixed_partitions.retain(|(t, _)| t != topic);
        self.fixed_partitions.push((topic.to_owned(), partitions));
        Ok(self)
    }

    /// Sets where the sources of `topic` start reading a partition that the application has
    /// no committed offset for (Kafka Streams' `Consumed.withOffsetResetPolicy`).
    pub fn set_offset_reset(&mut self, topic: TopicName, reset: OffsetReset) -> &mut Self {
        self.offset_resets.retain(|(t, _)| *t != topic);
        self.offset_resets.push((topic, reset));
        self
    }

    /// The source topics with an offset reset policy of their own, resolved for
    /// `application_id`.
    pub fn offset_resets(&self, application_id: &str) -> Vec<(String, OffsetReset)> {
        self.offset_resets
            .iter()
            .map(|(t, r)| (t.resolve(application_id), *r))
            .collect()
    }

    /// The internal topics whose partition count is fixed, resolved for `application_id`.
    pub fn fixed_internal_topic_partitions(&self, application_id: &str) -> Vec<(String, i32)> {
        self.fixed_partitions
            .iter()
            .map(|(t, n)| (TopicName::Internal(t.clone()).resolve(application_id), *n))
            .collect()
    }

    /// Sets the serdes by type that the topology was built with (the DSL's
    /// `StreamsBuilder::with_serde` and its built-ins), for those who read and write its
    /// topics later: the test driver's typed topics use them before a type's default serde.
    pub fn set_serdes(&mut self, serdes: crate::SerdeRegistry) -> &mut Self {
        self.serdes = serdes;
        self
    }

    /// The serde the topology was built with for `T`, if one was registered.
    pub fn registered_serde<T: 'static>(&self) -> Option<crate::SerdeRef<T>> {
        self.serdes.get::<T>()
    }

    /// Declares that a processor writes to `topic` directly with
    /// [`ProcessorContext::send_to`](crate::ProcessorContext::send_to), so that drivers treat
    /// it as an output topic.
    pub fn add_side_output_topic(&mut self, topic: &str) -> &mut Self {
        if !self.side_outputs.iter().any(|t| t == topic) {
            self.side_outputs.push(topic.to_owned());
        }
        self
    }

    /// The fixed topics that sinks (and processors, directly) write to, resolved; and whether
    /// any sink chooses its topic per record.
    pub fn sink_topics(&self, application_id: &str) -> (Vec<String>, bool) {
        let mut per_record = false;
        let mut topics = self.side_outputs.clone();
        for node in &self.nodes {
            match &node.kind {
                NodeKind::Sink { topic: Some(t) } => topics.push(t.resolve(application_id)),
                NodeKind::Sink { topic: None } => per_record = true,
                _ => {}
            }
        }
        (topics, per_record)
    }

    /// The changelog topics of the logged stores, resolved for `application_id`.
    pub fn changelog_topics(&self, application_id: &str) -> Vec<String> {
        self.stores
            .iter()
            .filter(|s| s.builder.logging_enabled() && !s.global)
            .map(|s| crate::state::changelog_topic(application_id, s.builder.name()))
            .collect()
    }

    /// The fixed topics that the sinks of sub-topology `id` write to, resolved.
    pub fn subtopology_sink_topics(&self, id: u32, application_id: &str) -> Vec<String> {
        let groups = self.groups();
        let Some(members) = groups.get(id as usize) else {
            return Vec::new();
        };
        members
            .iter()
            .filter_map(|&i| match &self.nodes[i].kind {
                NodeKind::Sink { topic: Some(t) } => Some(t.resolve(application_id)),
                _ => None,
            })
            .collect()
    }

    /// The changelog topics of the logged stores of sub-topology `id`, resolved, with what
    /// their topic configs depend on.
    pub fn subtopology_changelogs(&self, id: u32, application_id: &str) -> Vec<ChangelogTopic> {
        let groups = self.groups();
        let Some(members) = groups.get(id as usize) else {
            return Vec::new();
        };
        self.stores
            .iter()
            .filter(|s| s.builder.logging_enabled() && !s.global)
            .filter(|s| {
                members
                    .iter()
                    .any(|&i| self.nodes[i].stores.iter().any(|n| n == s.builder.name()))
            })
            .map(|s| ChangelogTopic {
                name: crate::state::changelog_topic(application_id, s.builder.name()),
                retention_ms: s.builder.retention_ms(),
                min_compaction_lag_ms: s.builder.min_compaction_lag_ms(),
                configs: s.builder.changelog_configs(),
            })
            .collect()
    }

    /// The names of the (not global) stores that sub-topology `id`'s processors use.
    pub fn subtopology_stores(&self, id: u32) -> Vec<String> {
        let groups = self.groups();
        let Some(members) = groups.get(id as usize) else {
            return Vec::new();
        };
        self.stores
            .iter()
            .filter(|s| !s.global)
            .filter(|s| {
                members
                    .iter()
                    .any(|&i| self.nodes[i].stores.iter().any(|n| n == s.builder.name()))
            })
            .map(|s| s.builder.name().to_owned())
            .collect()
    }

    /// The names of the stores in the topology.
    pub fn store_names(&self) -> Vec<String> {
        self.stores
            .iter()
            .map(|s| s.builder.name().to_owned())
            .collect()
    }

    fn topics_read_by(&self, members: &[usize], application_id: &str) -> Vec<String> {
        members
            .iter()
            .flat_map(|&i| match &self.nodes[i].kind {
                NodeKind::Source { topics } => {
                    topics.iter().map(|t| t.resolve(application_id)).collect()
                }
                _ => Vec::new(),
            })
            .collect()
    }

    fn global_members(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].global)
            .collect()
    }

    /// The sub-topologies as sets of node indexes, each sorted, numbered by their first node:
    /// nodes joined by an edge or by a shared store are in the same sub-topology.
    fn groups(&self) -> Vec<Vec<usize>> {
        let n = self.nodes.len();
        let mut parent: Vec<usize> = (0..n).collect();
        fn find(parent: &mut [usize], mut x: usize) -> usize {
            while parent[x] != x {
                parent[x] = parent[parent[x]];
                x = parent[x];
            }
            x
        }
        let union = |parent: &mut Vec<usize>, a: usize, b: usize| {
            let (ra, rb) = (find(parent, a), find(parent, b));
            if ra != rb {
                parent[ra.max(rb)] = ra.min(rb);
            }
        };
        for (i, node) in self.nodes.iter().enumerate() {
            for &p in &node.parents {
                union(&mut parent, i, p);
            }
        }
        for store in &self.stores {
            let users: Vec<usize> = (0..n)
                .filter(|&i| {
                    self.nodes[i]
                        .stores
                        .iter()
                        .any(|s| s == store.builder.name())
                })
                .collect();
            for pair in users.windows(2) {
                union(&mut parent, pair[0], pair[1]);
            }
        }
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut group_of_root = std::collections::HashMap::new();
        for i in 0..n {
            if self.nodes[i].global {
                continue;
            }
            let root = find(&mut parent, i);
            let g = *group_of_root.entry(root).or_insert_with(|| {
                groups.push(Vec::new());
                groups.len() - 1
            });
            groups[g].push(i);
        }
        groups
    }
}
