//! End-to-end tests of the core: synthetic data through `train`, artifacts through bytes.
//!
//! Every expected number is computed here from the data (direct means, hand-built designs
//! fitted by linfa, closed-form variances), never copied from an earlier run.

use std::cell::Cell;

use linfa::traits::Fit;
use linfa::Dataset;
use ndarray::{Array1, Array2, Axis};
use serde_json::{json, Value};

use super::artifact::FittedPipeline;
use super::column::{CodeBuilder, ColumnKind, ColumnValues, InputColumn, TrainingData};
use super::error::{PipelineError, Result};
use super::params::TrainParams;
use super::split::{split_rows, SplitMix64};
use super::train::{score, train, TrainConfig, TrainOutcome};
use super::transform::{fit_features, Feature, RowEncoder, Transform};

mod artifact;
mod row_passes;

const LEVELS: [&str; 3] = ["a", "b", "c"];
const EFFECT: [f64; 3] = [0.0, 4.0, -1.0];

struct Rng(SplitMix64);

impl Rng {
    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.0.next_f64()
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (1.0 - self.0.next_f64(), self.0.next_f64());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
    fn below(&mut self, n: u64) -> usize {
        (self.0.next_u64() % n) as usize
    }
}

fn rng(seed: u64) -> Rng {
    Rng(SplitMix64::new(seed))
}

fn column(name: &str, kind: ColumnKind, values: ColumnValues) -> InputColumn {
    let (name, sql_type) = (name.into(), format!("{kind:?}"));
    InputColumn {
        name,
        sql_type,
        kind,
        values,
    }
}

fn numeric(name: &str, v: Vec<f64>) -> InputColumn {
    column(name, ColumnKind::Numeric, ColumnValues::Numbers(v))
}

fn boolean(name: &str, v: &[Option<bool>]) -> InputColumn {
    let v = v.iter().map(|b| b.map_or(f64::NAN, f64::from)).collect();
    column(name, ColumnKind::Boolean, ColumnValues::Numbers(v))
}

fn text(name: &str, v: &[Option<&str>]) -> InputColumn {
    let mut b = CodeBuilder::default();
    v.iter().for_each(|v| b.push(*v).unwrap());
    column(name, ColumnKind::Categorical, b.finish())
}

fn dataset(columns: Vec<InputColumn>, target: Vec<f64>) -> TrainingData {
    TrainingData {
        columns,
        target_name: "y".into(),
        target,
        n_skipped: 0,
    }
}

fn config(algorithm: &str, params: Value, test_frac: f64, seed: u64) -> TrainConfig {
    let params = TrainParams::from_json(algorithm, &params).unwrap();
    TrainConfig {
        test_frac,
        seed,
        params,
    }
}

fn run(data: &TrainingData, cfg: &TrainConfig) -> TrainOutcome {
    train(data, cfg, &|| {}).unwrap()
}

fn predict(p: &FittedPipeline, data: &TrainingData) -> Vec<f64> {
    let enc = RowEncoder::new(&p.features, &data.columns).unwrap();
    let mut buf = Vec::new();
    let mut one = |r| {
        enc.encode(r, &mut buf);
        p.model.predict_sparse(&buf)
    };
    (0..data.n_rows()).map(&mut one).collect()
}

fn standardize(f: &Feature) -> (f64, f64) {
    match f.transform {
        Transform::Standardize { mean, scale } => (mean, scale),
        _ => panic!("{f:?}"),
    }
}

fn one_hot(levels: &[&str]) -> Transform {
    let levels = levels.iter().map(|l| l.to_string()).collect();
    Transform::OneHot { levels }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn population_sd(v: &[f64]) -> f64 {
    let m = mean(v);
    let ss: f64 = v.iter().map(|x| (x - m) * (x - m)).sum();
    (ss / v.len() as f64).sqrt()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (u, v)| m.max((u - v).abs()))
}

