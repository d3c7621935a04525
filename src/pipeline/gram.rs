//! Sufficient statistics of a least-squares problem, accumulated one sparse row at a time.
//!
//! A linear model with an intercept only needs the row count, the column sums of X, X'X,
//! the sum of y, X'y and y'y; [`Gram`] keeps exactly these, so the rows themselves are read
//! once and never stored. Statistics of disjoint row sets add up ([`Gram::merge`]), and
//! `Gram::centred` turns them into the covariances the solvers work on.

use std::fmt;

use super::error::{PipelineError, Result};

/// Largest encoded width accepted: 2048 columns keep one Gram matrix at 32 MiB.
pub const MAX_ENCODED_FEATURES: usize = 2048;

/// A column whose variance is at most this share of its mean square is constant: its
/// variance is computed as `mean square - mean²` from sums over possibly millions of rows,
/// whose rounding can leave relative noise far above machine epsilon, and treating that
/// noise as signal would turn a constant column into an arbitrary coefficient.
const CONSTANT_COLUMN: f64 = 1e-9;

/// Running sums over the rows added so far, with the target taken relative to `y_shift`.
///
/// Only the upper triangle (`j <= k`) of the row-major `p * p` X'X is maintained; the
/// strictly lower triangle stays zero. Sums are uncentred so that a row costs O(k²) in its
/// entry count and touches nothing else; `Gram::centred` centres them for the solver.
pub struct Gram {
    n: u64,
    p: usize,
    /// Subtracted from every y before it is summed: y'y of a target with a large mean would
    /// otherwise swamp its variance in rounding (1e9² leaves no digits for a variance of 1).
    y_shift: f64,
    sum_x: Vec<f64>,
    xtx: Vec<f64>,
    sum_y: f64,
    xty: Vec<f64>,
    yty: f64,
}

/// Centred statistics per row, restricted to the non-constant (`active`) columns.
pub(super) struct Centred {
    /// Means of all `p` columns.
    pub x_mean: Vec<f64>,
    /// Indices of the non-constant columns, increasing.
    pub active: Vec<usize>,
    /// Covariance of the active columns, `k * k` symmetric (row- and column-major alike).
    pub cov: Vec<f64>,
    /// Covariance of each active column with y.
    pub xy: Vec<f64>,
    /// Variance of y (clamped at 0 against rounding).
    pub y_var: f64,
}

/// A [`PipelineError::SolverFailed`] naming the algorithm.
pub(super) fn failed(algorithm: &str, reason: &str) -> PipelineError {
    let (algorithm, reason) = (algorithm.to_string(), reason.to_string());
    PipelineError::SolverFailed { algorithm, reason }
}

/// A zero-filled vector whose allocation failure is an error instead of an abort.
pub(super) fn try_zeroed(len: usize, what: &str) -> Result<Vec<f64>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        let mib = (len as f64) * 8.0 / (1024.0 * 1024.0);
        PipelineError::OutOfMemory(format!("allocating {mib:.1} MiB for {what}"))
    })?;
    v.resize(len, 0.0);
    Ok(v)
}

impl Gram {
    /// Empty statistics for `p` encoded columns.
    ///
    /// `y_shift` should be close to the mean of y (the train mean, or an estimate of it);
    /// any finite value gives the same fit up to rounding, a good one keeps y'y precise.
    /// A non-finite shift is replaced by 0.
    ///
    /// Errors: [`PipelineError::TooManyFeatures`] if `p > MAX_ENCODED_FEATURES`,
    /// [`PipelineError::OutOfMemory`] if the `p * p` matrix cannot be allocated.
    pub fn new(p: usize, y_shift: f64) -> Result<Self> {
        if p > MAX_ENCODED_FEATURES {
            return Err(PipelineError::TooManyFeatures {
                columns: p,
                limit: MAX_ENCODED_FEATURES,
            });
        }
        Ok(Self {
            n: 0,
            p,
            y_shift: if y_shift.is_finite() { y_shift } else { 0.0 },
            sum_x: try_zeroed(p, "the column sums")?,
            xtx: try_zeroed(p * p, "the Gram matrix")?,
            sum_y: 0.0,
            xty: try_zeroed(p, "the feature-target products")?,
            yty: 0.0,
        })
    }

