//! Tests of the solvers against linfa-linear, linfa-elasticnet and an SVD pseudo-inverse.

use super::super::gram::test_support::*;
use super::*;
use linfa::traits::Fit;
use linfa::Dataset;
use ndarray::{Array1, Array2, Ix1};
use std::cell::Cell;
use Algorithm::{ElasticNet, Lasso, Linear, Ridge};

fn ols(x: &[Vec<f64>], y: &[f64]) -> FitSummary {
    fit_rows(x, y, &spec(Linear, 0.0, 0.0)).unwrap()
}

fn predictions(m: &LinearModel, x: &[Vec<f64>]) -> Vec<f64> {
    x.iter().map(|r| m.predict_dense(r)).collect()
}

/// The features and the mean of y, so that linfa's intercept can be checked.
fn linfa_data(x: &[Vec<f64>], y: &[f64], centre: bool) -> (Dataset<f64, f64, Ix1>, Vec<f64>) {
    let mut xa = Array2::from_shape_fn((x.len(), x[0].len()), |(i, j)| x[i][j]);
    let mean = xa.mean_axis(ndarray::Axis(0)).unwrap();
    if centre {
        xa -= &mean;
    }
    (Dataset::new(xa, Array1::from(y.to_vec())), mean.to_vec())
}

#[test]
fn recovers_noiseless_coefficients() {
    let mut rng = Rng(1);
    let x = rows(30, || (0..3).map(|_| 10.0 * rng.uniform() - 3.0).collect());
    let y = target(&mut rng, &x, 3.0, &[2.0, -0.5, 7.0], 0.0);
    // Lasso and ridge without penalty are least squares too.
    for (algorithm, l1_ratio) in [(Linear, 0.0), (Ridge, 0.0), (Lasso, 1.0)] {
        let f = fit_rows(&x, &y, &spec(algorithm, 0.0, l1_ratio)).unwrap();
        assert!(max_diff(&f.model.coef, &[2.0, -0.5, 7.0]) < 1e-9, "{f:?}");
        assert!((f.model.intercept - 3.0).abs() < 1e-9);
        assert_eq!((f.rank, f.iterations, f.converged), (3, 0, true));
    }
}

#[test]
fn least_squares_matches_linfa_linear() {
    let mut rng = Rng(2);
    let x = features(&mut rng, 200, 6);
    let y = target(&mut rng, &x, -4.0, &[1.5, 0.0, -2.0, 0.3, 4.0, 1.0], 1.0);
    let ours = ols(&x, &y).model;
    let linfa = linfa_linear::LinearRegression::new().fit(&linfa_data(&x, &y, false).0);
    let linfa = linfa.unwrap();
    let theirs = LinearModel {
        intercept: linfa.intercept(),
        coef: linfa.params().to_vec(),
    };
    let coef_diff = max_diff(&ours.coef, &theirs.coef);
    let icpt_diff = (ours.intercept - theirs.intercept).abs();
    let pred_diff = max_diff(&predictions(&ours, &x), &predictions(&theirs, &x));
    eprintln!("ols vs linfa: coef {coef_diff:e} intercept {icpt_diff:e} pred {pred_diff:e}");
    assert!(coef_diff < 1e-8 && icpt_diff < 1e-8 && pred_diff < 1e-8);
}

/// Predictions of a rank-deficient design against those of its full-rank reduction.
fn same_predictions(f: &FitSummary, x: &[Vec<f64>], reduced: &FitSummary, xr: &[Vec<f64>]) {
    let d = max_diff(&predictions(&f.model, x), &predictions(&reduced.model, xr));
    assert!(d < 1e-9, "predictions differ by {d}");
}