#[track_caller]
fn assert_near(got: f64, want: f64, tol: f64) {
    let d = (got - want).abs();
    assert!(d <= tol, "{got} is {d:e} from {want}, over {tol:e}");
}

/// [rmse, mae, r2], computed directly.
fn direct_metrics(actual: &[f64], pred: &[f64]) -> [f64; 3] {
    let err: Vec<f64> = actual.iter().zip(pred).map(|(a, p)| a - p).collect();
    let (n, m) = (actual.len() as f64, mean(actual));
    let sse: f64 = err.iter().map(|e| e * e).sum();
    let sae: f64 = err.iter().map(|e| e.abs()).sum();
    let sst: f64 = actual.iter().map(|a| (a - m) * (a - m)).sum();
    [(sse / n).sqrt(), sae / n, 1.0 - sse / sst]
}

/// The elements of `v` whose `mask` entry equals `want`.
fn pick<T: Clone>(v: &[T], mask: &[bool], want: bool) -> Vec<T> {
    let kept = v.iter().zip(mask).filter(|(_, &m)| m == want);
    kept.map(|(x, _)| x.clone()).collect()
}

/// y = 3 + 2 x1 - 0.5 x2 + EFFECT[cat] + noise * N(0, 1); x1 ~ U(-3, 7), x2 ~ N(2, 5²),
/// cat is a, b, c with probabilities 1/2, 1/3, 1/6.
#[derive(Default)]
struct Linear {
    x1: Vec<f64>,
    x2: Vec<f64>,
    cat: Vec<usize>,
    y: Vec<f64>,
}

fn formula(x1: f64, x2: f64, effect: f64) -> f64 {
    3.0 + 2.0 * x1 - 0.5 * x2 + effect
}

fn linear_rows(n: usize, noise: f64, seed: u64) -> Linear {
    let (mut r, mut l) = (rng(seed), Linear::default());
    for _ in 0..n {
        let (x1, x2) = (r.uniform(-3.0, 7.0), 5.0 * r.normal() + 2.0);
        let cat = [0, 0, 0, 1, 1, 2][r.below(6)];
        l.y.push(formula(x1, x2, EFFECT[cat]) + noise * r.normal());
        l.x1.push(x1);
        l.x2.push(x2);
        l.cat.push(cat);
    }
    l
}

fn cat_column(cat: &[usize]) -> InputColumn {
    let v: Vec<_> = cat.iter().map(|&c| Some(LEVELS[c])).collect();
    text("cat", &v)
}

fn linear_data(l: &Linear) -> TrainingData {
    let x1 = numeric("x1", l.x1.clone());
    let x2 = numeric("x2", l.x2.clone());
    dataset(vec![x1, x2, cat_column(&l.cat)], l.y.clone())
}

/// Dense rows `[x1, x2, cat=b, cat=c]`: full rank, reference coding without level a.
fn reduced_design(l: &Linear) -> Vec<Vec<f64>> {
    let ind = |i: usize, k: usize| f64::from(u8::from(l.cat[i] == k));
    let row = |i| vec![l.x1[i], l.x2[i], ind(i, 1), ind(i, 2)];
    (0..l.y.len()).map(row).collect()
}

/// linfa-linear least squares on (x, y): predictions for `eval`, and the coefficients.
fn linfa_ols(x: &[Vec<f64>], y: &[f64], eval: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let xa = Array2::from_shape_fn((x.len(), x[0].len()), |(i, j)| x[i][j]);
    let data = Dataset::new(xa, Array1::from(y.to_vec()));
    let m = linfa_linear::LinearRegression::new().fit(&data).unwrap();
    let dot = |r: &[f64]| r.iter().zip(m.params()).map(|(a, b)| a * b).sum::<f64>();
    let pred = eval.iter().map(|r| m.intercept() + dot(r)).collect();
    (pred, m.params().to_vec())
}

