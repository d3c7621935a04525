//! `retrain.predict` and `retrain.weights`: serving stored pipelines in SQL.

use pgrx::prelude::*;
use pgrx::{pg_sys, AnyElement, JsonB};

use super::errors::{raise_with, OrRaise};
use crate::pipeline::predict::{predict_row as predict_row_values, weights as pipeline_weights};
use crate::serving::{deployed_pipeline, feature_values, pipeline_by_id, row_values};

/// Scores one row with the version of `name` deployed now. `features` holds the training
/// query's columns by name (`to_jsonb(t)` of a row works); other keys are ignored.
///
/// Errors: unknown name 42704; no deployed version 55000; a missing key 42703; a value of
/// the wrong kind 22P02; a corrupted artifact XX001.
#[pg_extern(stable, strict, parallel_safe, name = "predict")]
fn predict_by_name(name: &str, features: JsonB) -> f64 {
    let (_, pipeline) = deployed_pipeline(name);
    let values = feature_values(&pipeline, &features.0);
    predict_row_values(&pipeline, &values).or_raise()
}

/// Scores one row with one specific stored version, deployed or not.
#[pg_extern(stable, strict, parallel_safe, name = "predict")]
fn predict_by_id(pipeline_id: i64, features: JsonB) -> f64 {
    let pipeline = pipeline_by_id(pipeline_id);
    let values = feature_values(&pipeline, &features.0);
    predict_row_values(&pipeline, &values).or_raise()
}

/// Scores a whole table row (any composite value) with the version of `name` deployed now:
/// `SELECT retrain.predict_row('m', t) FROM t`. Columns are matched by name and decoded
/// from their binary form, which makes this several times faster than the jsonb form.
///
/// A separate name because an overload `predict(text, record)` would make every call with
/// an untyped literal (`predict('m', '{"x": 1}')`) ambiguous.
#[pg_extern(stable, strict, parallel_safe)]
fn predict_row(name: &str, row: AnyElement) -> f64 {
    // SAFETY: type_is_rowtype accepts any type OID.
    if !unsafe { pg_sys::type_is_rowtype(row.oid()) } {
        raise_with(
            PgSqlErrorCode::ERRCODE_DATATYPE_MISMATCH,
            "predict_row expects a row, e.g. predict_row('name', t) FROM t",
            None,
        );
    }
    let (_, pipeline) = deployed_pipeline(name);
    // SAFETY: a non-NULL (strict) composite datum; values live for this call only.
    let values = unsafe { row_values(&pipeline, row.datum()) };
    predict_row_values(&pipeline, &values).or_raise()
}

/// The deployed model of `name` as weights per encoded feature, in the columns' own units
/// (numeric weights are per unit of the column, dates per second), plus `(intercept)`.
#[pg_extern(stable, strict, parallel_safe)]
fn weights(name: &str) -> TableIterator<'static, (name!(feature, String), name!(weight, f64))> {
    let (_, pipeline) = deployed_pipeline(name);
    TableIterator::new(pipeline_weights(&pipeline))
}
