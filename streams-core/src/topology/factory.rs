//! How each node of a topology is instantiated for a task. Types are checked when nodes are
//! connected; here they are recovered once per task, never per record.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use crate::processor::Processor;
use crate::task::{
    Child, DownstreamRef, NodeInfo, NodeRef, ProcessorNode, SinkNode, SinkTopic, SourceNode,
    SourceRef, SourceTime, TopicChooser,
};
use crate::{SerdeRef, TopologyError};

/// What a factory gets: the node's identity and its children's typed inputs (as `Any`).
pub(crate) struct BuildContext<'a> {
    pub(crate) info: NodeInfo,
    pub(crate) children: Vec<(String, &'a dyn Any)>,
    pub(crate) application_id: &'a str,
}

impl BuildContext<'_> {
    fn typed_children<K: 'static, V: 'static>(&self) -> Result<Vec<Child<K, V>>, TopologyError> {
        self.children
            .iter()
            .map(|(name, input)| {
                input
                    .downcast_ref::<DownstreamRef<K, V>>()
                    .map(|input| Child {
                        name: name.clone(),
                        input: Rc::clone(input),
                    })
                    .ok_or_else(|| TopologyError::TypeMismatch {
                        parent: self.info.name.clone(),
                        child: name.clone(),
                        expected: "the parent's output types",
                        actual: std::any::type_name::<(K, V)>(),
                    })
            })
            .collect()
    }
}

/// A node instance: its typed input (for processors and sinks), its byte input (for
/// sources) and its life cycle.
pub(crate) struct BuiltNode {
    pub(crate) input: Option<Box<dyn Any>>,
    pub(crate) source: Option<SourceRef>,
    pub(crate) lifecycle: NodeRef,
}

pub(crate) trait NodeFactory: Send + Sync {
    fn build(&self, ctx: BuildContext<'_>) -> Result<BuiltNode, TopologyError>;
}

pub(crate) struct SourceFactory<K, V> {
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
    pub(crate) time: SourceTime<K, V>,
}

impl<K: Clone + 'static, V: Clone + 'static> NodeFactory for SourceFactory<K, V> {
    fn build(&self, ctx: BuildContext<'_>) -> Result<BuiltNode, TopologyError> {
        let node = Rc::new(RefCell::new(SourceNode::new(
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.time.clone(),
            ctx.typed_children::<K, V>()?,
        )));
        let source: SourceRef = node.clone();
        Ok(BuiltNode {
            input: None,
            source: Some(source),
            lifecycle: node,
        })
    }
}

pub(crate) type Supplier<P> = Arc<dyn Fn() -> P + Send + Sync>;

/// The key and value types a processor takes and gives, as a marker.
pub(crate) type Types<KIn, VIn, KOut, VOut> = PhantomData<fn(KIn, VIn) -> (KOut, VOut)>;

pub(crate) struct ProcessorFactory<P, KIn, VIn, KOut, VOut> {
    pub(crate) supplier: Supplier<P>,
    pub(crate) types: Types<KIn, VIn, KOut, VOut>,
}

impl<P, KIn, VIn, KOut, VOut> NodeFactory for ProcessorFactory<P, KIn, VIn, KOut, VOut>
where
    P: Processor<KIn, VIn, KOut, VOut>,
    KIn: 'static,
    VIn: 'static,
    KOut: 'static,
    VOut: 'static,
{
    fn build(&self, ctx: BuildContext<'_>) -> Result<BuiltNode, TopologyError> {
        let children = ctx.typed_children::<KOut, VOut>()?;
        let node = Rc::new(RefCell::new(ProcessorNode {
            info: ctx.info,
            processor: (self.supplier)(),
            children,
            types: PhantomData,
        }));
        let input: DownstreamRef<KIn, VIn> = node.clone();
        Ok(BuiltNode {
            input: Some(Box::new(input)),
            source: None,
            lifecycle: node,
        })
    }
}

pub(crate) enum SinkTopicSpec<K, V> {
    Fixed(super::TopicName),
    PerRecord(TopicChooser<K, V>),
}

pub(crate) struct SinkFactory<K, V> {
    pub(crate) topic: SinkTopicSpec<K, V>,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
    pub(crate) partitioner: Option<Arc<dyn crate::StreamPartitioner<K, V>>>,
}

impl<K: 'static, V: 'static> NodeFactory for SinkFactory<K, V> {
    fn build(&self, ctx: BuildContext<'_>) -> Result<BuiltNode, TopologyError> {
        let topic = match &self.topic {
            SinkTopicSpec::Fixed(name) => SinkTopic::Fixed {
                name: Arc::from(name.resolve(ctx.application_id)),
                id: None,
            },
            SinkTopicSpec::PerRecord(choose) => SinkTopic::PerRecord(Arc::clone(choose)),
        };
        let node = Rc::new(RefCell::new(SinkNode {
            name: ctx.info.name,
            topic,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            partitioner: self.partitioner.clone(),
        }));
        let input: DownstreamRef<K, V> = node.clone();
        Ok(BuiltNode {
            input: Some(Box::new(input)),
            source: None,
            lifecycle: node,
        })
    }
}