#[test]
fn exact_linear_relation_with_a_category() {
    let l = linear_rows(200, 0.0, 1);
    let out = run(&linear_data(&l), &config("linear", json!({}), 0.25, 7));
    assert_eq!((out.test.n, out.split.n_train), (50, 150));
    assert_near(out.test.rmse, 0.0, 1e-9);
    assert_near(out.train_rmse, 0.0, 1e-9);
    assert_near(out.test.r2, 1.0, 1e-12);
    assert!(out.baseline_rmse > 1.0);
    // x1, x2 and two contrasts of three levels; encoded: 2 + (3 levels + NULL + other).
    assert_eq!((out.n_encoded, out.rank, out.converged), (7, 4, true));
    // In standardized units a weight is the slope times the population sd over all rows.
    let w = &out.pipeline.model.coef;
    assert_near(w[0], 2.0 * population_sd(&l.x1), 1e-9);
    assert_near(w[1], -0.5 * population_sd(&l.x2), 1e-9);

    // New rows far outside the training range, columns in another order, levels interned
    // in another order, an unseen level and a NULL. The last two land in slots never seen
    // in training (weight 0) while the minimum-norm level weights sum to 0: they get the
    // mean effect.
    let (mut r, n) = (rng(99), 20);
    let cats = [Some("c"), Some("a"), Some("zz"), Some("b"), None];
    let x1: Vec<f64> = (0..n).map(|_| r.uniform(-50.0, 50.0)).collect();
    let x2: Vec<f64> = (0..n).map(|_| r.uniform(-50.0, 50.0)).collect();
    let cat: Vec<_> = (0..n).map(|i| cats[i % 5]).collect();
    let (c1, c2) = (numeric("x1", x1.clone()), numeric("x2", x2.clone()));
    let fresh = dataset(vec![text("cat", &cat), c2, c1], vec![0.0; n]);
    let mean_effect = EFFECT.iter().sum::<f64>() / 3.0;
    let effect = |c: Option<&str>| match LEVELS.iter().position(|l| Some(*l) == c) {
        Some(k) => EFFECT[k],
        None => mean_effect,
    };
    let want: Vec<f64> = (0..n)
        .map(|i| formula(x1[i], x2[i], effect(cat[i])))
        .collect();
    let d = max_diff(&predict(&out.pipeline, &fresh), &want);
    assert!(d < 1e-9, "new-row predictions off by {d:e}");
}

#[test]
fn transforms_are_fitted_on_train_rows_only() {
    let (n, frac, seed) = (300, 0.3, 11);
    // The split depends only on (n, test_frac, seed): the data is built around it, with
    // test rows of x near 105 (a fifth NULL) against 5 for train rows, and a level "z"
    // in test rows only.
    let split = split_rows(n, frac, seed).unwrap();
    let mut r = rng(2);
    let (mut x, mut cat) = (Vec::new(), Vec::new());
    for &t in &split.is_test {
        x.push(match (t, r.below(5)) {
            (true, 0) => f64::NAN,
            (true, _) => r.uniform(100.0, 110.0),
            (false, _) => r.uniform(0.0, 10.0),
        });
        let z = t && r.below(2) == 0;
        cat.push(if z { "z" } else { ["a", "a", "b"][r.below(3)] });
    }
    let train_x = pick(&x, &split.is_test, false);
    let train_mean = mean(&train_x);
    // The train-split fit sees a and b only: minimum-norm weights -2 and +2, the unseen
    // "z" gets 0 and hence the mean effect 2. NULL x is imputed with the train mean.
    let effect = |c| match c {
        "a" => 0.0,
        "b" => 4.0,
        _ => 2.0,
    };
    let imputed = |v: f64| if v.is_nan() { train_mean } else { v };
    let y = (0..n).map(|i| 3.0 + 2.0 * imputed(x[i]) + effect(cat[i]));
    let cat_opt: Vec<_> = cat.iter().map(|c| Some(*c)).collect();
    let cols = vec![numeric("x", x.clone()), text("cat", &cat_opt)];
    let data = dataset(cols, y.collect());
    let out = run(&data, &config("linear", json!({}), frac, seed));
    assert_eq!(out.split, split);
    // The all-rows mean (about 33) would miss the NULL rows by about 55.
    assert_near(out.test.rmse, 0.0, 1e-9);

    // The train-split transforms, fitted with the split's mask as train() does.
    let fitted = fit_features(&data.columns, 32, &|r| !split.is_test[r]).unwrap();
    let (m, scale) = standardize(&fitted.features[0]);
    assert_near(m, train_mean, 1e-12);
    assert_near(scale, population_sd(&train_x), 1e-12);
    let train_cat = pick(&cat, &split.is_test, false);
    let count = |l: &str| train_cat.iter().filter(|c| **c == l).count();
    assert!(count("a") > count("b"));
    let f = &fitted.features[1];
    assert_eq!(f.transform, one_hot(&["a", "b"]));
    assert_eq!((f.slot_of(Some("z")), f.slot_of(None)), (3, 2));

    // The refit pipeline uses every row: the all-rows mean, and "z" is a level.
    let all_x: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
    let (m, _) = standardize(&out.pipeline.features[0]);
    assert_near(m, mean(&all_x), 1e-9);
    assert!((m - train_mean).abs() > 20.0, "{m}");
    let mut levels = ["a", "b", "z"];
    let count = |l: &&str| cat.iter().filter(|c| *c == l).count();
    levels.sort_by_key(|l| (std::cmp::Reverse(count(l)), *l));
    assert_eq!(out.pipeline.features[1].transform, one_hot(&levels));
}

