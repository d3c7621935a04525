//! Feature transforms: fitted on one set of rows, applied to any row.
//!
//! linfa-preprocessing has scalers but no imputer or one-hot encoder, so all three live
//! here, in one place, fitted in one pass per column. Encoded layout: each numeric-like
//! column is one feature; a text column with k kept levels is k + 2 features (its levels,
//! then NULL, then "other" for rarer and unseen values).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::column::{ColumnKind, ColumnValues, InputColumn, NULL_CODE};
use super::error::{PipelineError, Result};

/// A fitted transform of one input column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Transform {
    /// NULL becomes `mean`, then `(x - mean) / scale`.
    Standardize { mean: f64, scale: f64 },
    /// 0/1; NULL becomes `fill`, the share of true among the rows fitted.
    Binary { fill: f64 },
    /// Slots `0..levels.len()` are the levels, then NULL, then "other".
    OneHot { levels: Vec<String> },
}

/// One input column's place in the encoded feature vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feature {
    pub name: String,
    pub sql_type: String,
    pub kind: ColumnKind,
    pub transform: Transform,
    /// Index of this column's first encoded feature.
    pub offset: u32,
}

impl Feature {
    /// How many encoded features this column yields.
    pub fn width(&self) -> usize {
        match &self.transform {
            Transform::OneHot { levels } => levels.len() + 2,
            _ => 1,
        }
    }

    /// The encoded value of a numeric-like cell (NaN for NULL).
    pub fn encode_number(&self, x: f64) -> f64 {
        match self.transform {
            Transform::Standardize { mean, scale } => {
                if x.is_nan() {
                    0.0
                } else {
                    (x - mean) / scale
                }
            }
            Transform::Binary { fill } => {
                if x.is_nan() {
                    fill
                } else {
                    x
                }
            }
            Transform::OneHot { .. } => 0.0,
        }
    }

    /// The slot of a text cell within this column (`None` for NULL).
    pub fn slot_of(&self, value: Option<&str>) -> u32 {
        let Transform::OneHot { levels } = &self.transform else {
            return 0;
        };
        match value {
            None => levels.len() as u32,
            Some(v) => match levels.iter().position(|l| l == v) {
                Some(i) => i as u32,
                None => levels.len() as u32 + 1,
            },
        }
    }

    /// Names of the encoded features, for weights and messages: `carat`, `cut=Ideal`, …
    pub fn encoded_names(&self) -> Vec<String> {
        match &self.transform {
            Transform::OneHot { levels } => levels
                .iter()
                .map(|l| format!("{}={}", self.name, l))
                .chain([
                    format!("{}=<null>", self.name),
                    format!("{}=<other>", self.name),
                ])
                .collect(),
            _ => vec![self.name.clone()],
        }
    }
}

/// Fits every column's transform on the rows where `include(row)` is true.
///
/// Offsets are assigned in column order; each column also gets a JSON summary (type,
/// transform, statistics) for the stored `features` column.
pub fn fit_features(
    columns: &[InputColumn],
    max_categories: usize,
    include: &dyn Fn(usize) -> bool,
) -> Result<FittedFeatures> {
    let mut features = Vec::with_capacity(columns.len());
    let mut summaries = Vec::with_capacity(columns.len());
    let mut offset = 0usize;
    let mut free_parameters = 0usize;
    let mut constant = Vec::with_capacity(columns.len());
    // One call of `include` per row, not one per cell.
    let n_rows = columns.iter().map(InputColumn::len).max().unwrap_or(0);
    let mask: Vec<bool> = (0..n_rows).map(include).collect();
    for column in columns {
        let (transform, summary, dof) = match &column.values {
            ColumnValues::Numbers(values) => fit_numeric(column, values, &mask)?,
            ColumnValues::Codes { codes, levels } => {
                fit_categorical(codes, levels, max_categories, &mask)
            }
        };
        let feature = Feature {
            name: column.name.clone(),
            sql_type: column.sql_type.clone(),
            kind: column.kind,
            transform,
            offset: u32::try_from(offset).unwrap_or(u32::MAX),
        };
        offset = offset.saturating_add(feature.width());
        let mut summary = summary;
        summary["column"] = json!(column.name);
        summary["sql_type"] = json!(column.sql_type);
        summary["kind"] = json!(format!("{:?}", column.kind).to_lowercase());
        summaries.push(summary);
        constant.push(column.kind.is_numeric_like() && dof == 0);
        features.push(feature);
        free_parameters += dof;
    }
    Ok(FittedFeatures {
        features,
        width: offset,
        summaries,
        free_parameters,
        constant,
    })
}

