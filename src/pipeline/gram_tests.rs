//! Tests of the Gram statistics: sums, merge, projection and the row forms.

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
fn projection_equals_mapped_rows() {
    let mut rng = Rng(5);
    let (x, y) = random_rows(&mut rng, 50, 4);
    let maps = vec![
        Affine {
            constant: 1.5,
            terms: vec![(0, 2.0), (3, -1.0)],
        },
        Affine {
            constant: 0.0,
            terms: vec![(2, 1.0)],
        },
        Affine::default(),
        Affine {
            constant: -0.25,
            terms: vec![(1, 0.5), (1, 0.5), (0, 1.0)],
        },
    ];
    let mapped: Vec<Vec<f64>> = x
        .iter()
        .map(|r| {
            let value = |m: &Affine| {
                m.constant + m.terms.iter().map(|&(j, v)| v * r[j as usize]).sum::<f64>()
            };
            maps.iter().map(value).collect()
        })
        .collect();
    let direct = gram_of(&mapped, &y, 4, 1.0);
    let projected = gram_of(&x, &y, 4, 1.0).project(&maps, &|| {}).unwrap();
    assert_eq!(projected.n(), 50);
    assert!(max_diff(&projected.sum_x, &direct.sum_x) < 1e-10);
    assert!(max_diff(&projected.xty, &direct.xty) < 1e-10);
    assert!(max_diff(&projected.xtx, &direct.xtx) < 1e-10);
    assert_eq!((projected.sum_y, projected.yty), (direct.sum_y, direct.yty));
    let bad = [Affine {
        constant: 0.0,
        terms: vec![(4, 1.0)],
    }];
    assert!(gram_of(&x, &y, 4, 1.0).project(&bad, &|| {}).is_err());
}

#[test]
fn dense_prefix_rows_equal_sparse_rows() {
    let mut rng = Rng(3);
    let (x, y) = random_rows(&mut rng, 30, 6);
    let sparse_all = gram_of(&x, &y, 6, 0.5);
    let mut prefixed = DensePrefixRows::new(6, 3, 0.5).unwrap();
    for (row, &yi) in x.iter().zip(&y) {
        let rest: Vec<(u32, f64)> = (3..6)
            .filter(|&j| row[j] != 0.0)
            .map(|j| (j as u32, row[j]))
            .collect();
        prefixed.add_row(&row[..3], &rest, yi);
    }
    let prefixed = prefixed.finish();
    assert!(max_diff(&prefixed.xtx, &sparse_all.xtx) < 1e-12);
    assert!(max_diff(&prefixed.xty, &sparse_all.xty) < 1e-12);
    assert!(max_diff(&prefixed.sum_x, &sparse_all.sum_x) < 1e-12);
    assert_eq!(prefixed.n(), 30);
    assert!((prefixed.yty - sparse_all.yty).abs() < 1e-9);
    assert!(DensePrefixRows::new(2, 3, 0.0).is_err());
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