    /// Adds one row: `entries` are its non-zero encoded values as (column, value) pairs,
    /// with strictly increasing columns all below `p`; omitted columns are 0.
    ///
    /// The contract is checked in debug builds only (this runs once per training row); in
    /// release builds a column `>= p` panics on a bounds check and unsorted or repeated
    /// columns give wrong statistics. Non-finite values are accepted here and make
    /// [`solver::fit`](super::solver::fit) fail.
    pub fn add_row(&mut self, entries: &[(u32, f64)], y: f64) {
        debug_assert!(
            entries.windows(2).all(|w| w[0].0 < w[1].0),
            "entries must have strictly increasing columns"
        );
        debug_assert!(
            entries.last().is_none_or(|&(j, _)| (j as usize) < self.p),
            "entry column out of range (p = {})",
            self.p
        );
        let p = self.p;
        let yc = y - self.y_shift;
        self.n += 1;
        self.sum_y += yc;
        self.yty += yc * yc;
        for (a, &(ja, va)) in entries.iter().enumerate() {
            let ja = ja as usize;
            self.sum_x[ja] += va;
            self.xty[ja] += va * yc;
            // One slice per entry: the inner loop then indexes a single row, which is all
            // the upper triangle needs since later entries have larger columns.
            let row = &mut self.xtx[ja * p..(ja + 1) * p];
            for &(jb, vb) in &entries[a..] {
                row[jb as usize] += va * vb;
            }
        }
    }

    /// Adds the statistics of `other` (rows disjoint from this one's), so that the result
    /// equals the statistics of all rows of both.
    ///
    /// A different `y_shift` is converted exactly (in real arithmetic) to this one's.
    /// Errors: [`PipelineError::SolverFailed`] if the widths differ; `self` is then unchanged.
    pub fn merge(&mut self, other: &Gram) -> Result<()> {
        if other.p != self.p {
            let (a, b) = (other.p, self.p);
            let reason = format!("cannot add statistics of {a} encoded columns to {b} columns");
            return Err(failed("statistics merge", &reason));
        }
        // other's targets are y - s2 = (y - s1) - d with d = s1 - s2.
        let d = self.y_shift - other.y_shift;
        let n2 = other.n as f64;
        self.n += other.n;
        self.yty += other.yty - 2.0 * d * other.sum_y + n2 * d * d;
        self.sum_y += other.sum_y - n2 * d;
        for ((xy, &oxy), &osx) in self.xty.iter_mut().zip(&other.xty).zip(&other.sum_x) {
            *xy += oxy - d * osx;
        }
        for (a, &b) in self.sum_x.iter_mut().zip(&other.sum_x) {
            *a += b;
        }
        for (a, &b) in self.xtx.iter_mut().zip(&other.xtx) {
            *a += b;
        }
        Ok(())
    }

    /// Number of rows added.
    pub fn n(&self) -> u64 {
        self.n
    }

    /// Number of encoded columns.
    pub fn p(&self) -> usize {
        self.p
    }

    /// The shift subtracted from every target value.
    pub fn y_shift(&self) -> f64 {
        self.y_shift
    }

    /// Mean of y over the rows added; NaN when there are none.
    pub fn y_mean(&self) -> f64 {
        self.y_shift + self.sum_y / self.n as f64
    }