#[test]
fn collinear_designs_give_minimum_norm_solutions() {
    let mut rng = Rng(3);
    let base = rows(80, || vec![rng.normal(), rng.normal()]);
    let level: Vec<usize> = (0..80).map(|i| i % 3).collect();
    let effect = |i: usize| [0.0, 3.0, -1.0][level[i]];
    let y: Vec<f64> = target(&mut rng, &base, 1.0, &[2.0, -1.0], 0.1);
    let y: Vec<f64> = y.iter().enumerate().map(|(i, v)| v + effect(i)).collect();
    let reference = ols(&base, &y);
    let (r0, r1) = (reference.model.coef[0], reference.model.coef[1]);
    let derive = |f: &dyn Fn(&Vec<f64>) -> Vec<f64>| base.iter().map(f).collect::<Vec<_>>();

    // Duplicated column: both copies get half the weight.
    let dup = derive(&|r| vec![r[0], r[1], r[0]]);
    let f = ols(&dup, &y);
    same_predictions(&f, &dup, &reference, &base);
    assert!(max_diff(&f.model.coef, &[r0 / 2.0, r1, r0 / 2.0]) < 1e-9);
    assert_eq!(f.rank, 2);

    // Constant and all-zero columns get exactly 0.
    let cz = derive(&|r| vec![r[0], 5.0, r[1], 0.0]);
    let f = ols(&cz, &y);
    same_predictions(&f, &cz, &reference, &base);
    assert_eq!((f.model.coef[1], f.model.coef[3], f.rank), (0.0, 0.0, 2));

    // A column and 1000 times it: the minimum norm in original units puts 1000 times
    // the weight on the larger copy, as ridge with a vanishing penalty would.
    let scaled = derive(&|r| vec![r[0], 1000.0 * r[0], r[1]]);
    let f = ols(&scaled, &y);
    same_predictions(&f, &scaled, &reference, &base);
    let c = &f.model.coef;
    assert!((c[1] - 1000.0 * c[0]).abs() < 1e-9 && (c[0] + 1000.0 * c[1] - r0).abs() < 1e-9);

    // One-hot levels summing to the intercept, against reference coding without level 0.
    let onehot = |first: usize| {
        let mut x = base.clone();
        for (r, &l) in x.iter_mut().zip(&level) {
            r.extend((first..3).map(|k| if k == l { 1.0 } else { 0.0 }));
        }
        x
    };
    let (full, refc) = (onehot(0), onehot(1));
    let (f, fr) = (ols(&full, &y), ols(&refc, &y));
    same_predictions(&f, &full, &fr, &refc);
    assert_eq!((f.rank, fr.rank), (4, 4));
    // Minimum norm: the levels' weights sum to 0, the intercept carries their mean.
    assert!(f.model.coef[2..].iter().sum::<f64>().abs() < 1e-9);
    assert!((f.model.coef[3] - f.model.coef[2] - fr.model.coef[2]).abs() < 1e-9);
}

#[test]
fn rank_deficient_least_squares_is_the_pseudoinverse_solution() {
    let mut rng = Rng(8);
    let x = rows(60, || {
        let a: Vec<f64> = (0..5).map(|_| rng.normal()).collect();
        // Three dependent columns, in other units than the ones they derive from.
        let mut r = vec![a[0], 50.0 * a[1], a[2], 0.01 * a[3], a[4]];
        r.extend([a[0] + 2.0 * a[1], 3.0 * a[2] - 0.5, a[3] - a[4] + a[0]]);
        r
    });
    let y = target(
        &mut rng,
        &x,
        1.0,
        &[1.0, 0.1, -2.0, 30.0, 0.5, 0.0, 0.0, 0.0],
        1.0,
    );
    let f = ols(&x, &y);
    assert_eq!(f.rank, 5);
    // Reference: pinv(Xc) yc by an SVD of the centred design.
    let (data, mean) = linfa_data(&x, &y, true);
    let xc = nalgebra::DMatrix::from_fn(60, 8, |i, j| data.records()[(i, j)]);
    let y_mean = y.iter().sum::<f64>() / 60.0;
    let yc = nalgebra::DVector::from_iterator(60, y.iter().map(|v| v - y_mean));
    let w = xc.svd(true, true).solve(&yc, 1e-9).unwrap();
    let d = max_diff(&f.model.coef, w.as_slice());
    let intercept = y_mean - w.iter().zip(&mean).map(|(a, b)| a * b).sum::<f64>();
    eprintln!("minimum norm vs SVD pseudoinverse: coef {d:e}");
    assert!(d < 1e-9 && (f.model.intercept - intercept).abs() < 1e-9);
}

#[test]
fn penalized_fits_match_linfa_elasticnet() {
    let mut rng = Rng(4);
    let mut x = features(&mut rng, 150, 5);
    // Not standardized: the penalty must see raw units.
    x.iter_mut().for_each(|r| r[1] = 3.0 * r[1] + 2.0);
    let y = target(&mut rng, &x, 10.0, &[1.0, 0.5, 0.0, -0.05, 2.0], 1.0);
    // linfa-elasticnet's intercept is the mean of y alone: give it centred features.
    let (data, mean) = linfa_data(&x, &y, true);
    let y_mean = y.iter().sum::<f64>() / y.len() as f64;
    let cases = [
        (Ridge, 0.7, 0.0),
        (Lasso, 0.1, 1.0),
        (ElasticNet, 0.2, 0.3),
        (ElasticNet, 0.05, 0.9),
    ];
    for (algorithm, alpha, l1_ratio) in cases {
        let f = fit_rows(&x, &y, &spec(algorithm, alpha, l1_ratio)).unwrap();
        let theirs = linfa_elasticnet::ElasticNet::<f64>::params()
            .penalty(alpha)
            .l1_ratio(l1_ratio)
            .tolerance(1e-12)
            // Its duality gap is meaningless without an L1 part: ridge runs them all.
            .max_iterations(if l1_ratio > 0.0 { 100_000 } else { 3_000 })
            .fit(&data)
            .unwrap();
        let w = theirs.hyperplane().to_vec();
        let b = y_mean - mean.iter().zip(&w).map(|(m, v)| m * v).sum::<f64>();
        let (dw, db) = (max_diff(&f.model.coef, &w), (f.model.intercept - b).abs());
        let name = algorithm.name();
        let sweeps = f.iterations;
        eprintln!("{name} {alpha} {l1_ratio}: coef {dw:e} intercept {db:e} sweeps {sweeps}");
        assert!(dw < 1e-6 && db < 1e-6, "{f:?} vs {w:?} {b}");
        assert!(f.converged && f.rank == 5);
        if algorithm == Lasso {
            assert_eq!((f.model.coef[3], w[3]), (0.0, 0.0));
        }
    }
}

