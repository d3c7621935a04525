//! Reading `source_query`: one read-only statement, run with the caller's privileges, its
//! rows decoded as they stream out of the executor.

mod decode;
mod readonly;
mod receiver;

use std::ffi::CString;

use pgrx::pg_sys;
use pgrx::prelude::*;
use pgrx::PgTupleDesc;

use crate::api::errors::{raise, raise_with};
use crate::pipeline::column::TrainingData;
use decode::{type_name, ColumnBuilder};
pub use decode::{untoasted, Decoder};
use receiver::{DecodingReceiver, RowSink};

/// Runs `query` and returns its rows split into feature columns and the `target` column.
///
/// Errors of the query itself (syntax, missing table, permission) keep Postgres' own
/// SQLSTATE because Postgres raises them. Ours: several statements or an empty one (42601),
/// a statement that is not a plain SELECT (25006), no `target` column (42703), a target that
/// is not numeric or a feature of an unsupported type (42804), NaN or infinity (22023).
pub fn read_training_data(query: &str, target: &str) -> TrainingData {
    let c_query = CString::new(query).unwrap_or_else(|_| {
        raise_plain(
            PgSqlErrorCode::ERRCODE_SYNTAX_ERROR,
            "source_query contains a NUL byte",
        )
    });
    Spi::connect(|_client| {
        // SAFETY: we are connected to SPI; the plan is owned by the SPI procedure context.
        let plan = unsafe { pg_sys::SPI_prepare(c_query.as_ptr(), 0, std::ptr::null_mut()) };
        if plan.is_null() {
            raise_plain(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                "internal: SPI_prepare returned no plan for source_query",
            );
        }
        // SAFETY: `plan` is a valid saved-in-SPI plan.
        let result_desc = unsafe { readonly::single_select_result(plan) };
        let mut sink = unsafe { build_sink(result_desc, target) };
        let natts = unsafe { (*result_desc).natts };
        let mut receiver = DecodingReceiver::new(&mut sink, natts);
        let options = pg_sys::SPIExecuteOptions {
            read_only: true,
            dest: receiver.as_dest(),
            ..Default::default()
        };
        // Volatile functions in the query could still write through their own SPI calls;
        // a read-only transaction for the duration of the scan refuses those too (25006).
        let guard = readonly::ReadOnlyGuard::enter();
        // SAFETY: plan and options are valid; the receiver and its sink outlive the call.
        let status = unsafe { pg_sys::SPI_execute_plan_extended(plan, &options) };
        drop(guard);
        if status < 0 {
            raise_plain(
                PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
                &format!("internal: SPI_execute_plan_extended failed with status {status}"),
            );
        }
        // SAFETY: the row context was created by build_sink and is no longer in use.
        unsafe { pg_sys::MemoryContextDelete(sink.row_context) };
        if let Some(error) = sink.error.take() {
            raise(&error);
        }
        let columns = sink.columns.into_iter().map(|(_, b)| b.finish()).collect();
        TrainingData {
            columns,
            target_name: sink.target_name,
            target: sink.target,
            n_skipped: sink.n_skipped,
        }
    })
}

/// Chooses decoders for every column and locates the target, before any row is read.
///
/// # Safety
/// `desc` must be a valid tuple descriptor.
unsafe fn build_sink(desc: pg_sys::TupleDesc, target: &str) -> RowSink {
    let desc = PgTupleDesc::from_pg_unchecked(desc);
    let mut names: Vec<String> = Vec::new();
    let mut target_index = None;
    let mut columns = Vec::new();
    let mut target_decoder = Decoder::Float8;
    for (index, attr) in desc.iter().enumerate() {
        if attr.is_dropped() {
            continue;
        }
        let name = attr.name().to_string();
        if names.contains(&name) {
            raise_detail(
                PgSqlErrorCode::ERRCODE_DUPLICATE_COLUMN,
                &format!("source_query returns column \"{name}\" more than once"),
                "Give every output column a distinct name with AS.",
            );
        }
        names.push(name.clone());
        let type_oid = attr.type_oid().value();
        let decoder = Decoder::for_type(type_oid);
        if name == target {
            target_index = Some(index);
            target_decoder = match decoder {
                Some(d) if d.is_numeric() => d,
                _ => raise_detail(
                    PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                    &format!(
                        "target column \"{name}\" is of type {}; it must be numeric",
                        type_name(type_oid)
                    ),
                    "Cast it in source_query, e.g. price::float8 AS target.",
                ),
            };
            continue;
        }
        let Some(decoder) = decoder else {
            raise_detail(
                PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
                &format!(
                    "column \"{name}\" is of type {}, which pg_retrain cannot use as a feature",
                    type_name(type_oid)
                ),
                "Supported: smallint, integer, bigint, real, double precision, numeric, \
                 boolean, text, varchar, char, enums, date, timestamp, timestamptz. \
                 Cast or drop the column in source_query.",
            );
        };
        columns.push((
            index,
            ColumnBuilder::new(name, type_name(type_oid), decoder),
        ));
    }
    let Some(target_index) = target_index else {
        raise_detail(
            PgSqlErrorCode::ERRCODE_UNDEFINED_COLUMN,
            &format!("source_query returns no column named \"{target}\""),
            &format!("Available columns: {}.", names.join(", ")),
        );
    };
    let row_context = pg_sys::AllocSetContextCreateInternal(
        pg_sys::CurrentMemoryContext,
        c"pg_retrain row".as_ptr(),
        pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
        pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
        pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
    );
    RowSink {
        target_index,
        target_name: target.to_string(),
        target_decoder,
        columns,
        target: Vec::new(),
        n_skipped: 0,
        error: None,
        row_context,
        rows_since_reset: 0,
    }
}

fn raise_plain(code: PgSqlErrorCode, message: &str) -> ! {
    raise_with(code, message, None)
}

fn raise_detail(code: PgSqlErrorCode, message: &str, hint: &str) -> ! {
    raise_with(code, message, Some(hint))
}
