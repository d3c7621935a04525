//! Regression metrics, accumulated in one pass over (actual, predicted) pairs.

use serde::{Deserialize, Serialize};

/// Running sums for RMSE, MAE and R².
///
/// R²'s total sum of squares comes from the actual values taken relative to the first one
/// added: a target with a large mean keeps its precision (unless that first value lies far
/// outside the others' spread, which costs digits in proportion), a constant target gives
/// exactly zero (so R² is NaN, not noise), and no step divides. Welford's update, which
/// divides per row, made each row wait for the previous one's division.
#[derive(Debug, Clone, Default)]
pub struct MetricsAccumulator {
    n: u64,
    sum_sq_err: f64,
    sum_abs_err: f64,
    /// The first actual value; `sum_dy` and `sum_dy2` are of `actual - shift`.
    shift: Option<f64>,
    sum_dy: f64,
    sum_dy2: f64,
}

impl MetricsAccumulator {
    #[inline]
    pub fn add(&mut self, actual: f64, predicted: f64) {
        let err = actual - predicted;
        self.n += 1;
        self.sum_sq_err += err * err;
        self.sum_abs_err += err.abs();
        let dy = actual - *self.shift.get_or_insert(actual);
        self.sum_dy += dy;
        self.sum_dy2 += dy * dy;
    }

    pub fn finish(&self) -> Metrics {
        let n = self.n as f64;
        let (rmse, mae) = if self.n == 0 {
            (f64::NAN, f64::NAN)
        } else {
            ((self.sum_sq_err / n).sqrt(), self.sum_abs_err / n)
        };
        // R² is undefined when the actual values are constant; report NULL-able NaN then.
        let total_sq = if self.n == 0 {
            0.0
        } else {
            (self.sum_dy2 - self.sum_dy * self.sum_dy / n).max(0.0)
        };
        let r2 = if total_sq > 0.0 {
            1.0 - self.sum_sq_err / total_sq
        } else {
            f64::NAN
        };
        Metrics {
            n: self.n,
            rmse,
            mae,
            r2,
        }
    }
}

/// Metrics of predictions on one set of rows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub n: u64,
    pub rmse: f64,
    pub mae: f64,
    /// `1 - SSE / SST` with SST around the mean of these rows' actual values.
    pub r2: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_direct_formulas() {
        let actual = [3.0, -0.5, 2.0, 7.0];
        let predicted = [2.5, 0.0, 2.0, 8.0];
        let mut acc = MetricsAccumulator::default();
        for (a, p) in actual.iter().zip(predicted) {
            acc.add(*a, p);
        }
        let m = acc.finish();
        // Reference values: scikit-learn's documented example for these arrays.
        assert!((m.mae - 0.5).abs() < 1e-12);
        assert!((m.rmse - 0.375f64.sqrt()).abs() < 1e-12);
        assert!((m.r2 - 0.948_608_137_044_967_9).abs() < 1e-12);
    }

    #[test]
    fn constant_actual_values_have_no_r2() {
        let mut acc = MetricsAccumulator::default();
        for i in 0..1000 {
            acc.add(0.1 + 1e9, f64::from(i));
        }
        assert!(acc.finish().r2.is_nan());
        assert!(MetricsAccumulator::default().finish().rmse.is_nan());
    }

    #[test]
    fn large_mean_keeps_r2_precise() {
        let mut acc = MetricsAccumulator::default();
        for i in 0..1000 {
            let y = 1e12 + f64::from(i % 10);
            acc.add(y, y + if i % 2 == 0 { 0.5 } else { -0.5 });
        }
        let m = acc.finish();
        // SST = 1000 * var(0..9) = 1000 * 8.25, SSE = 1000 * 0.25. At 1e12 one ulp is
        // 1.2e-4, so ~1e-8 is what any accumulation can keep; the naive sum of squares
        // (terms of 1e24, ulp 1e8) would be off by far more than R² itself.
        assert!((m.r2 - (1.0 - 0.25 / 8.25)).abs() < 1e-6, "{}", m.r2);
    }
}
