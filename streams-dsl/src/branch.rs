//! Splitting a stream into named branches.

use std::collections::HashMap;
use std::sync::Arc;

use crate::builder::Graph;
use crate::processors::stateless::{Branch, PassThrough, Predicate};
use crate::{Branched, KStream};

/// A split in progress: add branches with [`branch`](Self::branch), then finish with
/// [`default_branch`](Self::default_branch) or [`no_default_branch`](Self::no_default_branch),
/// which return the branches by name (`<prefix><branch name>`).
///
/// ```
/// use streams_dsl::prelude::*;
///
/// let builder = StreamsBuilder::new();
/// let branches = builder
///     .stream::<String, i64>("amounts")
///     .split_with(Named::new("amount-"))
///     .branch(|_, v| *v < 0, Branched::named("negative"))
///     .branch(|_, v| *v > 1000, Branched::named("large"))
///     .default_branch(Branched::named("other"));
/// branches["amount-negative"].to("refunds");
/// branches["amount-other"].to("regular");
/// assert_eq!(branches.len(), 3);
/// ```
pub struct BranchedKStream<K, V> {
    graph: Graph,
    parent: String,
    prefix: Option<String>,
    repartition_required: bool,
    branches: Vec<(Predicate<K, V>, Branched<K, V>)>,
}

impl<K: Clone + 'static, V: Clone + 'static> BranchedKStream<K, V> {
    pub(crate) fn new(
        graph: Graph,
        parent: String,
        prefix: Option<String>,
        repartition_required: bool,
    ) -> Self {
        Self {
            graph,
            parent,
            prefix,
            repartition_required,
            branches: Vec::new(),
        }
    }

    /// Adds a branch for the records that satisfy `predicate` (and no earlier branch's).
    pub fn branch(
        mut self,
        predicate: impl Fn(&K, &V) -> bool + Send + Sync + 'static,
        branched: Branched<K, V>,
    ) -> Self {
        self.branches.push((Arc::new(predicate), branched));
        self
    }

    /// Finishes the split with a branch for the records no predicate took.
    pub fn default_branch(self, branched: Branched<K, V>) -> HashMap<String, KStream<K, V>> {
        self.finish(Some(branched))
    }

    /// Finishes the split; records no predicate took are dropped.
    pub fn no_default_branch(self) -> HashMap<String, KStream<K, V>> {
        self.finish(None)
    }

    /// Adds the branch nodes; returns each branch's stream, after its function if it has one
    /// (a branch with a consumer is not returned), by name.
    fn finish(self, default: Option<Branched<K, V>>) -> HashMap<String, KStream<K, V>> {
        let g = &self.graph;
        let branch_node = g.name("KSTREAM-BRANCH-");
        let prefix = self.prefix.unwrap_or_else(|| format!("{branch_node}-"));
        // Unnamed branches are numbered from 1; the default branch is 0, as in Kafka Streams.
        let label = |name: Option<String>, number: usize| {
            format!("{prefix}{}", name.unwrap_or_else(|| number.to_string()))
        };
        let mut children = Vec::new();
        let mut routes = Vec::new();
        for (i, (predicate, branched)) in self.branches.into_iter().enumerate() {
            let child = label(branched.name, i + 1);
            routes.push((predicate, child.clone()));
            children.push((child, branched.chain));
        }
        let default_child = default.map(|branched| (label(branched.name, 0), branched.chain));
        let default_name = default_child.as_ref().map(|(name, _)| name.clone());
        children.extend(default_child);
        let routes = Arc::new(routes);
        g.with_topology(|t| {
            t.add_processor(
                &branch_node,
                move || Branch {
                    branches: Arc::clone(&routes),
                    default: default_name.clone(),
                },
                &[&self.parent],
            )?;
            for (child, _) in &children {
                t.add_processor::<K, V, K, V, _>(child, || PassThrough, &[&branch_node])?;
            }
            Ok(())
        });
        children
            .into_iter()
            .filter_map(|(child, chain)| {
                let stream = KStream::new(g.clone(), child.clone(), self.repartition_required);
                match chain {
                    None => Some((child, stream)),
                    Some(chain) => chain(stream).map(|stream| (child, stream)),
                }
            })
            .collect()
    }
}
