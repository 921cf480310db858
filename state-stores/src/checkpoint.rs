//! Checkpoint files: which changelog offsets a task's local state already covers.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::StoreError;

/// The changelog offsets that a task's local state covers, by changelog topic and partition:
/// restoration starts after them. Stored as a small text file, one `topic partition offset`
/// line per changelog partition, written atomically (to a temporary file, then renamed).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Checkpoint {
    offsets: BTreeMap<(String, i32), i64>,
}

const VERSION: &str = "checkpoint v1";

fn io(path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Io {
        path: path.to_owned(),
        reason: e.to_string(),
    }
}

impl Checkpoint {
    /// An empty checkpoint: nothing covered, restore everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// The offset of the last changelog record that the local state covers, if any.
    pub fn offset(&self, topic: &str, partition: i32) -> Option<i64> {
        self.offsets.get(&(topic.to_owned(), partition)).copied()
    }

    /// Records that the local state covers `topic`-`partition` up to `offset` (inclusive).
    pub fn set(&mut self, topic: &str, partition: i32, offset: i64) {
        self.offsets.insert((topic.to_owned(), partition), offset);
    }

    /// Every `(topic, partition, offset)`.
    pub fn entries(&self) -> impl Iterator<Item = (&str, i32, i64)> {
        self.offsets.iter().map(|((t, p), o)| (t.as_str(), *p, *o))
    }

    /// Reads the checkpoint at `path`; a missing file is an empty checkpoint.
    pub fn read(path: &Path) -> Result<Self, StoreError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::new()),
            Err(e) => return Err(io(path, e)),
        };
        let corrupt = |reason: &str| StoreError::Io {
            path: path.to_owned(),
            reason: format!("corrupt checkpoint file: {reason}"),
        };
        let mut lines = text.lines();
        if lines.next() != Some(VERSION) {
            return Err(corrupt("unknown version"));
        }
        let mut checkpoint = Self::new();
        for line in lines {
            let mut parts = line.rsplitn(3, ' ');
            let (Some(offset), Some(partition), Some(topic)) =
                (parts.next(), parts.next(), parts.next())
            else {
                return Err(corrupt(line));
            };
            let partition = partition.parse().map_err(|_| corrupt(line))?;
            let offset = offset.parse().map_err(|_| corrupt(line))?;
            checkpoint.set(topic, partition, offset);
        }
        Ok(checkpoint)
    }

    /// Writes the checkpoint to `path` atomically.
    pub fn write(&self, path: &Path) -> Result<(), StoreError> {
        let tmp: PathBuf = path.with_extension("tmp");
        let mut file = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
        let mut text = String::from(VERSION);
        text.push('\n');
        for (topic, partition, offset) in self.entries() {
            text.push_str(&format!("{topic} {partition} {offset}\n"));
        }
        file.write_all(text.as_bytes()).map_err(|e| io(&tmp, e))?;
        file.sync_all().map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| io(path, e))
    }

    /// Deletes the checkpoint at `path` (as exactly-once does before processing, so that a
    /// crash never leaves a checkpoint for uncommitted state).
    pub fn delete(path: &Path) -> Result<(), StoreError> {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(path, e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_treats_a_missing_file_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".checkpoint");
        assert_eq!(Checkpoint::read(&path).unwrap(), Checkpoint::new());
        let mut c = Checkpoint::new();
        c.set("app-counts-changelog", 3, 41);
        c.set("app with spaces-changelog", 0, 7);
        c.write(&path).unwrap();
        let back = Checkpoint::read(&path).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.offset("app-counts-changelog", 3), Some(41));
        assert_eq!(back.offset("app-counts-changelog", 2), None);
        Checkpoint::delete(&path).unwrap();
        Checkpoint::delete(&path).unwrap();
        assert_eq!(Checkpoint::read(&path).unwrap(), Checkpoint::new());
    }

    #[test]
    fn a_damaged_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".checkpoint");
        std::fs::write(&path, "checkpoint v1\ntopic x 3\n").unwrap();
        assert!(matches!(
            Checkpoint::read(&path),
            Err(StoreError::Io { .. })
        ));
    }
}
