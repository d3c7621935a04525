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

/// Builds a [`Gram`] from rows whose first `k` columns are always present (a dense
/// prefix, zeros included) and whose other non-zero values are few.
///
/// The same statistics as [`Gram::add_row`] with all the entries, arranged so that every
/// inner loop runs over contiguous memory and vectorizes: the dense block updates rows
/// `0..k` of the upper triangle, and the products of a sparse column with the dense
/// prefix go to that column's own row (the lower triangle) until [`Self::finish`] moves
/// them to where `Gram` keeps them.
pub struct DensePrefixRows {
    gram: Gram,
    k: usize,
}

impl DensePrefixRows {
    /// Errors: as [`Gram::new`]; [`PipelineError::SolverFailed`] if `k > p`.
    pub fn new(p: usize, k: usize, y_shift: f64) -> Result<Self> {
        if k > p {
            return Err(failed(
                "statistics",
                "the dense prefix is wider than the row",
            ));
        }
        Ok(Self {
            gram: Gram::new(p, y_shift)?,
            k,
        })
    }

    /// Adds one row: `dense` holds columns `0..k`, `sparse` the non-zero values of the
    /// others, with strictly increasing columns from `k` up, below `p` (checked in debug
    /// builds; in release builds a column `>= p` panics on a bounds check).
    pub fn add_row(&mut self, dense: &[f64], sparse: &[(u32, f64)], y: f64) {
        let (g, k) = (&mut self.gram, self.k);
        debug_assert_eq!(dense.len(), k);
        debug_assert!(sparse.first().is_none_or(|&(j, _)| j as usize >= k));
        debug_assert!(sparse.windows(2).all(|w| w[0].0 < w[1].0));
        let p = g.p;
        let yc = y - g.y_shift;
        g.n += 1;
        g.sum_y += yc;
        g.yty += yc * yc;
        for (a, &va) in dense.iter().enumerate() {
            g.sum_x[a] += va;
            g.xty[a] += va * yc;
            let row = &mut g.xtx[a * p + a..a * p + k];
            for (cell, &vb) in row.iter_mut().zip(&dense[a..]) {
                *cell += va * vb;
            }
        }
        for (a, &(ja, va)) in sparse.iter().enumerate() {
            let ja = ja as usize;
            g.sum_x[ja] += va;
            g.xty[ja] += va * yc;
            let row = &mut g.xtx[ja * p..(ja + 1) * p];
            for (cell, &vb) in row[..k].iter_mut().zip(dense) {
                *cell += va * vb;
            }
            for &(jb, vb) in &sparse[a..] {
                row[jb as usize] += va * vb;
            }
        }
    }

    /// The statistics of the rows added.
    pub fn finish(mut self) -> Gram {
        let (g, k) = (&mut self.gram, self.k);
        let p = g.p;
        for r in k..p {
            for c in 0..k {
                g.xtx[c * p + r] += std::mem::take(&mut g.xtx[r * p + c]);
            }
        }
        self.gram
    }
}

/// One column of another basis as an affine function of a [`Gram`]'s columns:
/// `constant + Σ value * x[column]` over `terms`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Affine {
    pub constant: f64,
    pub terms: Vec<(u32, f64)>,
}

impl Gram {
    /// The statistics that adding every row mapped through `maps` would give: the sums of
    /// the new columns and their products follow from this Gram's sums alone, so a basis
    /// change costs O(q² · terms²) instead of a pass over the rows.
    ///
    /// Errors: as [`Gram::new`] for `maps.len()` columns, and
    /// [`PipelineError::SolverFailed`] if a term names a column `>= p`.
    pub fn project(&self, maps: &[Affine], interrupt: &dyn Fn()) -> Result<Gram> {
        let p = self.p;
        if maps
            .iter()
            .flat_map(|m| &m.terms)
            .any(|&(j, _)| j as usize >= p)
        {
            return Err(failed("statistics projection", "a term names no column"));
        }
        let q = maps.len();
        let mut out = Gram::new(q, self.y_shift)?;
        out.n = self.n;
        out.sum_y = self.sum_y;
        out.yty = self.yty;
        let n = self.n as f64;
        // Only the upper triangle is kept; products are symmetric.
        let xtx = |a: usize, b: usize| self.xtx[a.min(b) * p + a.max(b)];
        let linear = |m: &Affine, sums: &[f64]| -> f64 {
            m.terms.iter().map(|&(j, v)| v * sums[j as usize]).sum()
        };
        let column_sums: Vec<f64> = maps.iter().map(|m| linear(m, &self.sum_x)).collect();
        for (k, mk) in maps.iter().enumerate() {
            if k % 64 == 0 {
                interrupt();
            }
            out.sum_x[k] = mk.constant * n + column_sums[k];
            out.xty[k] = mk.constant * self.sum_y + linear(mk, &self.xty);
            for (l, ml) in maps.iter().enumerate().skip(k) {
                let mut cross = 0.0;
                for &(j, a) in &mk.terms {
                    for &(i, b) in &ml.terms {
                        cross += a * b * xtx(j as usize, i as usize);
                    }
                }
                out.xtx[k * q + l] = mk.constant * ml.constant * n
                    + mk.constant * column_sums[l]
                    + ml.constant * column_sums[k]
                    + cross;
            }
        }
        Ok(out)
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
#[path = "gram_tests.rs"]
mod tests;
