//! jsonb object → the pipeline's input values, by column name.

use std::ffi::CString;

use pgrx::pg_sys;
use serde_json::Value;

use crate::api::errors::{raise, OrRaise};
use crate::pipeline::artifact::FittedPipeline;
use crate::pipeline::column::ColumnKind;
use crate::pipeline::error::PipelineError;
use crate::pipeline::predict::FeatureValue;
use crate::source::Decoder;

/// One value per feature of `pipeline`, taken from the object `json` by column name. Keys the
/// pipeline does not use (the target among them) are ignored; an explicit JSON null is
/// imputed like a NULL in training.
pub fn feature_values<'a>(pipeline: &FittedPipeline, json: &'a Value) -> Vec<FeatureValue<'a>> {
    let Value::Object(object) = json else {
        raise(&PipelineError::BadFeatureValue {
            key: "features".into(),
            reason: format!("must be a JSON object, got {}", json_kind(json)),
        })
    };
    pipeline
        .features
        .iter()
        .map(|feature| {
            let Some(value) = object.get(&feature.name) else {
                return Err(PipelineError::MissingFeature(feature.name.clone()));
            };
            let wrong = || PipelineError::BadFeatureValue {
                key: feature.name.clone(),
                reason: format!(
                    "was trained as {} but the value is {}",
                    feature.sql_type,
                    json_kind(value)
                ),
            };
            Ok(match (feature.kind, value) {
                (_, Value::Null) => FeatureValue::Null,
                (ColumnKind::Categorical, Value::String(s)) => FeatureValue::Text(s),
                (ColumnKind::Categorical, _) => return Err(wrong()),
                (ColumnKind::Boolean, Value::Bool(b)) => FeatureValue::Number(f64::from(*b)),
                (_, Value::Number(n)) => FeatureValue::Number(n.as_f64().ok_or_else(wrong)?),
                (ColumnKind::Temporal, Value::String(s)) => {
                    FeatureValue::Number(parse_temporal(&feature.sql_type, s).ok_or_else(wrong)?)
                }
                _ => return Err(wrong()),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .or_raise()
}

/// Seconds since 1970 of a date or timestamp written as text, parsed by Postgres' own
/// input function for the type the column was trained with, so that time zones and
/// formats mean exactly what they mean in SQL.
fn parse_temporal(sql_type: &str, text: &str) -> Option<f64> {
    let (input, decoder) = match sql_type {
        "date" => (pg_sys::date_in as unsafe fn(_) -> _, Decoder::Date),
        "timestamp without time zone" => (pg_sys::timestamp_in as _, Decoder::Timestamp),
        _ => (pg_sys::timestamptz_in as _, Decoder::Timestamp),
    };
    let text = CString::new(text).ok()?;
    // SAFETY: the input functions take (cstring, oid, int4) and raise an ERROR (22007,
    // 22008) on text they cannot parse.
    let datum = unsafe {
        pgrx::direct_function_call_as_datum(
            input,
            &[
                Some(pg_sys::Datum::from(text.as_ptr())),
                Some(pg_sys::Datum::from(pg_sys::InvalidOid)),
                Some(pg_sys::Datum::from(-1i32)),
            ],
        )
    }?;
    // SAFETY: `datum` is a value of the type the decoder expects.
    unsafe { decoder.number(datum, "features") }.ok()
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