/// 17 rows with NULLs in every column. Text counts: d 5, a/b/c 3 each, e 1, NULL 2,
/// interned in the order c b a d e.
fn imputation_data() -> TrainingData {
    let t = "c b a d e - d c a d b - d a c b d".split(' ');
    let txt: Vec<_> = t.map(|s| Some(s).filter(|s| *s != "-")).collect();
    let nulls = [1, 4, 9];
    let num = |i: u8| match nulls.contains(&i) {
        true => f64::NAN,
        false => 1.5 * f64::from(i),
    };
    let flag = |i| Some(i % 3 != 1).filter(|_| i % 5 != 2);
    let y = |i: u8| 0.7 * f64::from(i) + f64::from(i % 4);
    let flags: Vec<_> = (0..17).map(flag).collect();
    let cols = vec![
        numeric("num", (0..17).map(num).collect()),
        boolean("flag", &flags),
        text("txt", &txt),
    ];
    dataset(cols, (0..17).map(y).collect())
}

#[test]
fn imputation_and_category_limits() {
    let data = imputation_data();
    let present: Vec<f64> = (0..17u8)
        .filter(|i| ![1, 4, 9].contains(i))
        .map(|i| 1.5 * f64::from(i))
        .collect();
    let (m, sd) = (mean(&present), population_sd(&present));
    let not_null = (0..17).filter(|i| i % 5 != 2);
    let flags: Vec<f64> = not_null.map(|i| f64::from(i % 3 != 1)).collect();

    let fitted = fit_features(&data.columns, 3, &|_| true).unwrap();
    let [num, flag, txt] = &fitted.features[..] else {
        panic!()
    };
    let (fm, scale) = standardize(num);
    assert_near(fm, m, 1e-12);
    assert_near(scale, sd, 1e-12);
    assert_eq!(num.encode_number(f64::NAN), 0.0);
    let fill = flag.encode_number(f64::NAN);
    assert_near(fill, mean(&flags), 1e-15);
    // max_categories 3 keeps d and, of the tied a, b and c, the first two by value.
    assert_eq!(txt.transform, one_hot(&["d", "a", "b"]));
    assert_eq!([num.offset, flag.offset, txt.offset], [0, 1, 2]);
    assert_eq!(fitted.width, 7);
    // Varying num and flag, and 5 slots seen (3 levels, NULL, other) less one.
    assert_eq!(fitted.free_parameters, 6);

    let enc = RowEncoder::new(&fitted.features, &data.columns).unwrap();
    let mut buf = Vec::new();
    let mut row = |r: usize| {
        enc.encode(r, &mut buf);
        buf.clone()
    };
    // Row 1: num NULL (0, omitted), flag false (omitted), txt b (slot 2).
    assert_eq!(row(1), [(2 + 2, 1.0)]);
    // Row 2: num 3, flag NULL (the share of true), txt a (slot 1).
    assert_eq!(row(2), [(0, (3.0 - m) / sd), (1, fill), (2 + 1, 1.0)]);
    // Row 5: txt NULL has its own slot 3; c (row 0) and e (row 4) share "other", slot 4.
    assert_eq!(row(5).last(), Some(&(2 + 3, 1.0)));
    assert_eq!(row(0).last(), Some(&(2 + 4, 1.0)));
    assert_eq!(row(4).last(), Some(&(2 + 4, 1.0)));
    assert_eq!(row(3).last(), Some(&(2, 1.0)));

    // Through train(): max_categories reaches the transform, and the summaries count.
    let params = json!({"max_categories": 3, "alpha": 0.1});
    let out = run(&data, &config("ridge", params, 0.2, 3));
    assert_eq!(out.pipeline.features[2].transform, txt.transform);
    let s = &out.feature_summaries;
    let keys = ["other_count", "null_count", "n_distinct"];
    assert_eq!(keys.map(|k| s[2][k].clone()), [4, 2, 5].map(Value::from));
    let null_fraction = s[0]["null_fraction"].as_f64().unwrap();
    assert_near(null_fraction, 3.0 / 17.0, 1e-15);
}