#[test]
fn coordinate_descent_reports_sweeps() {
    let mut rng = Rng(5);
    let x = features(&mut rng, 50, 3);
    let y = target(&mut rng, &x, 1.0, &[1.0, 2.0, 3.0], 1.0);
    let mut s = spec(ElasticNet, 0.01, 0.5);
    s.max_iter = 1;
    let f = fit_rows(&x, &y, &s).unwrap();
    assert_eq!((f.iterations, f.converged), (1, false));
    // A penalty above max |q| zeroes everything: the model is the mean.
    let f = fit_rows(&x, &y, &spec(Lasso, 1e3, 1.0)).unwrap();
    assert_eq!(f.model.coef, vec![0.0; 3]);
    assert!((f.model.intercept - y.iter().sum::<f64>() / 50.0).abs() < 1e-12);
    assert!(f.converged && f.iterations == 1);
    // Interrupts are checked every sweep.
    let calls = Cell::new(0);
    (s.max_iter, s.tol) = (40, 1e-300);
    let f = fit(&gram_of(&x, &y, 3, 0.0), &s, &|| calls.set(calls.get() + 1)).unwrap();
    assert!(f.iterations == 40 && calls.get() >= 40);
}

#[test]
fn penalized_fits_survive_degenerate_columns() {
    let mut rng = Rng(6);
    let x = rows(40, || {
        let a = rng.normal();
        vec![a, 0.0, a, 7.0, rng.normal()]
    });
    let y = target(&mut rng, &x, 2.0, &[1.0, 0.0, 1.0, 0.0, -1.0], 1.0);
    for (algorithm, alpha, l1) in [
        (Ridge, 0.1, 0.0),
        (Ridge, 1e-300, 0.0),
        (Lasso, 0.05, 1.0),
        (ElasticNet, 0.1, 0.5),
    ] {
        let f = fit_rows(&x, &y, &spec(algorithm, alpha, l1)).unwrap();
        let c = &f.model.coef;
        assert_eq!((c[1], c[3]), (0.0, 0.0), "{algorithm:?}");
        // A vanishing ridge penalty falls back to least squares and its rank.
        assert_eq!(f.rank, if alpha < 1e-200 { 2 } else { 3 });
        assert!(f.converged);
        if l1 < 1.0 {
            // The L2 part splits the weight of identical columns evenly.
            assert!((c[0] - c[2]).abs() < 1e-9, "{c:?}");
        }
    }
}

#[test]
fn too_few_rows_and_bad_penalties_are_errors() {
    let linear = spec(Linear, 0.0, 0.0);
    for n in [0, 1] {
        let g = gram_of(&vec![vec![1.0]; n], &vec![1.0; n], 1, 0.0);
        let Err(PipelineError::TooFewRows { detail }) = fit(&g, &linear, &|| {}) else {
            panic!("{n} rows fitted");
        };
        assert!(detail.starts_with(&format!("{n} rows")), "{detail}");
    }
    let (x, y) = (
        vec![vec![1.0, 2.0], vec![2.0, 1.0], vec![3.0, 5.0]],
        [1.0, 2.0, 4.0],
    );
    for alpha in [f64::NAN, -1.0, f64::INFINITY] {
        let err = fit_rows(&x, &y, &spec(Ridge, alpha, 0.0)).unwrap_err();
        assert!(matches!(err, PipelineError::InvalidParams { .. }));
    }
}

#[test]
fn degenerate_widths_and_predictions() {
    // No features, or none that varies: the model is the mean of y.
    let g = gram_of(&[vec![], vec![], vec![]], &[1.0, 2.0, 6.0], 0, 0.0);
    let f = fit(&g, &spec(Lasso, 1.0, 1.0), &|| {}).unwrap();
    assert_eq!((f.model.intercept, f.model.coef.len(), f.rank), (3.0, 0, 0));
    let f = ols(&[vec![2.0, 0.0], vec![2.0, 0.0]], &[1.0, 2.0]);
    assert_eq!(
        (f.model.intercept, &f.model.coef[..], f.rank),
        (1.5, &[0.0; 2][..], 0)
    );
    // More columns than rows: an interpolating minimum-norm solution.
    let f = ols(&[vec![1.0, 2.0, 3.0], vec![2.0, 0.0, 1.0]], &[1.0, 5.0]);
    assert_eq!(f.rank, 1);
    assert!((f.model.predict_dense(&[1.0, 2.0, 3.0]) - 1.0).abs() < 1e-9);

    let m = LinearModel {
        intercept: 0.5,
        coef: vec![1.0, -2.0, 4.0],
    };
    assert_eq!(m.predict_sparse(&[(0, 3.0), (2, 0.25)]), 4.5);
    assert_eq!(m.predict_dense(&[3.0, 0.0, 0.25]), 4.5);
    let back: LinearModel = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert_eq!(back, m);
}
