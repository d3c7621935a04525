//! Regression metrics, accumulated in one pass over (actual, predicted) pairs.

use serde::{Deserialize, Serialize};

/// Running sums for RMSE, MAE and R²; R²'s total sum of squares uses Welford's update so a
/// target with a large mean keeps its precision.
#[derive(Debug, Clone, Default)]
pub struct MetricsAccumulator {
    n: u64,
    sum_sq_err: f64,
    sum_abs_err: f64,
    mean_y: f64,
    m2_y: f64,
}

impl MetricsAccumulator {
    #[inline]
    pub fn add(&mut self, actual: f64, predicted: f64) {
        let err = actual - predicted;
        self.n += 1;
        self.sum_sq_err += err * err;
        self.sum_abs_err += err.abs();
        let delta = actual - self.mean_y;
        self.mean_y += delta / self.n as f64;
        self.m2_y += delta * (actual - self.mean_y);
    }

    pub fn finish(&self) -> Metrics {
        let n = self.n as f64;
        let (rmse, mae) = if self.n == 0 {
            (f64::NAN, f64::NAN)
        } else {
            ((self.sum_sq_err / n).sqrt(), self.sum_abs_err / n)
        };
        // R² is undefined when the actual values are constant; report NULL-able NaN then.
        let r2 = if self.m2_y > 0.0 {
            1.0 - self.sum_sq_err / self.m2_y
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