/// The outcome of [`fit_features`].
#[derive(Debug, Clone)]
pub struct FittedFeatures {
    pub features: Vec<Feature>,
    /// Total encoded width.
    pub width: usize,
    pub summaries: Vec<Value>,
    /// Coefficients the data can determine besides the intercept: one per varying numeric
    /// column, and one fewer than the slots seen per text column (they sum to the intercept).
    pub free_parameters: usize,
    /// Per feature: a numeric-like column whose fitted rows all encode to one value (no
    /// spread, or all NULL). Its encoding is exactly that value on every fitted row.
    pub constant: Vec<bool>,
}

fn fit_numeric(
    column: &InputColumn,
    values: &[f64],
    mask: &[bool],
) -> Result<(Transform, Value, usize)> {
    // Two passes (sum, then squared deviations from the mean) instead of Welford's update:
    // as accurate, and no division per value. Both run in independent lanes that select
    // instead of branching: a mask or NULLs in no pattern cost no mispredictions, and no
    // single running sum serializes the loop.
    let Moments {
        n,
        nulls,
        sum,
        min,
        max,
    } = Moments::of(values, mask);
    let present_values = || {
        let pairs = values.iter().zip(mask);
        pairs.filter(|(x, &m)| m && !x.is_nan()).map(|(&x, _)| x)
    };
    let mut mean = match n {
        0 => 0.0,
        // Exactly the value when there is one: a constant column must encode to exact zeros.
        _ if min == max => min,
        _ => sum / n as f64,
    };
    if !mean.is_finite() {
        // The sum overflowed; a running mean does not.
        let (mut k, mut running) = (0.0, 0.0);
        for x in present_values() {
            k += 1.0;
            running += (x - running) / k;
        }
        mean = running;
    }
    let m2 = if min < max {
        squared_deviations(values, mask, mean)
    } else {
        0.0
    };
    let std = if n > 0 { (m2 / n as f64).sqrt() } else { 0.0 };
    if !(mean.is_finite() && std.is_finite()) {
        return Err(PipelineError::NonFiniteValue {
            column: column.name.clone(),
            value: "values too large to standardize".into(),
        });
    }
    let null_fraction = fraction(nulls, n + nulls);
    let (transform, name) = if column.kind == ColumnKind::Boolean {
        (Transform::Binary { fill: mean }, "binary")
    } else {
        // A constant (or all-NULL) column keeps scale 1: it encodes to zeros either way.
        let scale = if std > 0.0 { std } else { 1.0 };
        (
            Transform::Standardize { mean, scale },
            "impute_mean_standardize",
        )
    };
    let finite_or_null = |v: f64| if v.is_finite() { json!(v) } else { Value::Null };
    let summary = json!({
        "transform": name,
        "mean": finite_or_null(if n > 0 { mean } else { f64::NAN }),
        "std": finite_or_null(if n > 0 { std } else { f64::NAN }),
        "min": finite_or_null(min),
        "max": finite_or_null(max),
        "null_fraction": null_fraction,
        "count": n,
    });
    Ok((transform, summary, usize::from(std > 0.0)))
}

/// Independent partial results per lane: enough for the compiler to overlap the iterations.
const LANES: usize = 4;

