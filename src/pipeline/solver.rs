//! Linear models fitted from [`Gram`] statistics: ordinary least squares, ridge, lasso and
//! elastic net, all with an unpenalized intercept.
//!
//! Every solver works on the centred statistics, per row: the covariance `Q = C/n` with
//! `C = X'X - n x̄x̄'` and `q = c/n` with `c = X'y - n x̄ȳ`. The intercept is then
//! `ȳ - x̄·w`, which is exactly the intercept that minimizes every objective below for the
//! given `w`. The cost is O(p³) in the encoded width and independent of the row count.
//!
//! The factorizations are written here rather than taken from a linear-algebra crate so
//! that they can call `interrupt` every column: at 2048 columns a library eigensolver ran
//! for 16 s, and Postgres must be able to cancel within a fraction of a second.

use serde::{Deserialize, Serialize};

use super::error::{PipelineError, Result};
use super::gram::{failed, try_zeroed, Centred, Gram};
use super::params::{Algorithm, ModelSpec, VALID_PARAM_KEYS};

/// A column is linearly dependent on the columns chosen before it when the share of its
/// variance they leave unexplained (1 - R²) is at most `k * DEPENDENT` (k columns). That
/// share is a Schur-complement pivot whose rounding is about `k * ε` (ε = 2.2e-16) plus the
/// rounding of the accumulated and centred sums; 1e-12 leaves over three orders of headroom
/// while keeping every column with R² below 1 - 2e-9 (at the 2048-column limit).
const DEPENDENT: f64 = 1e-12;

/// A fitted linear model: `prediction = intercept + coef · x` over the encoded features.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    pub intercept: f64,
    pub coef: Vec<f64>,
}

impl LinearModel {
    /// Prediction for a sparse encoded row: (column, value) pairs, omitted columns being 0.
    /// Columns must be below `coef.len()` (checked in debug builds; others add nothing).
    pub fn predict_sparse(&self, entries: &[(u32, f64)]) -> f64 {
        debug_assert!(entries.iter().all(|&(j, _)| (j as usize) < self.coef.len()));
        entries.iter().fold(self.intercept, |acc, &(j, v)| {
            acc + self.coef.get(j as usize).map_or(0.0, |c| c * v)
        })
    }

    /// Prediction for a dense encoded row of `coef.len()` values (checked in debug builds;
    /// otherwise the common prefix is used).
    pub fn predict_dense(&self, x: &[f64]) -> f64 {
        debug_assert_eq!(x.len(), self.coef.len());
        self.intercept + self.coef.iter().zip(x).map(|(c, v)| c * v).sum::<f64>()
    }
}

/// The model and how it was reached.
#[derive(Debug, Clone, PartialEq)]
pub struct FitSummary {
    pub model: LinearModel,
    /// Least squares: the numerical rank of the non-constant columns (pivots kept).
    /// Penalized fits: the number of non-constant columns, unless ridge fell back to least
    /// squares (see [`fit`]).
    pub rank: usize,
    /// Coordinate-descent sweeps; 0 for the closed-form solvers.
    pub iterations: u32,
    /// False only when coordinate descent stopped at `max_iter` sweeps.
    pub converged: bool,
}

