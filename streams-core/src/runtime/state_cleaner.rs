//! Removing the local state of tasks this instance no longer runs (Kafka Streams'
//! `state.cleanup.delay.ms`).
//!
//! A task that moved to another instance leaves its directory, `<state_dir>/<application.id>/
//! <task>`, behind: kept for a while, it spares a full restore if the task comes back soon;
//! kept forever, it fills the disk. The stream threads say which task directories they hold;
//! a cleaner thread removes the others once they have not been held (nor, for those of an
//! earlier run, modified) for the delay.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::shared::Shared;
use super::RuntimeError;
use crate::{StreamsConfig, TaskId};

/// The task directories the stream threads of this instance hold, and when the others were
/// last released.
#[derive(Debug, Default)]
pub(crate) struct TaskDirectories {
    inner: Mutex<Holds>,
}

#[derive(Debug, Default)]
struct Holds {
    /// How many stream threads hold each directory (a task moving between two threads of
    /// the instance is briefly held by both).
    held: HashMap<TaskId, usize>,
    released: HashMap<TaskId, Instant>,
}

impl TaskDirectories {
    /// Task `id` is (about to be) opened by a stream thread: its directory stays.
    pub(crate) fn hold(&self, id: TaskId) {
        let mut holds = self.lock();
        *holds.held.entry(id).or_default() += 1;
        holds.released.remove(&id);
    }

    /// The tasks that the instance's threads hold open (restoring or processing).
    pub(crate) fn held(&self) -> std::collections::BTreeSet<TaskId> {
        self.lock().held.keys().copied().collect()
    }

    /// Task `id` was closed: its directory may go once the delay has passed.
    pub(crate) fn release(&self, id: TaskId) {
        let mut holds = self.lock();
        if let Some(count) = holds.held.get_mut(&id) {
            *count -= 1;
            if *count == 0 {
                holds.held.remove(&id);
                holds.released.insert(id, Instant::now());
            }
        }
    }

    /// Removes the task directories under `app_dir` that no thread holds and that were not
    /// released (by this run) or modified (by earlier runs) within `delay`. Holds the lock
    /// while it removes, so that a task being opened waits rather than lose its directory.
    /// Returns the tasks whose directories it removed.
    pub(crate) fn clean(&self, app_dir: &Path, delay: Duration) -> Vec<TaskId> {
        let mut holds = self.lock();
        let Ok(entries) = std::fs::read_dir(app_dir) else {
            return Vec::new();
        };
        let mut removed = Vec::new();
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().and_then(parse_task_id) else {
                continue;
            };
            if holds.held.contains_key(&id) || !entry.path().is_dir() {
                continue;
            }
            let idle = match holds.released.get(&id) {
                Some(released) => released.elapsed(),
                None => modified_ago(&entry.path()),
            };
            if idle < delay {
                continue;
            }
            match std::fs::remove_dir_all(entry.path()) {
                Ok(()) => {
                    tracing::info!(task = %id, idle = ?idle, "removed the local state of a task this instance no longer runs");
                    holds.released.remove(&id);
                    removed.push(id);
                }
                Err(error) => {
                    tracing::warn!(task = %id, %error, "could not remove a task's old state")
                }
            }
        }
        removed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Holds> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How long ago `path` was modified (zero if unknown: kept).
fn modified_ago(path: &Path) -> Duration {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default()
}

/// A task directory's name, `<sub-topology>_<partition>`, as a task id.
fn parse_task_id(name: &str) -> Option<TaskId> {
    name.parse().ok()
}

/// Starts the cleaner thread: every `state_cleanup_delay` (at most every minute, at least
/// every 100 ms) it removes the task directories that [`TaskDirectories::clean`] finds
/// stale, until the instance shuts down.
pub(crate) fn start(
    config: &StreamsConfig,
    shared: Arc<Shared>,
) -> Result<JoinHandle<()>, RuntimeError> {
    let delay = config.state_cleanup_delay_value();
    let app_dir = config.state_dir_path().join(config.application_id());
    let period = delay.clamp(Duration::from_millis(100), Duration::from_secs(60));
    let name = format!("{}-state-cleaner", config.application_id());
    Ok(std::thread::Builder::new().name(name).spawn(move || {
        let mut last = Instant::now();
        while !shared.shutting_down() {
            std::thread::sleep(Duration::from_millis(50).min(period));
            if last.elapsed() >= period {
                shared.task_dirs.clean(&app_dir, delay);
                last = Instant::now();
            }
        }
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(subtopology: u32, partition: i32) -> TaskId {
        TaskId {
            subtopology,
            partition,
        }
    }

    /// Held directories stay, released ones go after the delay, other files stay.
    #[test]
    fn only_directories_of_tasks_not_held_for_the_delay_go() {
        let root = tempfile::tempdir().unwrap();
        for name in ["0_0", "0_1", "1_0", "global-0"] {
            std::fs::create_dir_all(root.path().join(name)).unwrap();
        }
        std::fs::write(root.path().join("instance.id"), "id").unwrap();
        let dirs = TaskDirectories::default();
        dirs.hold(task(0, 0));
        dirs.hold(task(0, 1));
        dirs.release(task(0, 1));

        // Within the delay: the released task and the earlier run's fresh directory stay.
        assert!(dirs.clean(root.path(), Duration::from_secs(60)).is_empty());

        let mut removed = dirs.clean(root.path(), Duration::ZERO);
        removed.sort();
        assert_eq!(removed, vec![task(0, 1), task(1, 0)]);
        assert!(root.path().join("0_0").exists());
        assert!(root.path().join("global-0").exists());
        assert!(root.path().join("instance.id").exists());

        // Held again, a task keeps its directory.
        std::fs::create_dir_all(root.path().join("0_1")).unwrap();
        dirs.hold(task(0, 1));
        assert!(dirs.clean(root.path(), Duration::ZERO).is_empty());

        // Held by two threads (a task moving between them), it stays until both release it.
        dirs.hold(task(0, 1));
        dirs.release(task(0, 1));
        assert!(dirs.clean(root.path(), Duration::ZERO).is_empty());
        dirs.release(task(0, 1));
        assert_eq!(dirs.clean(root.path(), Duration::ZERO), vec![task(0, 1)]);
    }

    #[test]
    fn task_directory_names_parse_as_task_ids() {
        assert_eq!(parse_task_id("3_12"), Some(task(3, 12)));
        assert_eq!(parse_task_id("global-0"), None);
        assert_eq!(parse_task_id("x_1"), None);
    }
}
