//! Scoring one row with a fitted pipeline, and its weights in the input's own units.

use super::artifact::FittedPipeline;
use super::column::ColumnKind;
use super::error::{PipelineError, Result};
use super::transform::Transform;

/// One input value at prediction time, already converted by the caller.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureValue<'a> {
    Null,
    /// Numbers, booleans as 0/1, and dates/timestamps as seconds since 1970.
    Number(f64),
    Text(&'a str),
}

/// Scores one row. `values[i]` belongs to `pipeline.features[i]`.
pub fn predict_row(pipeline: &FittedPipeline, values: &[FeatureValue<'_>]) -> Result<f64> {
    let model = &pipeline.model;
    let mut y = model.intercept;
    for (feature, value) in pipeline.features.iter().zip(values) {
        let offset = feature.offset as usize;
        match (&feature.transform, value) {
            (Transform::OneHot { .. }, FeatureValue::Text(v)) => {
                y += model.coef[offset + feature.slot_of(Some(v)) as usize];
            }
            (Transform::OneHot { .. }, FeatureValue::Null) => {
                y += model.coef[offset + feature.slot_of(None) as usize];
            }
            (Transform::OneHot { .. }, FeatureValue::Number(_)) => {
                return Err(wrong_kind(&feature.name, &feature.sql_type, "a number"));
            }
            (_, FeatureValue::Text(_)) => {
                return Err(wrong_kind(&feature.name, &feature.sql_type, "text"));
            }
            (_, FeatureValue::Number(x)) if !x.is_finite() => {
                return Err(PipelineError::BadFeatureValue {
                    key: feature.name.clone(),
                    reason: format!("{x} is not a finite number"),
                });
            }
            (_, FeatureValue::Number(x)) => y += model.coef[offset] * feature.encode_number(*x),
            (_, FeatureValue::Null) => y += model.coef[offset] * feature.encode_number(f64::NAN),
        }
    }
    Ok(y)
}

fn wrong_kind(key: &str, trained: &str, given: &str) -> PipelineError {
    PipelineError::BadFeatureValue {
        key: key.to_string(),
        reason: format!("was trained as {trained} but the value is {given}"),
    }
}

/// The model's weights per encoded feature, with standardization folded back in so a
/// numeric weight reads "target units per unit of the column" (per second for dates), and
/// the intercept adjusted to match. Text levels keep their weight as it is.
pub fn weights(pipeline: &FittedPipeline) -> Vec<(String, f64)> {
    let model = &pipeline.model;
    let mut intercept = model.intercept;
    let mut out = Vec::with_capacity(model.coef.len() + 1);
    for feature in &pipeline.features {
        let offset = feature.offset as usize;
        let names = feature.encoded_names();
        match &feature.transform {
            Transform::Standardize { mean, scale } => {
                let w = model.coef[offset] / scale;
                intercept -= w * mean;
                out.push((names[0].clone(), w));
            }
            _ => {
                for (i, name) in names.into_iter().enumerate() {
                    out.push((name, model.coef[offset + i]));
                }
            }
        }
        debug_assert!(feature.kind != ColumnKind::Categorical || feature.width() > 1);
    }
    out.insert(0, ("(intercept)".to_string(), intercept));
    out
}
