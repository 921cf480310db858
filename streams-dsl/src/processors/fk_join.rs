//! The processors of a foreign-key table join (KIP-213; Kafka Streams'
//! `SubscriptionSendProcessorSupplier`, `SubscriptionReceiveProcessorSupplier`,
//! `SubscriptionJoinProcessorSupplier`, `ForeignTableJoinProcessorSupplier` and
//! `ResponseJoinProcessorSupplier`).
//!
//! The left table's rows subscribe to the right table's rows through a topic keyed by the
//! foreign key; the right side keeps the subscriptions and answers each, and each update of a
//! subscribed right row, through a topic keyed by the left key. An answer carries the hash of
//! the left value it was made for, so that the left side drops answers to values it no longer
//! holds.

use std::sync::Arc;

use streams_core::{Headers, Processor, ProcessorContext, ProcessorError, Record, SerdeRef};

use super::murmur3;
use super::subscription::{
    ForeignKeyPrefix, Instruction, SubscriptionResponseWrapper, SubscriptionWrapper,
};
use super::table_join::RowTimes;
use super::StoreSlot;
use crate::Change;

/// Hashes left values as their serde writes them, into a reused buffer.
pub(crate) struct ValueHasher<V> {
    serde: SerdeRef<V>,
    /// The topic name handed to the serde.
    topic: Arc<str>,
    buf: Vec<u8>,
}

impl<V> ValueHasher<V> {
    pub(crate) fn new(serde: SerdeRef<V>, topic: Arc<str>) -> Self {
        Self {
            serde,
            topic,
            buf: Vec::new(),
        }
    }

    fn hash(&mut self, value: &V) -> Result<u128, ProcessorError> {
        self.buf.clear();
        self.serde
            .serialize(&self.topic, &mut Headers::new(), value, &mut self.buf)?;
        Ok(murmur3::hash128(&self.buf, murmur3::SEED))
    }
}

/// Turns each left table update into subscriptions keyed by foreign key: subscribe to the new
/// foreign key, and unsubscribe from the old one when it changed or the row was deleted.
pub(crate) struct SubscriptionSend<V, F> {
    pub(crate) foreign_key: Arc<F>,
    pub(crate) hasher: ValueHasher<V>,
    pub(crate) left_join: bool,
}

impl<K, V, KO, F> Processor<K, Change<V>, KO, SubscriptionWrapper<K>> for SubscriptionSend<V, F>
where
    K: Clone + 'static,
    V: 'static,
    KO: Clone + PartialEq + 'static,
    F: Fn(&V) -> KO + 'static,
{
    fn process(
        &mut self,
        r: Record<K, Change<V>>,
        ctx: &mut ProcessorContext<'_, KO, SubscriptionWrapper<K>>,
    ) -> Result<(), ProcessorError> {
        let Record {
            key,
            value: change,
            timestamp,
            headers,
        } = r;
        let hash = match &change.new {
            Some(v) => Some(self.hasher.hash(v)?),
            None => None,
        };
        let new_fk = change.new.as_ref().map(|v| (self.foreign_key)(v));
        let old_fk = change.old.as_ref().map(|v| (self.foreign_key)(v));
        let send = |ctx: &mut ProcessorContext<'_, KO, SubscriptionWrapper<K>>,
                    fk: KO,
                    instruction: Instruction,
                    primary_key: K,
                    headers: Headers| {
            ctx.forward(Record {
                key: fk,
                value: SubscriptionWrapper {
                    hash,
                    instruction,
                    primary_key,
                },
                timestamp,
                headers,
            })
        };
        match (old_fk, new_fk) {
            (Some(old), Some(new)) => {
                if old != new {
                    // An inner join retracts through the new foreign key's answer; a left
                    // join's old answer turns into the row joined with nothing first.
                    let unsubscribe = match self.left_join {
                        true => Instruction::DeleteKeyAndPropagate,
                        false => Instruction::DeleteKeyNoPropagate,
                    };
                    send(ctx, old, unsubscribe, key.clone(), headers.clone())?;
                }
                // Answered even without a right row: a result made with the old value must go.
                let subscribe = Instruction::PropagateNullIfNoFkValAvailable;
                send(ctx, new, subscribe, key, headers)
            }
            (Some(old), None) => send(ctx, old, Instruction::DeleteKeyAndPropagate, key, headers),
            (None, Some(new)) => {
                let subscribe = match self.left_join {
                    true => Instruction::PropagateNullIfNoFkValAvailable,
                    false => Instruction::PropagateOnlyIfFkValAvailable,
                };
                send(ctx, new, subscribe, key, headers)
            }
            (None, None) => Ok(()),
        }
    }
}

/// On the right side: keeps each subscription in the store keyed by (foreign key, left key),
/// or removes it, and passes it on to be answered.
pub(crate) struct SubscriptionReceive<KO, K> {
    pub(crate) store: StoreSlot<(KO, K), u128>,
}

impl<KO, K> Processor<KO, SubscriptionWrapper<K>> for SubscriptionReceive<KO, K>
where
    KO: Clone + 'static,
    K: Clone + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, KO, SubscriptionWrapper<K>>,
    ) -> Result<(), ProcessorError> {
        self.store.open(ctx)
    }

    fn process(
        &mut self,
        r: Record<KO, SubscriptionWrapper<K>>,
        ctx: &mut ProcessorContext<'_, KO, SubscriptionWrapper<K>>,
    ) -> Result<(), ProcessorError> {
        let key = (r.key.clone(), r.value.primary_key.clone());
        let hash = match r.value.instruction.unsubscribes() {
            true => None,
            false => r.value.hash,
        };
        self.store.get()?.put_at(&key, hash.as_ref(), r.timestamp)?;
        ctx.forward(r)
    }
}

