use std::sync::Arc;

use streams_core::{Processor, ProcessorContext, ProcessorError, Record};

/// Keeps the records that satisfy a predicate.
pub(crate) struct Filter<F>(pub(crate) Arc<F>);

impl<K, V, F> Processor<K, V> for Filter<F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    F: Fn(&K, &V) -> bool + 'static,
{
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), ProcessorError> {
        if (self.0)(&r.key, &r.value) {
            ctx.forward(r)?;
        }
        Ok(())
    }
}

/// Replaces key and value.
pub(crate) struct Map<F>(pub(crate) Arc<F>);

impl<K, V, K2, V2, F> Processor<K, V, K2, V2> for Map<F>
where
    K: 'static,
    V: 'static,
    K2: Clone + 'static,
    V2: Clone + 'static,
    F: Fn(K, V) -> (K2, V2) + 'static,
{
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K2, V2>,
    ) -> Result<(), ProcessorError> {
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = r;
        let (key, value) = (self.0)(key, value);
        ctx.forward(Record {
            key,
            value,
            timestamp,
            headers,
        })
    }
}

/// Replaces the value, given the key.
pub(crate) struct MapValues<F>(pub(crate) Arc<F>);

impl<K, V, V2, F> Processor<K, V, K, V2> for MapValues<F>
where
    K: Clone + 'static,
    V: 'static,
    V2: Clone + 'static,
    F: Fn(&K, V) -> V2 + 'static,
{
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V2>,
    ) -> Result<(), ProcessorError> {
        ctx.forward(r.map_value(|key, value| (self.0)(key, value)))
    }
}

/// Replaces each record by zero or more records.
pub(crate) struct FlatMap<F>(pub(crate) Arc<F>);

impl<K, V, K2, V2, I, F> Processor<K, V, K2, V2> for FlatMap<F>
where
    K: 'static,
    V: 'static,
    K2: Clone + 'static,
    V2: Clone + 'static,
    I: IntoIterator<Item = (K2, V2)>,
    F: Fn(K, V) -> I + 'static,
{
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K2, V2>,
    ) -> Result<(), ProcessorError> {
        for (key, value) in (self.0)(r.key, r.value) {
            ctx.forward(Record {
                key,
                value,
                timestamp: r.timestamp,
                headers: r.headers.clone(),
            })?;
        }
        Ok(())
    }
}

/// Replaces each value by zero or more values under the same key.
pub(crate) struct FlatMapValues<F>(pub(crate) Arc<F>);

impl<K, V, V2, I, F> Processor<K, V, K, V2> for FlatMapValues<F>
where
    K: Clone + 'static,
    V: 'static,
    V2: Clone + 'static,
    I: IntoIterator<Item = V2>,
    F: Fn(&K, V) -> I + 'static,
{
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V2>,
    ) -> Result<(), ProcessorError> {
        for value in (self.0)(&r.key, r.value) {
            ctx.forward(Record {
                key: r.key.clone(),
                value,
                timestamp: r.timestamp,
                headers: r.headers.clone(),
            })?;
        }
        Ok(())
    }
}

/// Replaces the key with one computed from key and value.
pub(crate) struct SelectKey<F>(pub(crate) Arc<F>);

impl<K, V, K2, F> Processor<K, V, K2, V> for SelectKey<F>
where
    K: 'static,
    V: Clone + 'static,
    K2: Clone + 'static,
    F: Fn(&K, &V) -> K2 + 'static,
{
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K2, V>,
    ) -> Result<(), ProcessorError> {
        let key = (self.0)(&r.key, &r.value);
        ctx.forward(r.with_key(key))
    }
}

/// Calls an action on each record and forwards it unchanged.
pub(crate) struct Peek<F>(pub(crate) Arc<F>);

impl<K, V, F> Processor<K, V> for Peek<F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    F: Fn(&K, &V) + 'static,
{
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), ProcessorError> {
        (self.0)(&r.key, &r.value);
        ctx.forward(r)
    }
}

/// Calls an action on each record; forwards nothing.
pub(crate) struct ForEach<F>(pub(crate) Arc<F>);

impl<K, V, F> Processor<K, V, (), ()> for ForEach<F>
where
    K: 'static,
    V: 'static,
    F: Fn(&K, &V) + 'static,
{
    fn process(
        &mut self,
        r: Record<K, V>,
        _: &mut ProcessorContext<'_, (), ()>,
    ) -> Result<(), ProcessorError> {
        (self.0)(&r.key, &r.value);
        Ok(())
    }
}

/// Writes each record as a line (`print`).
pub(crate) struct Print<K, V>(pub(crate) Arc<crate::config::Printer<K, V>>);

impl<K: 'static, V: 'static> Processor<K, V, (), ()> for Print<K, V> {
    fn process(
        &mut self,
        r: Record<K, V>,
        _: &mut ProcessorContext<'_, (), ()>,
    ) -> Result<(), ProcessorError> {
        self.0
            .print(&r.key, &r.value)
            .map_err(|e| ProcessorError::Failed(Box::new(e)))
    }
}

/// Forwards records unchanged: merges, and the branches of a split.
pub(crate) struct PassThrough;

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V> for PassThrough {
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), ProcessorError> {
        ctx.forward(r)
    }
}

/// A predicate of a split, shared by every task.
pub(crate) type Predicate<K, V> = Arc<dyn Fn(&K, &V) -> bool + Send + Sync>;

/// Sends each record to the first branch whose predicate it satisfies, or to the default
/// branch, or drops it if there is none.
pub(crate) struct Branch<K, V> {
    pub(crate) branches: Arc<Vec<(Predicate<K, V>, String)>>,
    pub(crate) default: Option<String>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor<K, V> for Branch<K, V> {
    fn process(
        &mut self,
        r: Record<K, V>,
        ctx: &mut ProcessorContext<'_, K, V>,
    ) -> Result<(), ProcessorError> {
        let target = self
            .branches
            .iter()
            .find(|(predicate, _)| predicate(&r.key, &r.value))
            .map(|(_, child)| child)
            .or(self.default.as_ref());
        match target {
            Some(child) => ctx.forward_to(child, r),
            None => Ok(()),
        }
    }
}