/// Fits `spec` to the statistics in `gram`.
///
/// Contracts, for every algorithm:
/// - The intercept is not penalized: `intercept = ȳ - x̄·w`.
/// - Constant columns (variance at most 1e-9 of the mean square, all-zero ones included)
///   get coefficient 0.
/// - The solver is chosen from the penalty weights `l1 = alpha * l1_ratio` and
///   `l2 = alpha * (1 - l1_ratio)`, not from the algorithm's name alone:
///   - `Algorithm::Linear`, or `l1 = l2 = 0`: least squares by a Cholesky factorization of
///     Q with diagonal pivoting, the next pivot being the column least explained by those
///     already chosen relative to its own variance (so units do not matter). Columns with
///     1 - R² at most `k * 1e-12` against the chosen ones are dependent; `rank` counts the
///     others. The result is the minimum-norm (in the original units) least-squares
///     solution, so collinear designs (duplicated columns, one-hot levels plus the
///     intercept) work, their predictions equal those of any least-squares solution, and
///     identical columns share their weight equally. Fewer rows than columns are allowed
///     (the solution then interpolates).
///   - `l1 = 0 < l2` (ridge): `(Q + l2 I) w = q` by the same factorization. If a column is
///     dependent even with the penalty (collinear columns and `alpha` too small to matter
///     against rounding), the least-squares solution above is returned instead: it is the
///     limit of ridge as `alpha` goes to 0, and `rank` is then its rank.
///   - `l1 > 0` (lasso, elastic net): cyclic coordinate descent on Q and q (covariance
///     updates) from w = 0 minimizing
///     `1/(2n) ||y - b - Xw||² + l1 ||w||₁ + l2/2 ||w||²`. After a sweep in which every
///     `|Δw_j| * sd(x_j) <= tol * sd(y)` (the largest change of a feature's contribution,
///     relative to the target's spread), the duality gap is computed; the fit has
///     converged when it is at most `tol * var(y)` (scikit-learn's criterion, per row).
///     Otherwise it stops after `max_iter` sweeps with `converged = false`.
///
/// `interrupt` is called between stages, for every column of a factorization and every
/// sweep: at most O(p²) work (a few milliseconds at the 2048-column limit) apart.
///
/// Errors: [`PipelineError::TooFewRows`] with fewer than 2 rows;
/// [`PipelineError::InvalidParams`] for a negative or non-finite `alpha` or an `l1_ratio`
/// outside [0, 1]; [`PipelineError::SolverFailed`] when the statistics or the result are
/// not finite (NaN or infinite inputs, overflowing squares);
/// [`PipelineError::OutOfMemory`] if the O(p²) work space cannot be allocated.
pub fn fit(gram: &Gram, spec: &ModelSpec, interrupt: &dyn Fn()) -> Result<FitSummary> {
    let name = spec.algorithm.name();
    if gram.n() < 2 {
        return Err(PipelineError::TooFewRows {
            detail: format!("{} rows to fit {name}; at least 2 are needed", gram.n()),
        });
    }
    let (l1, l2) = penalties(spec)?;
    interrupt();
    let st = gram.centred(name, interrupt)?;
    interrupt();
    let (w_active, rank, iterations, converged) = if st.active.is_empty() {
        // Nothing varies: the model is the mean.
        (Vec::new(), 0, 0, true)
    } else if l1 == 0.0 && l2 == 0.0 {
        let (w, rank) = least_squares(st.cov, &st.xy, interrupt)?;
        (w, rank, 0, true)
    } else if l1 == 0.0 {
        match ridge(&st.cov, &st.xy, l2, interrupt)? {
            Some(w) => (w, st.active.len(), 0, true),
            None => {
                let (w, rank) = least_squares(st.cov, &st.xy, interrupt)?;
                (w, rank, 0, true)
            }
        }
    } else {
        let (w, iters, conv) = coordinate_descent(&st, l1, l2, spec, interrupt);
        (w, st.active.len(), iters, conv)
    };
    let mut coef = try_zeroed(gram.p(), "the coefficients")?;
    for (&j, &wj) in st.active.iter().zip(&w_active) {
        coef[j] = wj;
    }
    let intercept = gram.y_mean() - st.x_mean.iter().zip(&coef).map(|(m, w)| m * w).sum::<f64>();
    if !intercept.is_finite() || coef.iter().any(|c| !c.is_finite()) {
        return Err(failed(name, "the coefficients are not finite numbers"));
    }
    Ok(FitSummary {
        model: LinearModel { intercept, coef },
        rank,
        iterations,
        converged,
    })
}

/// The L1 and L2 weights; checked again here because `ModelSpec`'s fields are public.
fn penalties(spec: &ModelSpec) -> Result<(f64, f64)> {
    if spec.algorithm == Algorithm::Linear {
        return Ok((0.0, 0.0));
    }
    let (alpha, ratio) = (spec.alpha, spec.l1_ratio);
    if !(alpha.is_finite() && alpha >= 0.0 && (0.0..=1.0).contains(&ratio)) {
        return Err(PipelineError::InvalidParams {
            message: format!(
                "alpha must be finite and >= 0 and l1_ratio in [0, 1], got {alpha} and {ratio}"
            ),
            valid_keys: VALID_PARAM_KEYS.to_string(),
        });
    }
    Ok((alpha * ratio, alpha * (1.0 - ratio)))
}