/// On the right side: answers a subscription with the right row of its foreign key, at the
/// later of the subscription's and the row's times.
pub(crate) struct SubscriptionJoin<KO, VO> {
    pub(crate) foreign: StoreSlot<KO, VO>,
    pub(crate) foreign_times: RowTimes<KO>,
}

impl<KO, K, VO> Processor<KO, SubscriptionWrapper<K>, K, SubscriptionResponseWrapper<VO>>
    for SubscriptionJoin<KO, VO>
where
    KO: Clone + 'static,
    K: Clone + 'static,
    VO: Clone + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, SubscriptionResponseWrapper<VO>>,
    ) -> Result<(), ProcessorError> {
        self.foreign.open(ctx)?;
        self.foreign_times.open(ctx)
    }

    fn process(
        &mut self,
        r: Record<KO, SubscriptionWrapper<K>>,
        ctx: &mut ProcessorContext<'_, K, SubscriptionResponseWrapper<VO>>,
    ) -> Result<(), ProcessorError> {
        let instruction = r.value.instruction;
        if instruction == Instruction::DeleteKeyNoPropagate {
            return Ok(());
        }
        let foreign = self.foreign.get()?.get(&r.key)?;
        if foreign.is_none() && instruction == Instruction::PropagateOnlyIfFkValAvailable {
            return Ok(());
        }
        let timestamp = match foreign {
            Some(_) => self.foreign_times.result_time(&r.key, r.timestamp)?,
            None => r.timestamp,
        };
        let foreign_value = match instruction {
            Instruction::DeleteKeyAndPropagate => None,
            _ => foreign,
        };
        ctx.forward(Record {
            key: r.value.primary_key,
            value: SubscriptionResponseWrapper {
                hash: r.value.hash,
                foreign_value,
            },
            timestamp,
            headers: r.headers,
        })
    }
}

/// On the right side: sends each update of a right row (a delete too) to every left key
/// subscribed to it, found by a prefix scan of the subscription store.
pub(crate) struct ForeignTableJoin<KO, K> {
    pub(crate) subscriptions: StoreSlot<(KO, K), u128>,
    pub(crate) prefix: ForeignKeyPrefix<KO>,
    pub(crate) own_times: RowTimes<KO>,
}

impl<KO, K, VO> Processor<KO, Change<VO>, K, SubscriptionResponseWrapper<VO>>
    for ForeignTableJoin<KO, K>
where
    KO: Clone + 'static,
    K: Clone + 'static,
    VO: Clone + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, SubscriptionResponseWrapper<VO>>,
    ) -> Result<(), ProcessorError> {
        self.subscriptions.open(ctx)?;
        self.own_times.open(ctx)
    }

    fn process(
        &mut self,
        r: Record<KO, Change<VO>>,
        ctx: &mut ProcessorContext<'_, K, SubscriptionResponseWrapper<VO>>,
    ) -> Result<(), ProcessorError> {
        self.own_times
            .update(&r.key, r.value.new.is_some(), r.timestamp)?;
        let subscribers = self
            .subscriptions
            .get()?
            .prefix_scan(&r.key, &self.prefix)?;
        for ((_, primary_key), hash) in subscribers {
            ctx.forward(Record {
                key: primary_key,
                value: SubscriptionResponseWrapper {
                    hash: Some(hash),
                    foreign_value: r.value.new.clone(),
                },
                timestamp: r.timestamp,
                headers: r.headers.clone(),
            })?;
        }
        Ok(())
    }
}

/// On the left side: joins each answer with the left row it answers, or drops it when the
/// row's value has changed since (its hash differs): a newer answer is on its way. The
/// result row (`None` deletes) goes to the join's result table.
pub(crate) struct ResponseJoin<K, V, J> {
    pub(crate) left: StoreSlot<K, V>,
    pub(crate) hasher: ValueHasher<V>,
    pub(crate) joiner: Arc<J>,
}

impl<K, V, VO, VR, J> Processor<K, SubscriptionResponseWrapper<VO>, K, Option<VR>>
    for ResponseJoin<K, V, J>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VO: 'static,
    VR: Clone + 'static,
    J: Fn(&V, Option<&VO>) -> Option<VR> + 'static,
{
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Option<VR>>,
    ) -> Result<(), ProcessorError> {
        self.left.open(ctx)
    }

    fn process(
        &mut self,
        r: Record<K, SubscriptionResponseWrapper<VO>>,
        ctx: &mut ProcessorContext<'_, K, Option<VR>>,
    ) -> Result<(), ProcessorError> {
        let current = self.left.get()?.get(&r.key)?;
        let current_hash = match &current {
            Some(v) => Some(self.hasher.hash(v)?),
            None => None,
        };
        if current_hash != r.value.hash {
            ctx.record_dropped(1);
            return Ok(());
        }
        let result = current
            .as_ref()
            .and_then(|v| (self.joiner)(v, r.value.foreign_value.as_ref()));
        ctx.forward(Record {
            key: r.key,
            value: result,
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}