#[test]
fn collinear_inputs_match_a_reduced_least_squares_fit() {
    let l = linear_rows(120, 0.3, 4);
    let cols = vec![
        numeric("x1", l.x1.clone()),
        numeric("konst", vec![5.0; 120]),
        numeric("x2", l.x2.clone()),
        numeric("x1_copy", l.x1.clone()),
        cat_column(&l.cat),
    ];
    let data = dataset(cols, l.y.clone());
    let out = run(&data, &config("linear", json!({}), 0.25, 5));
    assert_eq!((out.n_encoded, out.rank), (9, 4));

    // Test metrics of the train-split fit against linfa fitted on the train rows.
    let (x, mask) = (reduced_design(&l), &out.split.is_test);
    let (x_train, x_test) = (pick(&x, mask, false), pick(&x, mask, true));
    let (y_train, y_test) = (pick(&l.y, mask, false), pick(&l.y, mask, true));
    let (pred, _) = linfa_ols(&x_train, &y_train, &x_test);
    let want = direct_metrics(&y_test, &pred);
    let got = [out.test.rmse, out.test.mae, out.test.r2];
    assert!(max_diff(&got, &want) < 1e-9, "{got:?} vs {want:?}");
    // The baseline predicts the mean target of the train rows.
    let baseline = vec![mean(&y_train); y_test.len()];
    assert_near(
        out.baseline_rmse,
        direct_metrics(&y_test, &baseline)[0],
        1e-12,
    );

    // Refit predictions on every row against linfa fitted on all rows.
    let (pred, beta) = linfa_ols(&x, &l.y, &x);
    let d = max_diff(&predict(&out.pipeline, &data), &pred);
    assert!(d < 1e-9, "refit predictions differ by {d:e}");
    // The constant gets 0; the copies share x1's weight (in standardized units) equally.
    let w = &out.pipeline.model.coef;
    assert_eq!(w[1], 0.0);
    assert_near(w[0], w[3], 1e-12);
    assert_near((w[0] + w[3]) / population_sd(&l.x1), beta[0], 1e-9);
}

