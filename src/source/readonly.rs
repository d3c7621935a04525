//! Making sure `source_query` only reads.
//!
//! Two layers: the parsed statement must be exactly one plain SELECT without a
//! data-modifying CTE or a locking clause; and while it runs, the transaction is marked
//! read-only so that a volatile function called by the query cannot write either.

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::api::errors::raise_with;

/// Checks the prepared plan and returns the descriptor of its result rows.
///
/// # Safety
/// `plan` must be a valid plan returned by `SPI_prepare` in the current SPI connection.
pub unsafe fn single_select_result(plan: pg_sys::SPIPlanPtr) -> pg_sys::TupleDesc {
    let sources = pg_sys::SPI_plan_get_plan_sources(plan);
    let count = pg_sys::list_length(sources);
    if count != 1 {
        let message = if count == 0 {
            "source_query is empty".to_string()
        } else {
            format!("source_query must be one statement, not {count}")
        };
        raise_with(PgSqlErrorCode::ERRCODE_SYNTAX_ERROR, &message, None);
    }
    let source = pg_sys::list_nth(sources, 0) as *mut pg_sys::CachedPlanSource;
    let mut refusal = None;
    if (*source).commandTag != pg_sys::CommandTag::CMDTAG_SELECT {
        refusal = Some("it is not a SELECT statement");
    } else {
        let queries = (*source).query_list;
        for i in 0..pg_sys::list_length(queries) {
            let query = pg_sys::list_nth(queries, i) as *mut pg_sys::Query;
            if (*query).commandType != pg_sys::CmdType::CMD_SELECT {
                refusal = Some("it is not a plain SELECT (SELECT INTO creates a table)");
            } else if (*query).hasModifyingCTE {
                refusal = Some("it has a data-modifying WITH clause");
            } else if !(*query).rowMarks.is_null() {
                refusal = Some("it locks rows (FOR UPDATE / FOR SHARE)");
            }
        }
    }
    if let Some(why) = refusal {
        raise_with(
            PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            &format!("source_query must only read data, but {why}"),
            Some("Pass a single SELECT (WITH ... SELECT is fine) that changes nothing."),
        );
    }
    let desc = (*source).resultDesc;
    if desc.is_null() {
        raise_with(
            PgSqlErrorCode::ERRCODE_READ_ONLY_SQL_TRANSACTION,
            "source_query returns no rows",
            None,
        );
    }
    desc
}

/// Marks the transaction read-only until dropped.
///
/// Setting `XactReadOnly` directly (rather than `SET transaction_read_only`) lets us turn it
/// back off afterwards, which the GUC refuses once the transaction has a snapshot. If an
/// ERROR unwinds past the guard, `Drop` still restores the flag; and a transaction that
/// aborts resets it anyway when the next one starts.
pub struct ReadOnlyGuard {
    previous: bool,
}

impl ReadOnlyGuard {
    pub fn enter() -> Self {
        // SAFETY: a backend-global flag, read and written on this backend's only thread.
        let previous = unsafe { pg_sys::XactReadOnly };
        unsafe { pg_sys::XactReadOnly = true };
        Self { previous }
    }
}

impl Drop for ReadOnlyGuard {
    fn drop(&mut self) {
        // SAFETY: as in `enter`.
        unsafe { pg_sys::XactReadOnly = self.previous };
    }
}
