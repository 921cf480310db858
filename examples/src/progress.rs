//! A progress bar per store while the application restores its state from changelogs.

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use streams_core::runtime::StateRestoreListener;
use streams_core::TopicPartition;

/// Draws one bar per changelog partition being restored, on the terminal's standard error.
#[derive(Default)]
pub struct RestoreProgressBars {
    bars: MultiProgress,
    by_changelog: Mutex<HashMap<(String, i32), ProgressBar>>,
}

impl StateRestoreListener for RestoreProgressBars {
    fn on_restore_start(&self, changelog: &TopicPartition, store: &str, start: i64, end: i64) {
        let bar = self
            .bars
            .add(ProgressBar::new(u64::try_from(end - start).unwrap_or(0)));
        let style =
            ProgressStyle::with_template("{prefix:>24} [{bar:30}] {pos}/{len} records, {eta} left")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(format!("{store} ({})", changelog.partition));
        let key = (changelog.topic.clone(), changelog.partition);
        let mut bars = self.by_changelog.lock().unwrap_or_else(|p| p.into_inner());
        bars.insert(key, bar);
    }

    fn on_batch_restored(&self, changelog: &TopicPartition, _: &str, _: i64, restored: u64) {
        let bars = self.by_changelog.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bar) = bars.get(&(changelog.topic.clone(), changelog.partition)) {
            bar.inc(restored);
        }
    }

    fn on_restore_end(&self, changelog: &TopicPartition, store: &str, total: u64) {
        let mut bars = self.by_changelog.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bar) = bars.remove(&(changelog.topic.clone(), changelog.partition)) {
            bar.finish_with_message(format!("{store}: {total} records restored"));
        }
    }
}
