//! A DestReceiver that decodes rows as the executor produces them.
//!
//! SPI's own receiver copies every row into a tuple table that lives until the SPI call
//! ends (hundreds of MB per million rows); this one decodes each slot into compact column
//! vectors and lets the slot go, so reading costs little more than the scan itself.

use pgrx::pg_sys;
use pgrx::prelude::*;

use super::decode::{ColumnBuilder, Decoder};
use crate::pipeline::error::PipelineError;

/// The state the receiver fills; owned by the reader, borrowed through a raw pointer for
/// the duration of one `SPI_execute_plan_extended` call.
pub struct RowSink {
    pub target_index: usize,
    pub target_name: String,
    pub target_decoder: Decoder,
    /// `(attribute index, builder)` per feature column, in result order.
    pub columns: Vec<(usize, ColumnBuilder)>,
    pub target: Vec<f64>,
    pub n_skipped: u64,
    /// The first decoding error; the receiver stops the executor when it is set.
    pub error: Option<PipelineError>,
    /// Detoasted values and slow-path numeric conversions allocate here; it is reset
    /// every `ROWS_PER_RESET` rows, which bounds it without paying a reset per row.
    pub row_context: pg_sys::MemoryContext,
    pub rows_since_reset: u32,
}

/// Rows between two resets of the row context: at most this many rows' worth of
/// detoasted copies are ever held.
const ROWS_PER_RESET: u32 = 256;

impl RowSink {
    /// # Safety
    /// `slot` must be a valid slot whose attributes `0..natts` are deformed.
    unsafe fn take_row(&mut self, slot: *mut pg_sys::TupleTableSlot) -> Result<(), PipelineError> {
        let values = (*slot).tts_values;
        let nulls = (*slot).tts_isnull;
        if *nulls.add(self.target_index) {
            self.n_skipped += 1;
            return Ok(());
        }
        let y = self
            .target_decoder
            .number(*values.add(self.target_index), &self.target_name)?;
        for (index, builder) in &mut self.columns {
            builder.push(*values.add(*index), *nulls.add(*index))?;
        }
        crate::pipeline::column::push_number(&mut self.target, y)
    }
}

/// `DestReceiver` must come first so the executor's pointer can be cast back to ours.
#[repr(C)]
pub struct DecodingReceiver {
    base: pg_sys::DestReceiver,
    sink: *mut RowSink,
    natts: i32,
}

impl DecodingReceiver {
    pub fn new(sink: &mut RowSink, natts: i32) -> Self {
        let base = pg_sys::DestReceiver {
            receiveSlot: Some(receive_slot),
            rStartup: Some(startup),
            rShutdown: Some(shutdown),
            rDestroy: Some(destroy),
            mydest: pg_sys::CommandDest::DestNone,
        };
        Self { base, sink, natts }
    }

    pub fn as_dest(&mut self) -> *mut pg_sys::DestReceiver {
        &mut self.base
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn receive_slot(
    slot: *mut pg_sys::TupleTableSlot,
    dest: *mut pg_sys::DestReceiver,
) -> bool {
    // SAFETY: `dest` is the `base` field of a live DecodingReceiver (repr(C), first field),
    // and its sink outlives the executor run that calls us.
    let receiver = &mut *(dest as *mut DecodingReceiver);
    let sink = &mut *receiver.sink;
    // The test `slot_getsomeattrs` makes inline in C: a slot the executor already deformed
    // (a projection's virtual slot) then costs no guarded call into Postgres per row.
    if i32::from((*slot).tts_nvalid) < receiver.natts {
        pg_sys::slot_getsomeattrs(slot, receiver.natts);
    }
    let previous = pg_sys::MemoryContextSwitchTo(sink.row_context);
    let outcome = sink.take_row(slot);
    pg_sys::MemoryContextSwitchTo(previous);
    sink.rows_since_reset += 1;
    if sink.rows_since_reset >= ROWS_PER_RESET {
        pg_sys::MemoryContextReset(sink.row_context);
        sink.rows_since_reset = 0;
    }
    match outcome {
        Ok(()) => true,
        Err(e) => {
            // Returning false stops the executor; the reader raises the error afterwards.
            sink.error = Some(e);
            false
        }
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn startup(
    _dest: *mut pg_sys::DestReceiver,
    _operation: std::ffi::c_int,
    _typeinfo: pg_sys::TupleDesc,
) {
}

#[pg_guard]
unsafe extern "C-unwind" fn shutdown(_dest: *mut pg_sys::DestReceiver) {}

#[pg_guard]
unsafe extern "C-unwind" fn destroy(_dest: *mut pg_sys::DestReceiver) {}
