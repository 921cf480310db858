//! Log lines about individual records (dropped, skipped), at most one per interval: visible
//! at the default level without a line per record when thousands arrive late.

use std::time::{Duration, Instant};

/// How often a task may log about records it drops or skips.
const INTERVAL: Duration = Duration::from_secs(10);

/// Decides when the next line may be written, and counts what was not written meanwhile.
#[derive(Debug, Default)]
pub(crate) struct LogLimit {
    last: Option<Instant>,
    unlogged: u64,
}

impl LogLimit {
    /// Notes `n` more records; returns how many to report if a line is due now (those
    /// since the last line, these included), or `None` while it is not.
    pub(crate) fn note(&mut self, n: u64) -> Option<u64> {
        self.unlogged += n;
        let due = self.last.is_none_or(|last| last.elapsed() >= INTERVAL);
        if !due {
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.unlogged))
    }
}

#[cfg(test)]
mod tests {
    use super::LogLimit;

    #[test]
    fn the_first_line_is_due_then_the_next_only_after_the_interval() {
        let mut limit = LogLimit::default();
        assert_eq!(limit.note(2), Some(2));
        assert_eq!(limit.note(1), None);
        assert_eq!(limit.note(3), None);
        limit.last = limit.last.and_then(|t| t.checked_sub(super::INTERVAL));
        assert_eq!(limit.note(1), Some(5));
    }
}
