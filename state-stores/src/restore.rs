//! Decoding the changelog records of window and session stores into the writes they stand
//! for, all at once, so that a bad record fails a batch before any of it is applied.

use crate::{
    split_session_changelog_key, split_window_changelog_key, ChangelogRecord, StoreError,
    WindowWrite,
};

/// One write of a session store, as its changelog records it.
#[derive(Debug)]
pub(crate) struct SessionWrite<'a> {
    /// The key bytes.
    pub(crate) key: &'a [u8],
    /// The session start.
    pub(crate) start: i64,
    /// The session end.
    pub(crate) end: i64,
    /// The value, or `None` for a delete.
    pub(crate) value: Option<&'a [u8]>,
}

fn too_short(store: &str, kind: &str, record: &ChangelogRecord, needed: usize) -> StoreError {
    StoreError::BadChangelogRecord {
        store: store.to_owned(),
        reason: format!(
            "a {kind} changelog key needs at least {needed} bytes, this one has {}",
            record.key.len()
        ),
    }
}

/// The writes of the window store `store` that `records` hold.
pub(crate) fn window_writes<'a>(
    store: &str,
    records: &'a [ChangelogRecord],
) -> Result<Vec<WindowWrite<'a>>, StoreError> {
    records
        .iter()
        .map(|record| {
            let (key, start) = split_window_changelog_key(&record.key)
                .ok_or_else(|| too_short(store, "window", record, 8))?;
            Ok(WindowWrite {
                key,
                start,
                value: record.value.as_deref(),
            })
        })
        .collect()
}

/// The writes of the session store `store` that `records` hold.
pub(crate) fn session_writes<'a>(
    store: &str,
    records: &'a [ChangelogRecord],
) -> Result<Vec<SessionWrite<'a>>, StoreError> {
    records
        .iter()
        .map(|record| {
            let (key, start, end) = split_session_changelog_key(&record.key)
                .ok_or_else(|| too_short(store, "session", record, 16))?;
            Ok(SessionWrite {
                key,
                start,
                end,
                value: record.value.as_deref(),
            })
        })
        .collect()
}