    /// The centred statistics per row, for the solver: constant columns (variance at most
    /// `CONSTANT_COLUMN` of the mean square, all-zero ones included) are left out.
    ///
    /// Errors: [`PipelineError::SolverFailed`] (naming `algorithm`) if a sum is not finite,
    /// [`PipelineError::OutOfMemory`] for the covariance matrix.
    pub(super) fn centred(&self, algorithm: &str, interrupt: &dyn Fn()) -> Result<Centred> {
        let (p, n) = (self.p, self.n as f64);
        let (sum_x, xtx, xty) = (&self.sum_x, &self.xtx, &self.xty);
        let all_finite = |s: &[f64]| s.iter().all(|v| v.is_finite());
        if !(all_finite(sum_x)
            && all_finite(xtx)
            && all_finite(xty)
            && self.sum_y.is_finite()
            && self.yty.is_finite())
        {
            return Err(failed(
                algorithm,
                "the features or the target contain NaN or infinite values, or their squares \
                 overflow",
            ));
        }
        let x_mean: Vec<f64> = sum_x.iter().map(|s| s / n).collect();
        let active: Vec<usize> = (0..p)
            .filter(|&j| {
                let mean_square = xtx[j * p + j] / n;
                mean_square - x_mean[j] * x_mean[j] > CONSTANT_COLUMN * mean_square
            })
            .collect();
        let k = active.len();
        let mut cov = try_zeroed(k * k, "the covariance matrix")?;
        for (a, &j) in active.iter().enumerate() {
            // The mirrored writes stride through memory: tens of milliseconds at full width.
            if a % 64 == 0 {
                interrupt();
            }
            for (b, &l) in active.iter().enumerate().skip(a) {
                let v = xtx[j * p + l] / n - x_mean[j] * x_mean[l];
                cov[a * k + b] = v;
                cov[b * k + a] = v;
            }
        }
        let y_mean = self.sum_y / n;
        let xy: Vec<f64> = active
            .iter()
            .map(|&j| xty[j] / n - x_mean[j] * y_mean)
            .collect();
        let y_var = (self.yty / n - y_mean * y_mean).max(0.0);
        if !(all_finite(&cov) && all_finite(&xy) && y_var.is_finite()) {
            return Err(failed(algorithm, "the centred statistics overflow"));
        }
        Ok(Centred {
            x_mean,
            active,
            cov,
            xy,
            y_var,
        })
    }
}

impl fmt::Debug for Gram {
    // The matrix can hold four million numbers: show the shape only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gram")
            .field("n", &self.n)
            .field("p", &self.p)
            .field("y_shift", &self.y_shift)
            .finish_non_exhaustive()
    }
}

/// Deterministic data and shorthands for the tests of this module and of the solver.
#[cfg(test)]
pub(super) mod test_support {
    use super::super::error::Result;
    use super::super::params::{Algorithm, ModelSpec};
    use super::super::solver::{fit, FitSummary};
    use super::Gram;

    /// splitmix64: tiny, deterministic and good enough for test data.
    pub struct Rng(pub u64);

    impl Rng {
        pub fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in [0, 1).
        pub fn uniform(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }

