//! The one place where pipeline errors become Postgres ERRORs.
//!
//! Each variant maps to the SQLSTATE a client would branch on: a user's mistake is never
//! reported as XX000 (internal error).

use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

use crate::pipeline::error::PipelineError;

/// The SQLSTATE for a pipeline error.
pub fn sqlstate(error: &PipelineError) -> PgSqlErrorCode {
    use PgSqlErrorCode::*;
    match error {
        PipelineError::InvalidTestFraction(_)
        | PipelineError::TooFewRows { .. }
        | PipelineError::NonFiniteValue { .. }
        | PipelineError::InvalidParams { .. }
        | PipelineError::UnknownAlgorithm { .. } => ERRCODE_INVALID_PARAMETER_VALUE,
        PipelineError::TooManyFeatures { .. } => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        PipelineError::SolverFailed { .. } => ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        PipelineError::CorruptArtifact(_) => ERRCODE_DATA_CORRUPTED,
        PipelineError::OutOfMemory(_) => ERRCODE_OUT_OF_MEMORY,
        PipelineError::BadFeatureValue { .. } => ERRCODE_INVALID_TEXT_REPRESENTATION,
        PipelineError::MissingFeature(_) => ERRCODE_UNDEFINED_COLUMN,
    }
}

/// A hint for the errors where one helps.
fn hint(error: &PipelineError) -> Option<String> {
    match error {
        PipelineError::InvalidParams { valid_keys, .. } => {
            Some(format!("Valid params keys: {valid_keys}."))
        }
        PipelineError::UnknownAlgorithm { valid, .. } => {
            Some(format!("Valid algorithms: {valid}."))
        }
        PipelineError::NonFiniteValue { .. } => {
            Some("Filter or replace such values in source_query (e.g. NULLIF).".into())
        }
        PipelineError::TooManyFeatures { .. } => {
            Some("Lower params.max_categories or drop high-cardinality text columns.".into())
        }
        _ => None,
    }
}

/// Raises `error` as an ERROR; never returns.
pub fn raise(error: &PipelineError) -> ! {
    let mut report = ErrorReport::new(sqlstate(error), error.to_string(), "pg_retrain");
    if let Some(hint) = hint(error) {
        report = report.set_hint(hint);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Raises an ERROR with the given code, message and optional hint; never returns.
pub fn raise_with(code: PgSqlErrorCode, message: &str, hint: Option<&str>) -> ! {
    let mut report = ErrorReport::new(code, message.to_string(), "pg_retrain");
    if let Some(hint) = hint {
        report = report.set_hint(hint.to_string());
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR does not return")
}

/// Unwraps a pipeline result or raises its error.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, PipelineError> {
    fn or_raise(self) -> T {
        self.unwrap_or_else(|e| raise(&e))
    }
}