/// Inner product with four independent sums: a single running sum is bound by the latency
/// of one addition per element, which made the factorizations three times slower.
fn dot(a: &[f64], b: &[f64]) -> f64 {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len().min(b.len());
    let (a4, b4) = (a[..n].chunks_exact(4), b[..n].chunks_exact(4));
    let mut tail = 0.0;
    for (x, y) in a4.remainder().iter().zip(b4.remainder()) {
        tail += x * y;
    }
    let mut acc = [0.0; 4];
    for (x, y) in a4.zip(b4) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// `P A Pᵀ = L Lᵀ` restricted to the first `rank` pivots, for a symmetric positive
/// semidefinite A; `l` is row-major `k * k` with L in its lower triangle (pivot order), and
/// `perm[i]` is the original index of pivot i.
struct PivotedCholesky {
    l: Vec<f64>,
    k: usize,
    perm: Vec<usize>,
    rank: usize,
}

impl PivotedCholesky {
    /// Factorizes A, given in `l` (row-major, full, positive diagonal), in place, left-looking
    /// so that every inner product runs over contiguous rows; stops at the first pivot
    /// whose relative remaining variance is at most `k * DEPENDENT`.
    fn new(mut l: Vec<f64>, k: usize, interrupt: &dyn Fn()) -> Self {
        let mut perm: Vec<usize> = (0..k).collect();
        let mut diag: Vec<f64> = (0..k).map(|j| l[j * k + j]).collect();
        // Schur-complement diagonal: the variance of each column left unexplained so far.
        let mut rest = diag.clone();
        let threshold = k as f64 * DEPENDENT;
        let mut rank = k;
        for i in 0..k {
            interrupt();
            let (piv, share) = (i..k)
                .map(|j| (j, rest[j] / diag[j]))
                .fold((i, f64::NEG_INFINITY), |b, c| if c.1 > b.1 { c } else { b });
            // A NaN share (from NaN statistics, refused earlier) would end it too.
            if share.is_nan() || share <= threshold {
                rank = i;
                break;
            }
            if piv != i {
                let (upper, lower) = l.split_at_mut(piv * k);
                upper[i * k..(i + 1) * k].swap_with_slice(&mut lower[..k]);
                for row in l.chunks_exact_mut(k) {
                    row.swap(i, piv);
                }
                perm.swap(i, piv);
                diag.swap(i, piv);
                rest.swap(i, piv);
            }
            let pivot = rest[i].sqrt();
            l[i * k + i] = pivot;
            let (done, below) = l.split_at_mut((i + 1) * k);
            let li = &done[i * k..i * k + i];
            for (row, r) in below.chunks_exact_mut(k).zip(&mut rest[i + 1..]) {
                let v = (row[i] - dot(&row[..i], li)) / pivot;
                row[i] = v;
                *r -= v * v;
            }
        }
        Self { l, k, perm, rank }
    }

    /// Solves `L_Bᵀ x = y` in place (B the first `y.len()` pivots), one row of L at a time.
    fn back_solve(&self, y: &mut [f64]) {
        for i in (0..y.len()).rev() {
            let row = &self.l[i * self.k..i * self.k + i + 1];
            y[i] /= row[i];
            let yi = y[i];
            for (yj, lij) in y[..i].iter_mut().zip(row) {
                *yj -= lij * yi;
            }
        }
    }

    /// The basic solution of `A w = b`: the dependent columns get 0.
    fn solve(&self, b: &[f64]) -> Vec<f64> {
        let (k, r) = (self.k, self.rank);
        let mut y: Vec<f64> = self.perm[..r].iter().map(|&j| b[j]).collect();
        for i in 0..r {
            let row = &self.l[i * k..i * k + i + 1];
            y[i] = (y[i] - dot(&row[..i], &y[..i])) / row[i];
        }
        self.back_solve(&mut y);
        let mut w = vec![0.0; k];
        for (&j, &v) in self.perm.iter().zip(&y) {
            w[j] = v;
        }
        w
    }

    /// Removes from `w` its component in the null space of A, turning any solution of
    /// `A w = b` into the one of minimum norm.
    fn project_out_null_space(&self, w: &mut [f64], interrupt: &dyn Fn()) -> Result<()> {
        let (k, r) = (self.k, self.rank);
        // Dependent pivot t has the null vector e_t - A_BB⁻¹ A_Bt = e_t - L_B⁻ᵀ L_tBᵀ.
        let mut basis = try_zeroed((k - r) * k, "the null space basis")?;
        for (c, t) in (r..k).enumerate() {
            interrupt();
            let mut coef = self.l[t * k..t * k + r].to_vec();
            self.back_solve(&mut coef);
            let (done, todo) = basis.split_at_mut(c * k);
            let z = &mut todo[..k];
            for (&j, &v) in self.perm.iter().zip(&coef) {
                z[j] = -v;
            }
            z[self.perm[t]] = 1.0;
            // Modified Gram-Schmidt, twice: once leaves errors growing with the condition
            // of the basis, which column units can make large; twice is orthogonal to
            // rounding.
            for _ in 0..2 {
                for prev in done.chunks_exact(k) {
                    let h = dot(prev, z);
                    z.iter_mut().zip(prev).for_each(|(zi, pi)| *zi -= h * pi);
                }
            }
            let norm = dot(z, z).sqrt();
            z.iter_mut().for_each(|zi| *zi /= norm);
        }
        for z in basis.chunks_exact(k) {
            let h = dot(z, w);
            w.iter_mut().zip(z).for_each(|(wi, zi)| *wi -= h * zi);
        }
        Ok(())
    }
}

/// Minimum-norm least squares `Q w = q` (see [`fit`]); returns w and the rank.
fn least_squares(cov: Vec<f64>, xy: &[f64], interrupt: &dyn Fn()) -> Result<(Vec<f64>, usize)> {
    let chol = PivotedCholesky::new(cov, xy.len(), interrupt);
    let mut w = chol.solve(xy);
    if chol.rank < chol.k {
        chol.project_out_null_space(&mut w, interrupt)?;
    }
    Ok((w, chol.rank))
}

/// Ridge `(Q + l2 I) w = q`; `None` if a column is dependent despite the penalty.
fn ridge(cov: &[f64], xy: &[f64], l2: f64, interrupt: &dyn Fn()) -> Result<Option<Vec<f64>>> {
    let k = xy.len();
    let mut a = try_zeroed(k * k, "the ridge system")?;
    a.copy_from_slice(cov);
    for i in 0..k {
        a[i * k + i] += l2;
    }
    let chol = PivotedCholesky::new(a, k, interrupt);
    Ok((chol.rank == k).then(|| chol.solve(xy)))
}

/// `sign(x) * max(|x| - t, 0)`.
fn soft_threshold(x: f64, t: f64) -> f64 {
    if x > t {
        x - t
    } else if x < -t {
        x + t
    } else {
        0.0
    }
}

/// Cyclic coordinate descent (see [`fit`]); returns w, the sweeps made and convergence.
fn coordinate_descent(
    st: &Centred,
    l1: f64,
    l2: f64,
    spec: &ModelSpec,
    interrupt: &dyn Fn(),
) -> (Vec<f64>, u32, bool) {
    let (q, c, k) = (&st.cov, &st.xy, st.xy.len());
    let sd: Vec<f64> = (0..k).map(|j| q[j * k + j].sqrt()).collect();
    let step_tol = spec.tol * st.y_var.sqrt();
    let mut w = vec![0.0; k];
    // g = q - Q w, the covariance of each column with the residual, kept current so a
    // coordinate step costs O(k) and a sweep O(k²) whatever the row count.
    let mut g = c.clone();
    let mut sweeps = 0;
    while sweeps < spec.max_iter {
        interrupt();
        let mut max_step = 0.0_f64;
        for j in 0..k {
            let row = &q[j * k..(j + 1) * k];
            let old = w[j];
            let new = soft_threshold(g[j] + row[j] * old, l1) / (row[j] + l2);
            let delta = new - old;
            if delta != 0.0 {
                w[j] = new;
                for (gi, qi) in g.iter_mut().zip(row) {
                    *gi -= delta * qi;
                }
                max_step = max_step.max(delta.abs() * sd[j]);
            }
        }
        sweeps += 1;
        if max_step <= step_tol {
            // Recompute g so that the gap does not inherit the drift of the updates.
            for (j, gj) in g.iter_mut().enumerate() {
                let row = &q[j * k..(j + 1) * k];
                *gj = c[j] - dot(row, &w);
            }
            if duality_gap(&w, &g, c, st.y_var, l1, l2) <= spec.tol * st.y_var {
                return (w, sweeps, true);
            }
        }
    }
    (w, sweeps, false)
}

/// scikit-learn's elastic-net duality gap, divided by n and written with covariances:
/// `r'r/n = var(y) - w'q - w'g` and `r'y/n = var(y) - w'q` for the residual r.
fn duality_gap(w: &[f64], g: &[f64], q: &[f64], y_var: f64, l1: f64, l2: f64) -> f64 {
    let wq = dot(w, q);
    let r_norm2 = (y_var - wq - dot(w, g)).max(0.0);
    let dual_norm = w
        .iter()
        .zip(g)
        .fold(0.0_f64, |m, (wj, gj)| m.max((gj - l2 * wj).abs()));
    let (scale, mut gap) = if dual_norm > l1 {
        let s = l1 / dual_norm;
        (s, 0.5 * r_norm2 * (1.0 + s * s))
    } else {
        (1.0, r_norm2)
    };
    let w_l1: f64 = w.iter().map(|v| v.abs()).sum();
    gap += l1 * w_l1 - scale * (y_var - wq) + 0.5 * l2 * (1.0 + scale * scale) * dot(w, w);
    gap
}

#[cfg(test)]
#[path = "solver_tests.rs"]
mod tests;