/// Count, NULL count, sum, minimum and maximum of the values `mask` includes (NaN marks
/// NULL).
#[derive(Debug, Clone, Copy)]
struct Moments {
    n: u64,
    nulls: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Moments {
    const EMPTY: Self = Self {
        n: 0,
        nulls: 0,
        sum: 0.0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
    };

    fn of(values: &[f64], mask: &[bool]) -> Self {
        let len = values.len().min(mask.len());
        let (values, mask) = (&values[..len], &mask[..len]);
        let mut lanes = [Self::EMPTY; LANES];
        let chunks = values.chunks_exact(LANES).zip(mask.chunks_exact(LANES));
        for (xs, included) in chunks {
            for lane in 0..LANES {
                lanes[lane].add(xs[lane], included[lane]);
            }
        }
        let tail = len - len % LANES;
        for (&x, &included) in values[tail..].iter().zip(&mask[tail..]) {
            lanes[0].add(x, included);
        }
        lanes.into_iter().fold(Self::EMPTY, Self::merge)
    }

    #[inline(always)]
    fn add(&mut self, x: f64, included: bool) {
        let present = included && !x.is_nan();
        self.nulls += u64::from(included && x.is_nan());
        self.n += u64::from(present);
        self.sum += if present { x } else { 0.0 };
        let (low, high) = if present {
            (x, x)
        } else {
            (f64::INFINITY, f64::NEG_INFINITY)
        };
        self.min = if low < self.min { low } else { self.min };
        self.max = if high > self.max { high } else { self.max };
    }

    fn merge(self, other: Self) -> Self {
        Self {
            n: self.n + other.n,
            nulls: self.nulls + other.nulls,
            sum: self.sum + other.sum,
            min: self.min.min(other.min),
            max: self.max.max(other.max),
        }
    }
}

/// `Σ (x - mean)²` over the values `mask` includes (NaN marks NULL), in lanes as above.
fn squared_deviations(values: &[f64], mask: &[bool], mean: f64) -> f64 {
    let deviation = |x: f64, included: bool| {
        if included && !x.is_nan() {
            x - mean
        } else {
            0.0
        }
    };
    let len = values.len().min(mask.len());
    let (values, mask) = (&values[..len], &mask[..len]);
    let mut lanes = [0.0f64; LANES];
    let chunks = values.chunks_exact(LANES).zip(mask.chunks_exact(LANES));
    for (xs, included) in chunks {
        for lane in 0..LANES {
            let d = deviation(xs[lane], included[lane]);
            lanes[lane] += d * d;
        }
    }
    let tail = len - len % LANES;
    for (&x, &included) in values[tail..].iter().zip(&mask[tail..]) {
        let d = deviation(x, included);
        lanes[0] += d * d;
    }
    lanes.iter().sum()
}

fn fit_categorical(
    codes: &[u32],
    levels: &[String],
    max_categories: usize,
    mask: &[bool],
) -> (Transform, Value, usize) {
    let mut counts = vec![0u64; levels.len()];
    let (mut nulls, mut total) = (0u64, 0u64);
    for (&code, _) in codes.iter().zip(mask).filter(|(_, &m)| m) {
        total += 1;
        match counts.get_mut(code as usize) {
            Some(c) if code != NULL_CODE => *c += 1,
            _ => nulls += 1,
        }
    }
    // Most frequent first; ties by value so that the encoding never depends on row order.
    let mut order: Vec<usize> = (0..levels.len()).filter(|&i| counts[i] > 0).collect();
    order.sort_by(|&a, &b| {
        counts[b]
            .cmp(&counts[a])
            .then_with(|| levels[a].cmp(&levels[b]))
    });
    let kept = &order[..order.len().min(max_categories)];
    let other: u64 = order[kept.len()..].iter().map(|&i| counts[i]).sum();
    let categories: Vec<Value> = kept
        .iter()
        .map(|&i| json!({"value": levels[i], "count": counts[i]}))
        .collect();
    let summary = json!({
        "transform": "one_hot",
        "categories": categories,
        "n_distinct": order.len(),
        "other_count": other,
        "null_count": nulls,
        "null_fraction": fraction(nulls, total),
    });
    let slots_seen = kept.len() + usize::from(nulls > 0) + usize::from(other > 0);
    let levels = kept.iter().map(|&i| levels[i].clone()).collect();
    (
        Transform::OneHot { levels },
        summary,
        slots_seen.saturating_sub(1),
    )
}

fn fraction(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

/// Encodes rows of a `TrainingData`'s columns with fitted features, matched by column name.
///
/// Text cells are mapped through a per-column code → slot table built once, so encoding a
/// row costs one lookup per column.
pub struct RowEncoder<'a> {
    parts: Vec<EncoderPart<'a>>,
}

struct EncoderPart<'a> {
    feature: &'a Feature,
    column: &'a InputColumn,
    /// For text columns: slot per code of this column's levels.
    slots: Vec<u32>,
}

impl<'a> RowEncoder<'a> {
    pub fn new(features: &'a [Feature], columns: &'a [InputColumn]) -> Result<Self> {
        let mut parts = Vec::with_capacity(features.len());
        for feature in features {
            let column = columns
                .iter()
                .find(|c| c.name == feature.name)
                .ok_or_else(|| PipelineError::MissingFeature(feature.name.clone()))?;
            let slots = match (&feature.transform, &column.values) {
                (Transform::OneHot { .. }, ColumnValues::Codes { levels, .. }) => {
                    levels.iter().map(|l| feature.slot_of(Some(l))).collect()
                }
                (Transform::OneHot { .. }, _) | (_, ColumnValues::Codes { .. }) => {
                    return Err(PipelineError::BadFeatureValue {
                        key: feature.name.clone(),
                        reason: format!(
                            "was trained as {} but the rows give {}",
                            feature.sql_type, column.sql_type
                        ),
                    })
                }
                _ => Vec::new(),
            };
            parts.push(EncoderPart {
                feature,
                column,
                slots,
            });
        }
        Ok(Self { parts })
    }

    /// Writes row `row`'s non-zero encoded features into `out` (cleared first), in
    /// increasing feature order.
    #[inline]
    pub fn encode(&self, row: usize, out: &mut Vec<(u32, f64)>) {
        out.clear();
        for part in &self.parts {
            let offset = part.feature.offset;
            match &part.column.values {
                ColumnValues::Numbers(values) => {
                    let v = part.feature.encode_number(values[row]);
                    if v != 0.0 {
                        out.push((offset, v));
                    }
                }
                ColumnValues::Codes { codes, .. } => {
                    let code = codes[row];
                    let slot = if code == NULL_CODE {
                        part.feature.slot_of(None)
                    } else {
                        part.slots[code as usize]
                    };
                    out.push((offset + slot, 1.0));
                }
            }
        }
    }
}