#[test]
fn penalized_fits_match_linfa_elasticnet() {
    let (n, mut r) = (400, rng(5));
    let x1: Vec<f64> = (0..n).map(|_| 3.0 * r.normal() + 10.0).collect();
    let x2: Vec<f64> = (0..n).map(|_| r.uniform(0.0, 100.0)).collect();
    let flag: Vec<bool> = (0..n).map(|_| r.below(3) == 0).collect();
    let cat: Vec<usize> = (0..n).map(|_| [0, 0, 1, 2][r.below(4)]).collect();
    let mut y = Vec::new();
    for i in 0..n {
        let f = if flag[i] { 1.5 } else { 0.0 };
        let e = EFFECT[cat[i]] + r.normal();
        y.push(5.0 + 0.8 * x1[i] - 0.02 * x2[i] + f + e);
    }
    let flags: Vec<_> = flag.iter().map(|&f| Some(f)).collect();
    let (c1, c2) = (numeric("x1", x1.clone()), numeric("x2", x2.clone()));
    let cols = vec![c1, c2, boolean("flag", &flags), cat_column(&cat)];
    let data = dataset(cols, y.clone());
    let (m1, s1) = (mean(&x1), population_sd(&x1));
    let (m2, s2) = (mean(&x2), population_sd(&x2));
    let cases = [("ridge", 0.5, 0.0), ("lasso", 0.05, 1.0)];
    for (algorithm, alpha, l1_ratio) in cases.into_iter().chain([("elastic_net", 0.1, 0.4)]) {
        let mut params = json!({"alpha": alpha, "max_iter": 100_000, "tol": 1e-12});
        if algorithm == "elastic_net" {
            params["l1_ratio"] = json!(l1_ratio);
        }
        let out = run(&data, &config(algorithm, params, 0.2, 9));
        let p = &out.pipeline;
        assert!(out.converged, "{algorithm}");
        for (f, m, s) in [(&p.features[0], m1, s1), (&p.features[1], m2, s2)] {
            let (fm, scale) = standardize(f);
            assert_near(fm, m, 1e-12);
            assert_near(scale, s, 1e-12);
        }
        let Transform::OneHot { levels } = &p.features[3].transform else {
            panic!()
        };

        // The encoded design by hand, without the all-zero NULL and "other" slots, centred
        // since linfa-elasticnet's intercept is only the mean of y.
        let mut xa = Array2::from_shape_fn((n, 6), |(i, j)| match j {
            0 => (x1[i] - m1) / s1,
            1 => (x2[i] - m2) / s2,
            2 => f64::from(u8::from(flag[i])),
            _ => f64::from(u8::from(levels[j - 3] == LEVELS[cat[i]])),
        });
        let col_mean = xa.mean_axis(Axis(0)).unwrap();
        xa -= &col_mean;
        // linfa's duality gap is undefined without an L1 part, so its ridge would run all
        // max_iterations; 1000 sweeps converge the coefficients far below the tolerance.
        let theirs = linfa_elasticnet::ElasticNet::<f64>::params()
            .penalty(alpha)
            .l1_ratio(l1_ratio)
            .tolerance(1e-12)
            .max_iterations(1000)
            .fit(&Dataset::new(xa, Array1::from(y.clone())))
            .unwrap();
        let w = theirs.hyperplane().to_vec();
        let shift: f64 = col_mean.iter().zip(&w).map(|(m, v)| m * v).sum();
        let dw = max_diff(&p.model.coef[..6], &w);
        assert!(dw < 1e-8, "{algorithm}: coefficients differ by {dw:e}");
        assert_near(p.model.intercept, mean(&y) - shift, 1e-8);
        assert_eq!(p.model.coef[6..], [0.0, 0.0]);
    }
}

fn too_few(err: &PipelineError) -> &str {
    match err {
        PipelineError::TooFewRows { detail } => detail,
        _ => panic!("{err:?}"),
    }
}

