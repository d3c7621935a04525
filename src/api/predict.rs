//! `retrain.predict` and `retrain.weights`: serving stored pipelines in SQL.

use pgrx::prelude::*;
use pgrx::JsonB;

use super::errors::OrRaise;
use crate::pipeline::predict::{predict_row, weights as pipeline_weights};
use crate::serving::{deployed_pipeline, feature_values, pipeline_by_id};

/// Scores one row with the version of `name` deployed now. `features` holds the training
/// query's columns by name (`to_jsonb(t)` of a row works); other keys are ignored.
///
/// Errors: unknown name 42704; no deployed version 55000; a missing key 42703; a value of
/// the wrong kind 22P02; a corrupted artifact XX001.
#[pg_extern(stable, strict, parallel_safe, name = "predict")]
fn predict_by_name(name: &str, features: JsonB) -> f64 {
    let (_, pipeline) = deployed_pipeline(name);
    let values = feature_values(&pipeline, &features.0);
    predict_row(&pipeline, &values).or_raise()
}

/// Scores one row with one specific stored version, deployed or not.
#[pg_extern(stable, strict, parallel_safe, name = "predict")]
fn predict_by_id(pipeline_id: i64, features: JsonB) -> f64 {
    let pipeline = pipeline_by_id(pipeline_id);
    let values = feature_values(&pipeline, &features.0);
    predict_row(&pipeline, &values).or_raise()
}

/// The deployed model of `name` as weights per encoded feature, in the columns' own units
/// (numeric weights are per unit of the column, dates per second), plus `(intercept)`.
#[pg_extern(stable, strict, parallel_safe)]
fn weights(name: &str) -> TableIterator<'static, (name!(feature, String), name!(weight, f64))> {
    let (_, pipeline) = deployed_pipeline(name);
    TableIterator::new(pipeline_weights(&pipeline))
}
