//! One pass over the rows for both fits: statistics in a raw basis that every fitted
//! encoding is an affine function of.
//!
//! The train-split fit and the all-rows refit use different transforms (means, scales and
//! kept categories are fitted on different rows), so each would need its own pass over the
//! encoded rows. But every transform here is affine in a basis that does not depend on the
//! fit: per numeric-like column its value minus a fixed shift (0 when NULL) and a NULL
//! indicator, and per text column one indicator per distinct value and one for NULL. So the
//! rows are read once, into [`Gram`] statistics of that basis kept apart for train and test
//! rows; each fit then projects them ([`Gram::project`]) onto its own encoding, and the
//! refit uses train + test merged. The fitted model maps back to one weight per raw
//! column, which makes scoring a row one multiply-add per input column.
//!
//! The raw basis has `2 * numeric columns + Σ (distinct values + 1)` columns. Past
//! [`MAX_RAW_COLUMNS`] (many distinct text values) its statistics would cost more memory
//! than they save time, and [`RawLayout::new`] declines; training then encodes the rows once
//! per fit instead.

use super::column::{ColumnValues, InputColumn, TrainingData, NULL_CODE};
use super::error::{PipelineError, Result};
use super::gram::{Affine, DensePrefixRows, Gram};
use super::metrics::{Metrics, MetricsAccumulator};
use super::solver::LinearModel;
use super::transform::{Feature, Transform};

/// Largest raw basis used: two 1024 × 1024 matrices (train and test) are 16 MiB.
pub const MAX_RAW_COLUMNS: usize = 1024;

/// Rows between two calls of the interrupt hook.
const ROWS_PER_INTERRUPT_CHECK: usize = 16 * 1024;

/// Where each input column lives in the raw basis.
pub struct RawLayout<'a> {
    parts: Vec<RawPart<'a>>,
    width: usize,
    /// Numeric-like columns: raw columns `0..n_numbers` are their values.
    n_numbers: usize,
}

enum RawPart<'a> {
    /// Columns `value_at` (value - shift, 0 when NULL) and `null_at` (1 when NULL).
    Number {
        values: &'a [f64],
        shift: f64,
        value_at: u32,
        null_at: u32,
    },
    /// Columns `at + code`, and `at + null_slot` for NULL.
    Codes {
        codes: &'a [u32],
        levels: &'a [String],
        null_slot: u32,
        at: u32,
    },
}

/// Train and test statistics of the raw basis.
pub struct RawStatistics {
    pub train: Gram,
    pub test: Gram,
}

/// A model mapped back to the raw basis: `intercept + Σ weights[j] * raw[j]`.
pub struct RawPredictor {
    intercept: f64,
    weights: Vec<f64>,
}

impl<'a> RawLayout<'a> {
    /// The layout of `columns`, or `None` when the raw basis would exceed
    /// [`MAX_RAW_COLUMNS`].
    pub fn new(columns: &'a [InputColumn]) -> Option<Self> {
        // The numeric values come first, at columns 0..k: every row has all of them (0 for
        // NULL), so they form the dense prefix that `DensePrefixRows` wants.
        let n_numbers = columns
            .iter()
            .filter(|c| matches!(c.values, ColumnValues::Numbers(_)))
            .count();
        let mut parts = Vec::with_capacity(columns.len());
        let (mut next_value, mut width) = (0u32, n_numbers);
        for column in columns {
            let at = u32::try_from(width).ok()?;
            match &column.values {
                ColumnValues::Numbers(values) => {
                    parts.push(RawPart::Number {
                        values,
                        shift: shift_of(values),
                        value_at: next_value,
                        null_at: at,
                    });
                    next_value += 1;
                    width += 1;
                }
                ColumnValues::Codes { codes, levels } => {
                    let null_slot = u32::try_from(levels.len()).ok()?;
                    parts.push(RawPart::Codes {
                        codes,
                        levels,
                        null_slot,
                        at,
                    });
                    width += levels.len() + 1;
                }
            }
            if width > MAX_RAW_COLUMNS {
                return None;
            }
        }
        Some(Self {
            parts,
            width,
            n_numbers,
        })
    }