#[test]
fn errors_name_their_cause() {
    let cfg = |alg: &str, frac: f64| config(alg, json!({}), frac, 1);
    let fails = |d: &_, c: &_| train(d, c, &|| {}).unwrap_err();
    let l = linear_rows(10, 0.1, 6);
    // 3 rows at test_frac 0.1: round(0.3) = 0 test rows.
    let three = dataset(vec![numeric("x1", l.x1[..3].to_vec())], l.y[..3].to_vec());
    let err = fails(&three, &cfg("linear", 0.1));
    assert!(too_few(&err).starts_with("3 rows"), "{err}");
    for frac in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
        let err = fails(&linear_data(&l), &cfg("linear", frac));
        let bad_frac = matches!(err, PipelineError::InvalidTestFraction(_));
        assert!(bad_frac, "{frac}: {err:?}");
    }

    // 10 rows at 0.2 leave 8 train rows; 10 varying columns need 10 + 2 rows for linear.
    let mut r = rng(3);
    let mut random = |j| numeric(&format!("c{j}"), (0..10).map(|_| r.normal()).collect());
    let wide = dataset((0..10).map(&mut random).collect(), l.y.clone());
    let err = fails(&wide, &cfg("linear", 0.2));
    let named = ["8 rows", "10 coefficients", "at least 12"];
    assert!(named.iter().all(|s| too_few(&err).contains(s)), "{err}");
    assert!(train(&wide, &cfg("ridge", 0.2), &|| {}).is_ok());
    // The boundary: 2 varying columns need 4 train rows (5 rows at 0.2), 3 (4 at 0.25) fail.
    let two = |n: usize| {
        let (a, b) = (
            numeric("a", l.x1[..n].to_vec()),
            numeric("b", l.x2[..n].to_vec()),
        );
        dataset(vec![a, b], l.y[..n].to_vec())
    };
    assert!(train(&two(5), &cfg("linear", 0.2), &|| {}).is_ok());
    let err = fails(&two(4), &cfg("linear", 0.25));
    let want = "3 rows to fit 2 coefficients";
    assert!(too_few(&err).starts_with(want), "{err}");

    // Unusable values, misaligned columns, too wide designs, mismatched columns at scoring.
    let infinite = [1.0, f64::INFINITY, 2.0, 3.0, 4.0];
    for bad in [infinite, [1e308, -1e308, 0.0, 1.0, 2.0]] {
        let d = dataset(vec![numeric("v", bad.to_vec())], l.y[..5].to_vec());
        let err = fails(&d, &cfg("ridge", 0.2));
        let column = match &err {
            PipelineError::NonFiniteValue { column, .. } => column,
            _ => panic!("{err:?}"),
        };
        assert_eq!(column, "v");
    }
    let short = dataset(vec![numeric("v", vec![1.0; 9])], l.y.clone());
    let err = fails(&short, &cfg("ridge", 0.2));
    assert!(matches!(err, PipelineError::SolverFailed { .. }), "{err:?}");
    // 1040 train rows of 1300 distinct values keep 1024 levels, 1026 slots, per column.
    let names: Vec<String> = (0..1300).map(|i| format!("v{i}")).collect();
    let many: Vec<_> = names.iter().map(|s| Some(s.as_str())).collect();
    let cols = (0..3).map(|j| text(&format!("t{j}"), &many)).collect();
    let d = dataset(cols, (0..1300u32).map(f64::from).collect());
    let wide_cfg = config("ridge", json!({"max_categories": 1024}), 0.2, 1);
    let (columns, limit) = (3078, 2048);
    let err = PipelineError::TooManyFeatures { columns, limit };
    assert_eq!(fails(&d, &wide_cfg), err);
    let out = run(&linear_data(&l), &cfg("ridge", 0.2));
    let mut other = linear_data(&l);
    other.columns.remove(1);
    let err = score(&out.pipeline, &other, &|_| true, &|| {}).unwrap_err();
    assert_eq!(err, PipelineError::MissingFeature("x2".into()));
    other.columns[0] = text("x1", &[Some("1"); 10]);
    let err = score(&out.pipeline, &other, &|_| true, &|| {}).unwrap_err();
    let mismatch = matches!(err, PipelineError::BadFeatureValue { .. });
    assert!(mismatch, "{err:?}");

    // Parameter errors list the valid keys.
    let bad = [
        ("ridge", json!({"alpah": 1})),
        ("lasso", json!({"l1_ratio": 0.5})),
        ("elastic_net", json!({"l1_ratio": 1.5})),
        ("linear", json!({"alpha": 0.1})),
        ("linear", json!({"max_categories": 1025})),
        ("linear", json!(null)),
    ];
    for (alg, params) in bad {
        let err = TrainParams::from_json(alg, &params).unwrap_err();
        let PipelineError::InvalidParams { valid_keys, .. } = err else {
            panic!("{alg} {params}: {err:?}")
        };
        assert!(valid_keys.contains("max_categories"));
    }
    let err = TrainParams::from_json("forest", &json!({})).unwrap_err();
    assert!(matches!(err, PipelineError::UnknownAlgorithm { .. }));
}

