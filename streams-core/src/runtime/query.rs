//! Interactive queries: reading the stores of a running instance. A store lives on the
//! stream thread that runs its task, so a query travels to every thread as a closure, runs
//! there between two rounds of processing, and sends its answer back.

use std::collections::HashMap;
use std::sync::{mpsc, Mutex};

use super::tasks::ActiveTasks;

/// A query on its way to a stream thread.
pub(crate) type Query = Box<dyn FnOnce(&ActiveTasks) + Send>;

/// Where each stream thread takes its queries.
#[derive(Default)]
pub(crate) struct QueryRoutes(Mutex<HashMap<usize, mpsc::Sender<Query>>>);

impl QueryRoutes {
    /// Thread `index` takes its queries from the returned receiver from now on.
    pub(crate) fn open(&self, index: usize) -> mpsc::Receiver<Query> {
        let (sender, receiver) = mpsc::channel();
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(index, sender);
        receiver
    }

    /// Thread `index` takes no more queries.
    pub(crate) fn close(&self, index: usize) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&index);
    }

    /// The routes to every thread that takes queries now.
    pub(crate) fn all(&self) -> Vec<mpsc::Sender<Query>> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }
}