    /// Number of raw columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Row `row` in the raw basis: the numeric values (0 for NULL) into `dense`, and the
    /// NULL indicators and text slots that are 1 into `sparse`, in increasing column order.
    #[inline]
    fn entries(&self, row: usize, dense: &mut Vec<f64>, sparse: &mut Vec<(u32, f64)>) {
        dense.clear();
        sparse.clear();
        for part in &self.parts {
            match *part {
                RawPart::Number {
                    values,
                    shift,
                    null_at,
                    ..
                } => {
                    let x = values[row];
                    if x.is_nan() {
                        dense.push(0.0);
                        sparse.push((null_at, 1.0));
                    } else {
                        dense.push(x - shift);
                    }
                }
                RawPart::Codes {
                    codes,
                    null_slot,
                    at,
                    ..
                } => {
                    let code = codes[row];
                    let slot = if code == NULL_CODE { null_slot } else { code };
                    sparse.push((at + slot, 1.0));
                }
            }
        }
    }

    /// Reads every row once into train and test statistics (`is_test` per row).
    pub fn accumulate(
        &self,
        data: &TrainingData,
        is_test: &[bool],
        interrupt: &dyn Fn(),
    ) -> Result<RawStatistics> {
        let y_shift = shift_of(&data.target);
        let mut train = DensePrefixRows::new(self.width, self.n_numbers, y_shift)?;
        let mut test = DensePrefixRows::new(self.width, self.n_numbers, y_shift)?;
        let mut dense = Vec::with_capacity(self.n_numbers);
        let mut sparse = Vec::with_capacity(self.parts.len());
        for (row, (&y, &test_row)) in data.target.iter().zip(is_test).enumerate() {
            if row % ROWS_PER_INTERRUPT_CHECK == 0 {
                interrupt();
            }
            self.entries(row, &mut dense, &mut sparse);
            let rows = if test_row { &mut test } else { &mut train };
            rows.add_row(&dense, &sparse, y);
        }
        Ok(RawStatistics {
            train: train.finish(),
            test: test.finish(),
        })
    }

    /// Each encoded feature of `features` (fitted on these columns, in the same order) as
    /// an affine function of the raw basis. `constant[i]` marks a numeric-like feature
    /// whose fitted rows all encode to one value: it maps to exactly that value, so that
    /// rounding in the projection cannot give it a spurious spread.
    pub fn affine_maps(&self, features: &[Feature], constant: &[bool]) -> Result<Vec<Affine>> {
        let mut maps = Vec::new();
        if features.len() != self.parts.len() || constant.len() != features.len() {
            return Err(mismatch(
                "the fitted features do not match the columns read",
            ));
        }
        for ((feature, part), &is_constant) in features.iter().zip(&self.parts).zip(constant) {
            if maps.len() != feature.offset as usize {
                return Err(mismatch("encoded offsets are not consecutive"));
            }
            if let &RawPart::Number {
                shift,
                value_at,
                null_at,
                ..
            } = part
            {
                maps.push(number_map(
                    &feature.transform,
                    shift,
                    value_at,
                    null_at,
                    is_constant,
                )?);
                continue;
            }
            let (
                Transform::OneHot { .. },
                &RawPart::Codes {
                    levels,
                    null_slot,
                    at,
                    ..
                },
            ) = (&feature.transform, part)
            else {
                return Err(mismatch("a feature's transform does not fit its column"));
            };
            let first = maps.len();
            maps.resize(first + feature.width(), Affine::default());
            for (code, level) in levels.iter().enumerate() {
                let slot = feature.slot_of(Some(level)) as usize;
                maps[first + slot].terms.push((at + code as u32, 1.0));
            }
            let slot = feature.slot_of(None) as usize;
            maps[first + slot].terms.push((at + null_slot, 1.0));
        }
        Ok(maps)
    }
}

impl RawPredictor {
    /// `model` (fitted on the encoding that `maps` describes) in the raw basis of `width`
    /// columns.
    pub fn new(model: &LinearModel, maps: &[Affine], width: usize) -> Result<Self> {
        if model.coef.len() != maps.len() {
            return Err(mismatch("the model and the encoding differ in width"));
        }
        let mut weights = vec![0.0; width];
        let mut intercept = model.intercept;
        for (&coef, map) in model.coef.iter().zip(maps) {
            intercept += coef * map.constant;
            for &(j, v) in &map.terms {
                let slot = weights
                    .get_mut(j as usize)
                    .ok_or_else(|| mismatch("a term names no raw column"))?;
                *slot += coef * v;
            }
        }
        Ok(Self { intercept, weights })
    }