#[test]
fn same_seed_replays_and_other_seeds_differ() {
    let data = linear_data(&linear_rows(500, 0.5, 8));
    let enet = config("elastic_net", json!({"alpha": 0.01}), 0.2, 42);
    let (a, b) = (run(&data, &enet), run(&data, &enet));
    assert_eq!((&a.split, a.test), (&b.split, b.test));
    assert_eq!(a.pipeline, b.pipeline);
    let bits = |o: &TrainOutcome| [o.train_rmse, o.baseline_rmse].map(f64::to_bits);
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(a.iterations, b.iterations);
    assert_eq!(a.feature_summaries, b.feature_summaries);
    let linear = |s| run(&data, &config("linear", json!({}), 0.2, s));
    let runs: Vec<TrainOutcome> = (1..=4).map(linear).collect();
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(r.split.n_test, 100);
        for q in &runs[i + 1..] {
            assert_ne!(r.split.is_test, q.split.is_test);
            assert_ne!(r.test.rmse, q.test.rmse);
        }
    }
}

#[test]
fn metrics_of_a_noisy_relation() {
    let (n, sd) = (20_000, 0.5);
    let data = linear_data(&linear_rows(n, sd, 10));
    let calls = Cell::new(0u32);
    let count = || calls.set(calls.get() + 1);
    let out = train(&data, &config("linear", json!({}), 0.2, 77), &count).unwrap();
    // Var(y) = 4 Var(U(-3, 7)) + 0.25 * 5² + Var(effect) + sd², the effect being 0, 4 and -1
    // with probabilities 1/2, 1/3 and 1/6.
    let (e1, e2) = (4.0 / 3.0 - 1.0 / 6.0, 16.0 / 3.0 + 1.0 / 6.0);
    let var_y = 4.0 * 100.0 / 12.0 + 0.25 * 25.0 + (e2 - e1 * e1) + sd * sd;
    let t = &out.test;
    assert_eq!(t.n, 4000);
    assert_near(t.rmse, sd, 0.1 * sd);
    assert_near(out.train_rmse, sd, 0.05 * sd);
    // E|N(0, sd²)| = sd * sqrt(2 / pi).
    let mae = sd * (2.0 / std::f64::consts::PI).sqrt();
    assert_near(t.mae, mae, 0.1 * mae);
    assert_near(out.baseline_rmse, var_y.sqrt(), 0.05 * var_y.sqrt());
    assert!(out.baseline_rmse > 10.0 * t.rmse);
    assert_near(t.r2, 1.0 - sd * sd / var_y, 0.003);
    // Four passes over the rows each check the interrupt at rows 0 and 16384.
    assert!(calls.get() >= 8, "{} interrupt checks", calls.get());
    let stages: Vec<&str> = out.timings.iter().map(|t| t.0).collect();
    assert_eq!(
        stages,
        [
            "split_ms",
            "statistics_ms",
            "fit_ms",
            "evaluate_ms",
            "refit_ms"
        ]
    );
}
