//! Which table nodes forward old values (Kafka Streams' `enableSendingOldValues`).
//!
//! A table change carries its row's old value only where an operator downstream needs it: an
//! aggregation of a regrouped table retracts it, a left or outer join and a foreign-key join
//! look at it, suppression keeps it. Elsewhere the old value costs a second call of the user's
//! mapper or joiner for nothing, so nodes leave it out. The DSL turns the switch on while it
//! builds, as operators are added downstream; the processors read it when a task creates them,
//! after the topology is complete.
//!
//! Leaving old values out changes what a filter forwards: without the old value it cannot
//! tell whether a filtered-out row was in the table before, so it forwards a delete for it
//! (Kafka Streams does the same).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A node's switch, shared by the DSL and the node's processor supplier.
#[derive(Clone, Debug, Default)]
pub(crate) struct OldValuesFlag(Arc<AtomicBool>);

impl OldValuesFlag {
    /// Whether the node forwards old values.
    pub(crate) fn is_on(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    fn turn_on(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// How a table's node comes by old values, and so what turning them on takes.
#[derive(Clone, Debug)]
pub(crate) enum OldValues {
    /// A node with a store of its own that it reads anyway (an aggregation, a named table, a
    /// materialized join): old values are always at hand.
    Stored(OldValuesFlag),
    /// A source table (or a stream turned into a table) whose store the user did not name:
    /// it sends old values only when forced, or once a join has materialized it, as Kafka
    /// Streams' source table, which has no store until then.
    Source {
        flag: OldValuesFlag,
        materialized: OldValuesFlag,
    },
    /// A node that computes old values from its parent's (a filter, a value mapper): it can
    /// send them only where its parent does.
    Derived {
        flag: OldValuesFlag,
        parent: Box<OldValues>,
    },
    /// A table-table join: its old results need both sides' old values.
    Join {
        flag: OldValuesFlag,
        left: Box<OldValues>,
        right: Box<OldValues>,
    },
}

impl OldValues {
    /// A node with a store of its own.
    pub(crate) fn stored() -> Self {
        Self::Stored(OldValuesFlag::default())
    }

    /// A source table; `named` when the user named its store (`Materialized::as_store`).
    pub(crate) fn source(named: bool) -> Self {
        let materialized = OldValuesFlag::default();
        if named {
            materialized.turn_on();
        }
        Self::Source {
            flag: OldValuesFlag::default(),
            materialized,
        }
    }

    /// A node that derives its old values from `parent`'s.
    pub(crate) fn derived(parent: &OldValues) -> Self {
        Self::Derived {
            flag: OldValuesFlag::default(),
            parent: Box::new(parent.clone()),
        }
    }

    /// A join of `left` and `right`.
    pub(crate) fn join(left: &OldValues, right: &OldValues) -> Self {
        Self::Join {
            flag: OldValuesFlag::default(),
            left: Box::new(left.clone()),
            right: Box::new(right.clone()),
        }
    }

    /// This node's switch.
    pub(crate) fn flag(&self) -> &OldValuesFlag {
        match self {
            Self::Stored(flag)
            | Self::Source { flag, .. }
            | Self::Derived { flag, .. }
            | Self::Join { flag, .. } => flag,
        }
    }

    /// Asks this node to send old values; `force` makes a source table send them even where
    /// it would need a store for it. Returns whether it now sends them.
    pub(crate) fn enable(&self, force: bool) -> bool {
        match self {
            Self::Stored(flag) => flag.turn_on(),
            Self::Source { flag, materialized } => {
                if !force && !materialized.is_on() {
                    return flag.is_on();
                }
                materialized.turn_on();
                flag.turn_on();
            }
            Self::Derived { flag, parent } => {
                if parent.enable(force) {
                    flag.turn_on();
                }
            }
            Self::Join { flag, left, right } => {
                left.enable(true);
                right.enable(true);
                flag.turn_on();
            }
        }
        self.flag().is_on()
    }

    /// Notes that a join looks this table's rows up, which makes Kafka Streams materialize a
    /// source table: from then on it can send old values without being forced.
    pub(crate) fn mark_materialized(&self) {
        if let Self::Source { materialized, .. } = self {
            materialized.turn_on();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unnamed_source_sends_old_values_only_when_forced() {
        let source = OldValues::source(false);
        assert!(!source.enable(false));
        assert!(source.enable(true));
        assert!(source.flag().is_on());
    }

    #[test]
    fn a_named_or_joined_source_sends_them_when_asked() {
        assert!(OldValues::source(true).enable(false));
        let source = OldValues::source(false);
        source.mark_materialized();
        assert!(source.enable(false));
    }

    #[test]
    fn a_derived_node_follows_its_parent() {
        let source = OldValues::source(false);
        let filter = OldValues::derived(&source);
        assert!(!filter.enable(false));
        assert!(!filter.flag().is_on());
        assert!(filter.enable(true));
        assert!(source.flag().is_on());
    }

    #[test]
    fn a_join_forces_both_sides() {
        let (left, right) = (OldValues::source(false), OldValues::source(false));
        let join = OldValues::join(&left, &right);
        assert!(join.enable(false));
        assert!(left.flag().is_on() && right.flag().is_on());
    }
}