    /// Metrics on the test rows and on the train rows, in one pass over all rows.
    ///
    /// Predictions are built a block of rows at a time, one input column after another:
    /// each column's loop is a tight pass over contiguous values.
    pub fn evaluate(
        &self,
        layout: &RawLayout,
        data: &TrainingData,
        is_test: &[bool],
        interrupt: &dyn Fn(),
    ) -> (Metrics, Metrics) {
        let (mut test, mut train) = (MetricsAccumulator::default(), MetricsAccumulator::default());
        let mut predicted = vec![0.0; ROWS_PER_INTERRUPT_CHECK.min(data.n_rows())];
        for start in (0..data.n_rows()).step_by(ROWS_PER_INTERRUPT_CHECK) {
            interrupt();
            let end = (start + ROWS_PER_INTERRUPT_CHECK).min(data.n_rows());
            let block = &mut predicted[..end - start];
            block.fill(self.intercept);
            for part in &layout.parts {
                self.add_column(part, start..end, block);
            }
            let rows = data.target[start..end].iter().zip(&is_test[start..end]);
            for ((&y, &test_row), &p) in rows.zip(block.iter()) {
                if test_row {
                    test.add(y, p);
                } else {
                    train.add(y, p);
                }
            }
        }
        (test.finish(), train.finish())
    }

    /// Adds one input column's share of the prediction for `rows` to `block`.
    fn add_column(&self, part: &RawPart, rows: std::ops::Range<usize>, block: &mut [f64]) {
        match *part {
            RawPart::Number {
                values,
                shift,
                value_at,
                null_at,
            } => {
                let (w, w_null) = (
                    self.weights[value_at as usize],
                    self.weights[null_at as usize],
                );
                for (p, &x) in block.iter_mut().zip(&values[rows]) {
                    *p += if x.is_nan() { w_null } else { w * (x - shift) };
                }
            }
            RawPart::Codes {
                codes,
                null_slot,
                at,
                ..
            } => {
                let weights = &self.weights[at as usize..=(at + null_slot) as usize];
                for (p, &code) in block.iter_mut().zip(&codes[rows]) {
                    let slot = if code == NULL_CODE { null_slot } else { code };
                    *p += weights[slot as usize];
                }
            }
        }
    }
}

/// A numeric-like feature as an affine map of its raw value (`value_at`, holding
/// `x - shift`, 0 for NULL) and NULL indicator (`null_at`). A feature that is `constant` on
/// its fitted rows maps to exactly its one encoded value.
fn number_map(
    transform: &Transform,
    shift: f64,
    value_at: u32,
    null_at: u32,
    constant: bool,
) -> Result<Affine> {
    let fixed = |constant| Affine {
        constant,
        terms: Vec::new(),
    };
    Ok(match *transform {
        Transform::Standardize { .. } if constant => fixed(0.0),
        // (x - mean) / scale with x = raw + shift, and 0 for NULL (mean imputed).
        Transform::Standardize { mean, scale } => {
            let offset = (shift - mean) / scale;
            Affine {
                constant: offset,
                terms: vec![(value_at, 1.0 / scale), (null_at, -offset)],
            }
        }
        Transform::Binary { fill } if constant => fixed(fill),
        // x = raw + shift, and `fill` for NULL.
        Transform::Binary { fill } => Affine {
            constant: shift,
            terms: vec![(value_at, 1.0), (null_at, fill - shift)],
        },
        Transform::OneHot { .. } => return Err(mismatch("a text feature on a numeric column")),
    })
}

/// The mean of the non-NULL values (NaN marks NULL), or 0 when there are none or their sum
/// overflows: any finite shift is exact in principle, one near the mean keeps the squares
/// small relative to the spread.
fn shift_of(values: &[f64]) -> f64 {
    let (mut sum, mut n) = (0.0, 0u64);
    for &v in values {
        if !v.is_nan() {
            sum += v;
            n += 1;
        }
    }
    let mean = sum / n as f64;
    if mean.is_finite() {
        mean
    } else {
        0.0
    }
}

fn mismatch(reason: &str) -> PipelineError {
    PipelineError::SolverFailed {
        algorithm: "raw statistics".into(),
        reason: format!("internal: {reason}"),
    }
}
