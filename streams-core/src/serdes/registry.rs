//! Serdes chosen by type: what a topology is built with, so that whoever reads or writes its
//! topics later (the test driver's typed topics) uses the same ones.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use super::{SerdeRef, Serdes};

/// A serde per type. Registering one for `T` registers its optional form for `Option<T>`
/// too (a null is `None`).
///
/// ```
/// use streams_core::{SerdeRegistry, Serdes};
///
/// let mut serdes = SerdeRegistry::new();
/// serdes.register(Serdes::string());
/// assert!(serdes.get::<String>().is_some());
/// assert!(serdes.get::<Option<String>>().is_some());
/// assert!(serdes.get::<i64>().is_none());
/// ```
#[derive(Clone, Default)]
pub struct SerdeRegistry {
    serdes: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl SerdeRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `serde` for `T`, and the optional serde over it for `Option<T>`.
    pub fn register<T: 'static>(&mut self, serde: SerdeRef<T>) {
        self.serdes.insert(
            TypeId::of::<Option<T>>(),
            Arc::new(Serdes::optional(serde.clone())),
        );
        self.serdes.insert(TypeId::of::<T>(), Arc::new(serde));
    }

    /// The serde registered for `T`, if any.
    pub fn get<T: 'static>(&self) -> Option<SerdeRef<T>> {
        self.serdes
            .get(&TypeId::of::<T>())
            .and_then(|s| s.downcast_ref::<SerdeRef<T>>())
            .cloned()
    }
}

impl std::fmt::Debug for SerdeRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerdeRegistry")
            .field("types", &self.serdes.len())
            .finish()
    }
}
