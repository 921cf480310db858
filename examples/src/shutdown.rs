//! Ctrl-C in the examples: the application closes cleanly, as a service should on SIGINT.

use std::sync::Arc;
use std::time::Duration;

use streams_dsl::prelude::*;

/// How long a close on Ctrl-C may take before the process exits anyway.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(30);

/// On Ctrl-C (SIGINT, or SIGTERM), closes `streams` (its threads commit and write their
/// checkpoints, so that the next start restores nothing) and exits the process: 130 if it
/// closed in time, 1 if not.
pub fn close_on_ctrl_c(streams: Arc<KafkaStreams>) -> Result<(), ctrlc::Error> {
    ctrlc::set_handler(move || {
        eprintln!("interrupted: closing the application (commit, checkpoint)");
        let closed = streams.close(CLOSE_TIMEOUT);
        if !closed {
            eprintln!("the application did not close within {CLOSE_TIMEOUT:?}");
        }
        std::process::exit(if closed { 130 } else { 1 });
    })
}
