//! The Processor API: the low-level interface that every DSL operator compiles down to.
//!
//! A [`Processor`] receives typed records one at a time and forwards typed records to its
//! children through its [`ProcessorContext`]; it may keep state in connected stores and
//! schedule punctuations on stream time or wall-clock time.
//!
//! ```
//! use streams_core::{Processor, ProcessorContext, ProcessorError, Record};
//!
//! /// Forwards each value's length.
//! struct Length;
//!
//! impl Processor<String, String, String, usize> for Length {
//!     fn process(
//!         &mut self,
//!         record: Record<String, String>,
//!         ctx: &mut ProcessorContext<'_, String, usize>,
//!     ) -> Result<(), ProcessorError> {
//!         let len = record.value.len();
//!         ctx.forward(record.with_value(len))
//!     }
//! }
//! ```

mod context;
mod fixed_key;
mod punctuation;

pub use context::ProcessorContext;
pub use fixed_key::{FixedKey, FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord};
pub(crate) use punctuation::PunctuationSchedules;
pub use punctuation::{Punctuation, PunctuationType, ScheduleId};

use crate::{ProcessorError, Record};

/// A node of a topology that processes typed records.
///
/// `KIn`/`VIn` are the types it receives, `KOut`/`VOut` the types it forwards. One instance
/// serves one task; the topology creates one per task from the processor's supplier.
pub trait Processor<KIn, VIn, KOut = KIn, VOut = VIn>: 'static {
    /// Called once before the first record: look up stores and schedule punctuations here.
    fn init(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<(), ProcessorError> {
        let _ = ctx;
        Ok(())
    }

    /// Processes one record, forwarding any results through `ctx`.
    fn process(
        &mut self,
        record: Record<KIn, VIn>,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
    ) -> Result<(), ProcessorError>;

    /// Called for each punctuation that this processor scheduled.
    fn punctuate(
        &mut self,
        punctuation: Punctuation,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
    ) -> Result<(), ProcessorError> {
        let _ = (punctuation, ctx);
        Ok(())
    }

    /// Called on every commit (before the task's stores are flushed), parents before
    /// children: a processor with cached stores flushes them here and forwards what they
    /// report.
    fn flush(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<(), ProcessorError> {
        let _ = ctx;
        Ok(())
    }

    /// Called when the task's watermark rose without a record, by a rule for quiet inputs
    /// (see [`StreamsConfig::idle_partition_timeout`](crate::StreamsConfig::idle_partition_timeout)
    /// and [`StreamsConfig::wall_clock_watermark`](crate::StreamsConfig::wall_clock_watermark)),
    /// parents before children: a processor that emits on the watermark (closed windows,
    /// suppressed final results) emits what [`ProcessorContext::watermark`] now closes.
    fn on_watermark(
        &mut self,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
    ) -> Result<(), ProcessorError> {
        let _ = ctx;
        Ok(())
    }

    /// Called once when the task closes.
    fn close(&mut self) {}
}