        /// Standard normal (Box-Muller).
        pub fn normal(&mut self) -> f64 {
            let u = 1.0 - self.uniform();
            let v = self.uniform();
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    pub fn rows(n: usize, mut row: impl FnMut() -> Vec<f64>) -> Vec<Vec<f64>> {
        (0..n).map(|_| row()).collect()
    }

    /// n rows of p standard normal features, the last one correlated with the first.
    pub fn features(rng: &mut Rng, n: usize, p: usize) -> Vec<Vec<f64>> {
        rows(n, || {
            let mut r: Vec<f64> = (0..p).map(|_| rng.normal()).collect();
            r[p - 1] = 0.8 * r[0] + 0.6 * r[p - 1];
            r
        })
    }

    /// `intercept + x·w` plus `noise` times standard normal noise.
    pub fn target(
        rng: &mut Rng,
        x: &[Vec<f64>],
        intercept: f64,
        w: &[f64],
        noise: f64,
    ) -> Vec<f64> {
        let dot = |r: &Vec<f64>| r.iter().zip(w).map(|(a, b)| a * b).sum::<f64>();
        x.iter()
            .map(|r| intercept + dot(r) + noise * rng.normal())
            .collect()
    }

    /// Statistics of dense rows; zeros are left out of the entries as an encoder would.
    pub fn gram_of(x: &[Vec<f64>], y: &[f64], p: usize, y_shift: f64) -> Gram {
        let mut g = Gram::new(p, y_shift).unwrap();
        let mut entries = Vec::new();
        for (row, &yi) in x.iter().zip(y) {
            entries.clear();
            let nonzero = row.iter().enumerate().filter(|(_, v)| **v != 0.0);
            entries.extend(nonzero.map(|(j, &v)| (j as u32, v)));
            g.add_row(&entries, yi);
        }
        g
    }

    /// Tight tolerances, so that comparisons measure the solvers and not their stopping.
    pub fn spec(algorithm: Algorithm, alpha: f64, l1_ratio: f64) -> ModelSpec {
        ModelSpec {
            algorithm,
            alpha,
            l1_ratio,
            max_iter: 100_000,
            tol: 1e-12,
        }
    }

    /// Fits dense rows, shifting y by its first value.
    pub fn fit_rows(x: &[Vec<f64>], y: &[f64], spec: &ModelSpec) -> Result<FitSummary> {
        let p = x.first().map_or(0, Vec::len);
        fit(
            &gram_of(x, y, p, y.first().copied().unwrap_or(0.0)),
            spec,
            &|| {},
        )
    }

    pub fn max_diff(a: &[f64], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter().zip(b).fold(0.0, |m, (u, v)| m.max((u - v).abs()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::params::Algorithm;
    use super::super::solver::fit;
    use super::test_support::*;
    use super::*;

    /// A third of the entries are zero, so that the sparse path is exercised.
    fn random_rows(rng: &mut Rng, n: usize, p: usize) -> (Vec<Vec<f64>>, Vec<f64>) {
        let x = rows(n, || {
            let mut r: Vec<f64> = (0..p).map(|_| rng.normal()).collect();
            r.iter_mut()
                .filter(|_| rng.uniform() < 0.33)
                .for_each(|v| *v = 0.0);
            r
        });
        let y = target(rng, &x, 5.0, &vec![1.0; p], 1.0);
        (x, y)
    }

    #[test]
    fn statistics_equal_dense_sums() {
        let mut rng = Rng(7);
        let (x, y) = random_rows(&mut rng, 40, 4);
        let g = gram_of(&x, &y, 4, 2.0);
        assert_eq!((g.n(), g.p()), (40, 4));
        let sum = |f: &dyn Fn(usize) -> f64| (0..40).map(f).sum::<f64>();
        for j in 0..4 {
            assert!((g.sum_x[j] - sum(&|i| x[i][j])).abs() < 1e-12);
            assert!((g.xty[j] - sum(&|i| x[i][j] * (y[i] - 2.0))).abs() < 1e-12);
            for k in 0..4 {
                let want = if j <= k {
                    sum(&|i| x[i][j] * x[i][k])
                } else {
                    0.0
                };
                assert!((g.xtx[j * 4 + k] - want).abs() < 1e-12, "({j}, {k})");
            }
        }
        let mean = sum(&|i| y[i]) / 40.0;
        assert!((g.y_mean() - mean).abs() < 1e-12);
        assert!((g.yty - sum(&|i| (y[i] - 2.0) * (y[i] - 2.0))).abs() < 1e-9);
        assert!((g.sum_y - (mean - 2.0) * 40.0).abs() < 1e-12);
    }

    #[test]
    fn merged_train_and_test_equal_all_rows() {
        let mut rng = Rng(11);
        let (x, y) = random_rows(&mut rng, 60, 5);
        let all = gram_of(&x, &y, 5, 5.0);
        // The two parts even use different shifts: merge converts them.
        let mut train = gram_of(&x[..45], &y[..45], 5, 5.0);
        let test = gram_of(&x[45..], &y[45..], 5, -3.0);
        train.merge(&test).unwrap();
        assert_eq!(train.n(), 60);
        assert!((train.y_mean() - all.y_mean()).abs() < 1e-12);
        assert!((train.sum_y - all.sum_y).abs() < 1e-10);
        assert!((train.yty - all.yty).abs() < 1e-9);
        assert!(max_diff(&train.sum_x, &all.sum_x) < 1e-10);
        assert!(max_diff(&train.xty, &all.xty) < 1e-10);
        assert!(max_diff(&train.xtx, &all.xtx) < 1e-10);
        // And the fit of merged statistics is the fit of all rows.
        let s = spec(Algorithm::ElasticNet, 0.01, 0.5);
        let (merged, direct) = (
            fit(&train, &s, &|| {}).unwrap(),
            fit(&all, &s, &|| {}).unwrap(),
        );
        assert!(max_diff(&merged.model.coef, &direct.model.coef) < 1e-10);
    }

    #[test]
    fn shift_does_not_change_the_fit_and_keeps_large_means_precise() {
        let mut rng = Rng(7);
        let x = features(&mut rng, 120, 4);
        let signal = target(&mut rng, &x, 0.0, &[0.02, -0.01, 0.005, 0.0], 0.01);
        // 1e9 + s is exact to 1.2e-7, and (1e9 + s) - 1e9 recovers that value exactly.
        let large: Vec<f64> = signal.iter().map(|v| 1e9 + v).collect();
        let small: Vec<f64> = large.iter().map(|v| v - 1e9).collect();
        for s in [
            spec(Algorithm::Linear, 0.0, 0.0),
            spec(Algorithm::Lasso, 1e-3, 1.0),
        ] {
            let reference = fit(&gram_of(&x, &small, 4, 0.0), &s, &|| {}).unwrap();
            for shift in [1e9, 1e9 + 0.37, 1e9 - 50.0] {
                let f = fit(&gram_of(&x, &large, 4, shift), &s, &|| {}).unwrap();
                let d = max_diff(&f.model.coef, &reference.model.coef);
                assert!(d < 1e-10, "shift {shift}: {d:e}");
                assert!((f.model.intercept - 1e9 - reference.model.intercept).abs() < 1e-6);
                assert!(f.converged);
            }
        }
    }

    #[test]
    fn non_finite_rows_make_every_fit_fail() {
        let x = vec![vec![1.0, 2.0], vec![2.0, 1.0], vec![3.0, 5.0]];
        let y = vec![1.0, 2.0, 4.0];
        let with = |i: usize, j: usize, v: f64| {
            let mut x = x.clone();
            x[i][j] = v;
            x
        };
        let (nan_x, huge_x, inf_x) = (
            with(1, 0, f64::NAN),
            with(2, 1, 1e200),
            with(0, 1, f64::INFINITY),
        );
        let nan_y = vec![1.0, 2.0, f64::NAN];
        for s in [
            spec(Algorithm::Linear, 0.0, 0.0),
            spec(Algorithm::Ridge, 1.0, 0.0),
            spec(Algorithm::Lasso, 0.1, 1.0),
            spec(Algorithm::ElasticNet, 0.1, 0.5),
        ] {
            for (xs, ys) in [(&nan_x, &y), (&huge_x, &y), (&inf_x, &y), (&x, &nan_y)] {
                let err = fit_rows(xs, ys, &s).unwrap_err();
                assert!(matches!(err, PipelineError::SolverFailed { .. }), "{err:?}");
            }
        }
    }

    #[test]
    fn merge_refuses_another_width() {
        let mut a = Gram::new(3, 0.0).unwrap();
        a.add_row(&[(0, 1.0)], 1.0);
        let b = Gram::new(4, 0.0).unwrap();
        assert!(matches!(
            a.merge(&b),
            Err(PipelineError::SolverFailed { .. })
        ));
        assert_eq!(a.n(), 1);
    }

    #[test]
    fn width_limit_and_shift_sanitizing() {
        let err = Gram::new(MAX_ENCODED_FEATURES + 1, 0.0).unwrap_err();
        let limit = MAX_ENCODED_FEATURES;
        assert_eq!(
            err,
            PipelineError::TooManyFeatures {
                columns: 2049,
                limit
            }
        );
        assert!(Gram::new(MAX_ENCODED_FEATURES, 0.0).is_ok());
        let mut g = Gram::new(0, f64::NAN).unwrap();
        assert_eq!(g.y_shift(), 0.0);
        assert!(g.y_mean().is_nan());
        g.add_row(&[], 4.0);
        assert_eq!(g.y_mean(), 4.0);
        assert_eq!(format!("{g:?}"), "Gram { n: 1, p: 0, y_shift: 0.0, .. }");
    }

    #[test]
    fn omitted_and_explicit_zeros_agree() {
        let mut sparse = Gram::new(3, 0.0).unwrap();
        let mut dense = Gram::new(3, 0.0).unwrap();
        sparse.add_row(&[(1, 2.0)], 1.0);
        dense.add_row(&[(0, 0.0), (1, 2.0), (2, 0.0)], 1.0);
        assert_eq!(sparse.xtx, dense.xtx);
        assert_eq!(sparse.xty, dense.xty);
        assert_eq!(sparse.sum_x, dense.sum_x);
    }
}
