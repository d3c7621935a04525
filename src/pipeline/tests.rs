//! End-to-end tests of the core: synthetic data through `train`, artifacts through bytes.
//!
//! Every expected number is computed here from the data (direct means, hand-built designs
//! fitted by linfa, closed-form variances), never copied from an earlier run.

use std::cell::Cell;

use linfa::traits::Fit;
use linfa::Dataset;
use ndarray::{Array1, Array2, Axis};
use serde_json::{json, Value};

use super::artifact::{FittedPipeline, FORMAT_VERSION, MAGIC, MAX_ARTIFACT_BYTES};
use super::column::{CodeBuilder, ColumnKind, ColumnValues, InputColumn, TrainingData};
use super::error::PipelineError;
use super::params::TrainParams;
use super::split::{split_rows, SplitMix64};
use super::train::{score, train, TrainConfig, TrainOutcome};
use super::transform::{fit_features, RowEncoder, Transform};

const LEVELS: [&str; 3] = ["a", "b", "c"];
const EFFECT: [f64; 3] = [0.0, 4.0, -1.0];

struct Rng(SplitMix64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(SplitMix64::new(seed))
    }
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

fn column(name: &str, sql_type: &str, kind: ColumnKind, values: ColumnValues) -> InputColumn {
    InputColumn {
        name: name.into(),
        sql_type: sql_type.into(),
        kind,
        values,
    }
}

fn numeric(name: &str, values: Vec<f64>) -> InputColumn {
    column(
        name,
        "float8",
        ColumnKind::Numeric,
        ColumnValues::Numbers(values),
    )
}

fn boolean(name: &str, values: &[Option<bool>]) -> InputColumn {
    let v = values
        .iter()
        .map(|b| b.map_or(f64::NAN, f64::from))
        .collect();
    column(
        name,
        "boolean",
        ColumnKind::Boolean,
        ColumnValues::Numbers(v),
    )
}

fn text(name: &str, values: &[Option<&str>]) -> InputColumn {
    let mut b = CodeBuilder::default();
    values.iter().for_each(|v| b.push(*v).unwrap());
    column(name, "text", ColumnKind::Categorical, b.finish())
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
    (0..data.n_rows())
        .map(|r| {
            enc.encode(r, &mut buf);
            p.model.predict_sparse(&buf)
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn population_sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
}

fn max_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0, |m, (u, v)| m.max((u - v).abs()))
}

/// (rmse, mae, r2) computed directly.
fn direct_metrics(actual: &[f64], pred: &[f64]) -> [f64; 3] {
    let sse: f64 = actual
        .iter()
        .zip(pred)
        .map(|(a, p)| (a - p) * (a - p))
        .sum();
    let sae: f64 = actual.iter().zip(pred).map(|(a, p)| (a - p).abs()).sum();
    let m = mean(actual);
    let sst: f64 = actual.iter().map(|a| (a - m) * (a - m)).sum();
    let n = actual.len() as f64;
    [(sse / n).sqrt(), sae / n, 1.0 - sse / sst]
}

fn pick<T: Clone>(v: &[T], mask: &[bool], want: bool) -> Vec<T> {
    v.iter()
        .zip(mask)
        .filter(|(_, &m)| m == want)
        .map(|(x, _)| x.clone())
        .collect()
}

fn corrupt<T: std::fmt::Debug>(r: super::error::Result<T>) -> bool {
    matches!(r, Err(PipelineError::CorruptArtifact(_)))
}

/// y = 3 + 2 x1 - 0.5 x2 + EFFECT[cat] + noise * N(0, 1); cat is a 1/2, b 1/3, c 1/6.
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
    let mut rng = Rng::new(seed);
    let mut l = Linear {
        x1: vec![],
        x2: vec![],
        cat: vec![],
        y: vec![],
    };
    for _ in 0..n {
        let (x1, x2) = (rng.uniform(-3.0, 7.0), 5.0 * rng.normal() + 2.0);
        let cat = [0, 0, 0, 1, 1, 2][rng.below(6)];
        l.y.push(formula(x1, x2, EFFECT[cat]) + noise * rng.normal());
        l.x1.push(x1);
        l.x2.push(x2);
        l.cat.push(cat);
    }
    l
}

fn cat_column(cat: &[usize]) -> InputColumn {
    let v: Vec<Option<&str>> = cat.iter().map(|&c| Some(LEVELS[c])).collect();
    text("cat", &v)
}

fn linear_data(l: &Linear) -> TrainingData {
    let cols = vec![
        numeric("x1", l.x1.clone()),
        numeric("x2", l.x2.clone()),
        cat_column(&l.cat),
    ];
    dataset(cols, l.y.clone())
}

/// Dense rows `[x1, x2, cat=b, cat=c]`: full rank, reference coding without level a.
fn reduced_design(l: &Linear) -> Vec<Vec<f64>> {
    let ind = |c: usize, k: usize| f64::from(u8::from(c == k));
    (0..l.y.len())
        .map(|i| vec![l.x1[i], l.x2[i], ind(l.cat[i], 1), ind(l.cat[i], 2)])
        .collect()
}

fn to_array(x: &[Vec<f64>]) -> Array2<f64> {
    Array2::from_shape_fn((x.len(), x[0].len()), |(i, j)| x[i][j])
}

/// linfa-linear least squares on (x, y), predicting `eval`; also returns the coefficients.
fn linfa_ols(x: &[Vec<f64>], y: &[f64], eval: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
    let m = linfa_linear::LinearRegression::new()
        .fit(&Dataset::new(to_array(x), Array1::from(y.to_vec())))
        .unwrap();
    let dot = |r: &Vec<f64>| r.iter().zip(m.params()).map(|(a, b)| a * b).sum::<f64>();
    (
        eval.iter().map(|r| m.intercept() + dot(r)).collect(),
        m.params().to_vec(),
    )
}

#[test]
fn exact_linear_relation_with_a_category() {
    let l = linear_rows(200, 0.0, 1);
    let data = linear_data(&l);
    let out = run(&data, &config("linear", json!({}), 0.25, 7));
    assert_eq!(
        (out.test.n, out.split.n_train, out.split.n_test),
        (50, 150, 50)
    );
    assert!(
        out.test.rmse < 1e-9 && out.train_rmse < 1e-9,
        "{} {}",
        out.test.rmse,
        out.train_rmse
    );
    assert!((out.test.r2 - 1.0).abs() < 1e-12 && out.test.mae < 1e-9);
    assert!(out.baseline_rmse > 1.0);
    // x1, x2 and two independent contrasts of three levels; 2 + (3 + 2) encoded columns.
    assert_eq!((out.n_encoded, out.rank, out.converged), (7, 4, true));
    // In standardized units x1's weight is 2 times its population sd over all rows.
    let w = &out.pipeline.model.coef;
    assert!((w[0] - 2.0 * population_sd(&l.x1)).abs() < 1e-9, "{}", w[0]);
    assert!((w[1] + 0.5 * population_sd(&l.x2)).abs() < 1e-9, "{}", w[1]);

    // New rows far outside the training range, levels interned in another order, an unseen
    // level and a NULL. The last two land in slots never seen in training (weight 0) and
    // the minimum-norm level weights sum to 0, so they get the mean effect.
    let mut rng = Rng::new(99);
    let cats = [Some("c"), Some("a"), Some("zz"), Some("b"), None];
    let n = 20;
    let x1: Vec<f64> = (0..n).map(|_| rng.uniform(-50.0, 50.0)).collect();
    let x2: Vec<f64> = (0..n).map(|_| rng.uniform(-50.0, 50.0)).collect();
    let cat: Vec<Option<&str>> = (0..n).map(|i| cats[i % 5]).collect();
    let cols = vec![
        text("cat", &cat),
        numeric("x2", x2.clone()),
        numeric("x1", x1.clone()),
    ];
    let fresh = dataset(cols, vec![0.0; n]);
    let mean_effect = EFFECT.iter().sum::<f64>() / 3.0;
    let want: Vec<f64> = (0..n)
        .map(|i| {
            let e = LEVELS
                .iter()
                .position(|l| Some(*l) == cat[i])
                .map_or(mean_effect, |k| EFFECT[k]);
            formula(x1[i], x2[i], e)
        })
        .collect();
    let d = max_diff(&predict(&out.pipeline, &fresh), &want);
    assert!(d < 1e-9, "new-row predictions off by {d:e}");
}

#[test]
fn transforms_are_fitted_on_train_rows_only() {
    let (n, frac, seed) = (300, 0.3, 11);
    // The split depends only on (n, test_frac, seed), so the data can be built around it.
    let split = split_rows(n, frac, seed).unwrap();
    let mut rng = Rng::new(2);
    let (mut x, mut cat) = (Vec::new(), Vec::new());
    for &t in &split.is_test {
        x.push(match (t, rng.below(5)) {
            (true, 0) => f64::NAN,
            (true, _) => rng.uniform(100.0, 110.0),
            (false, _) => rng.uniform(0.0, 10.0),
        });
        cat.push(if t && rng.below(2) == 0 {
            "z"
        } else {
            ["a", "a", "b"][rng.below(3)]
        });
    }
    let train_x = pick(&x, &split.is_test, false);
    let train_mean = mean(&train_x);
    // The train-split fit sees a and b only: the minimum-norm weights are -2 and +2, the
    // unseen "z" gets 0 and hence the mean effect 2. NULL x is imputed with the train mean.
    let effect = |c: &str| match c {
        "a" => 0.0,
        "b" => 4.0,
        _ => 2.0,
    };
    let y: Vec<f64> = (0..n)
        .map(|i| 3.0 + 2.0 * if x[i].is_nan() { train_mean } else { x[i] } + effect(cat[i]))
        .collect();
    let cat_opt: Vec<Option<&str>> = cat.iter().map(|c| Some(*c)).collect();
    let data = dataset(vec![numeric("x", x.clone()), text("cat", &cat_opt)], y);
    let out = run(&data, &config("linear", json!({}), frac, seed));
    assert_eq!(out.split, split);
    // Imputing with the all-rows mean (about 30, not 5) would miss the NULL rows by ~50.
    assert!(out.test.rmse < 1e-9, "test rmse {}", out.test.rmse);

    // The train-split transforms, fitted with the split's mask as train() does.
    let fitted = fit_features(&data.columns, 32, &|r| !split.is_test[r]).unwrap();
    let Transform::Standardize { mean: m, scale } = fitted.features[0].transform else {
        panic!("{:?}", fitted.features[0])
    };
    assert!((m - train_mean).abs() < 1e-12 && (scale - population_sd(&train_x)).abs() < 1e-12);
    let train_cat = pick(&cat, &split.is_test, false);
    let count = |l: &str| train_cat.iter().filter(|c| **c == l).count();
    assert!(count("a") > count("b"));
    let f = &fitted.features[1];
    assert_eq!(
        f.transform,
        Transform::OneHot {
            levels: vec!["a".into(), "b".into()]
        }
    );
    assert_eq!((f.slot_of(Some("z")), f.slot_of(None)), (3, 2));
    let z_row = cat.iter().position(|c| *c == "z").unwrap();
    let mut buf = Vec::new();
    RowEncoder::new(&fitted.features, &data.columns)
        .unwrap()
        .encode(z_row, &mut buf);
    assert_eq!(buf.last(), Some(&(1 + 3, 1.0)));

    // The refit pipeline uses every row: the all-rows mean, and "z" is a level.
    let all_x: Vec<f64> = x.iter().copied().filter(|v| !v.is_nan()).collect();
    let Transform::Standardize { mean: m, .. } = out.pipeline.features[0].transform else {
        panic!()
    };
    assert!(
        (m - mean(&all_x)).abs() < 1e-9 && (m - train_mean).abs() > 10.0,
        "{m}"
    );
    let Transform::OneHot { levels } = &out.pipeline.features[1].transform else {
        panic!()
    };
    assert!(levels.iter().any(|l| l == "z"), "{levels:?}");
}

/// 17 rows: NULLs in every column; text counts d 5, a/b/c 3, e 1, NULL 2, interned c b a d e.
fn imputation_data() -> TrainingData {
    let t = [
        "c", "b", "a", "d", "e", "", "d", "c", "a", "d", "b", "", "d", "a", "c", "b", "d",
    ];
    let txt: Vec<Option<&str>> = t
        .iter()
        .map(|s| Some(*s).filter(|s| !s.is_empty()))
        .collect();
    let num = (0..17).map(|i| {
        if [1, 4, 9].contains(&i) {
            f64::NAN
        } else {
            1.5 * i as f64
        }
    });
    let flag: Vec<Option<bool>> = (0..17)
        .map(|i| if i % 5 == 2 { None } else { Some(i % 3 != 1) })
        .collect();
    let y = (0..17i32)
        .map(|i| f64::from(i) * 0.7 + f64::from(i % 4))
        .collect();
    dataset(
        vec![
            numeric("num", num.collect()),
            boolean("flag", &flag),
            text("txt", &txt),
        ],
        y,
    )
}

#[test]
fn imputation_and_category_limits() {
    let data = imputation_data();
    let nums = match &data.columns[0].values {
        ColumnValues::Numbers(v) => v.clone(),
        _ => unreachable!(),
    };
    let present: Vec<f64> = nums.iter().copied().filter(|v| !v.is_nan()).collect();
    let (m, sd) = (mean(&present), population_sd(&present));
    let flags: Vec<f64> = (0..17)
        .filter(|i| i % 5 != 2)
        .map(|i| f64::from(i % 3 != 1))
        .collect();
    let share_true = mean(&flags);

    let fitted = fit_features(&data.columns, 3, &|_| true).unwrap();
    let [num, flag, txt] = &fitted.features[..] else {
        panic!()
    };
    let Transform::Standardize { mean: fm, scale } = num.transform else {
        panic!()
    };
    assert!((fm - m).abs() < 1e-12 && (scale - sd).abs() < 1e-12);
    assert_eq!(num.encode_number(f64::NAN), 0.0);
    let Transform::Binary { fill } = flag.transform else {
        panic!()
    };
    assert!((fill - share_true).abs() < 1e-15, "{fill} vs {share_true}");
    // Ties among a, b and c (3 each) are broken by value, whatever the interning order.
    assert_eq!(
        txt.transform,
        Transform::OneHot {
            levels: vec!["d".into(), "a".into(), "b".into()]
        }
    );
    assert_eq!(
        (num.offset, flag.offset, txt.offset, fitted.width),
        (0, 1, 2, 7)
    );
    // varying num, varying flag, and 5 slots seen (3 levels, NULL, other) minus one.
    assert_eq!(fitted.free_parameters, 6);

    let enc = RowEncoder::new(&fitted.features, &data.columns).unwrap();
    let mut buf = Vec::new();
    let mut row = |r: usize| {
        enc.encode(r, &mut buf);
        buf.clone()
    };
    // Row 1: num NULL (omitted: 0), flag false, txt b.
    assert_eq!(row(1), vec![(2 + 2, 1.0)]);
    // Row 2: num 3, flag NULL (share of true), txt a.
    assert_eq!(row(2), vec![(0, (3.0 - m) / sd), (1, fill), (2 + 1, 1.0)]);
    // Row 5: txt NULL has its own slot 3; rows 0 (c) and 4 (e) share "other", slot 4.
    assert_eq!(row(5).last(), Some(&(2 + 3, 1.0)));
    assert_eq!(
        (row(0).last(), row(4).last()),
        (Some(&(6, 1.0)), Some(&(6, 1.0)))
    );
    assert_eq!(row(3).last(), Some(&(2, 1.0)));

    // Through train(): max_categories reaches the transform, and the summaries count.
    let out = run(
        &data,
        &config("ridge", json!({"max_categories": 3, "alpha": 0.1}), 0.2, 3),
    );
    assert_eq!(out.pipeline.features[2].transform, txt.transform);
    let s = &out.feature_summaries;
    assert_eq!(
        (s[2]["other_count"].clone(), s[2]["null_count"].clone()),
        (json!(4), json!(2))
    );
    assert_eq!(s[2]["n_distinct"], json!(5));
    assert!((s[0]["null_fraction"].as_f64().unwrap() - 3.0 / 17.0).abs() < 1e-15);
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

    // Test metrics of the train-split fit against linfa on the train rows.
    let x = reduced_design(&l);
    let mask = &out.split.is_test;
    let (x_train, x_test) = (pick(&x, mask, false), pick(&x, mask, true));
    let (y_train, y_test) = (pick(&l.y, mask, false), pick(&l.y, mask, true));
    let (pred, _) = linfa_ols(&x_train, &y_train, &x_test);
    let want = direct_metrics(&y_test, &pred);
    let got = [out.test.rmse, out.test.mae, out.test.r2];
    assert!(max_diff(&got, &want) < 1e-9, "{got:?} vs {want:?}");

    // Refit predictions on every row against linfa on all rows.
    let (pred, beta) = linfa_ols(&x, &l.y, &x);
    let d = max_diff(&predict(&out.pipeline, &data), &pred);
    assert!(d < 1e-9, "refit predictions differ by {d:e}");
    // The constant gets 0; the two copies share x1's weight (in standardized units).
    let w = &out.pipeline.model.coef;
    assert_eq!(w[1], 0.0);
    assert!((w[0] - w[3]).abs() < 1e-12);
    assert!(
        ((w[0] + w[3]) / population_sd(&l.x1) - beta[0]).abs() < 1e-9,
        "{w:?} {beta:?}"
    );
}

#[test]
fn penalized_fits_match_linfa_elasticnet() {
    let n = 400;
    let mut rng = Rng::new(5);
    let x1: Vec<f64> = (0..n).map(|_| 3.0 * rng.normal() + 10.0).collect();
    let x2: Vec<f64> = (0..n).map(|_| rng.uniform(0.0, 100.0)).collect();
    let flag: Vec<bool> = (0..n).map(|_| rng.below(3) == 0).collect();
    let cat: Vec<usize> = (0..n).map(|_| [0, 0, 1, 2][rng.below(4)]).collect();
    let y: Vec<f64> = (0..n)
        .map(|i| {
            let f = if flag[i] { 1.5 } else { 0.0 };
            5.0 + 0.8 * x1[i] - 0.02 * x2[i] + f + EFFECT[cat[i]] + rng.normal()
        })
        .collect();
    let flags: Vec<Option<bool>> = flag.iter().map(|&f| Some(f)).collect();
    let cols = vec![
        numeric("x1", x1.clone()),
        numeric("x2", x2.clone()),
        boolean("flag", &flags),
        cat_column(&cat),
    ];
    let data = dataset(cols, y.clone());
    let (m1, s1, m2, s2) = (mean(&x1), population_sd(&x1), mean(&x2), population_sd(&x2));
    let y_mean = mean(&y);
    for (algorithm, alpha, l1_ratio) in [
        ("ridge", 0.5, 0.0),
        ("lasso", 0.05, 1.0),
        ("elastic_net", 0.1, 0.4),
    ] {
        let mut params = json!({"alpha": alpha, "max_iter": 100_000, "tol": 1e-12});
        if algorithm == "elastic_net" {
            params["l1_ratio"] = json!(l1_ratio);
        }
        let out = run(&data, &config(algorithm, params, 0.2, 9));
        assert!(out.converged, "{algorithm}");
        let p = &out.pipeline;
        for (f, m, s) in [(&p.features[0], m1, s1), (&p.features[1], m2, s2)] {
            let Transform::Standardize { mean: fm, scale } = f.transform else {
                panic!()
            };
            assert!((fm - m).abs() < 1e-12 && (scale - s).abs() < 1e-12);
        }
        let Transform::OneHot { levels } = &p.features[3].transform else {
            panic!()
        };
        assert_eq!(levels.len(), 3);

        // The encoded design built by hand (NULL and "other" slots are zero columns), centred
        // since linfa-elasticnet's intercept is only the mean of y.
        let mut xa = Array2::from_shape_fn((n, 6), |(i, j)| match j {
            0 => (x1[i] - m1) / s1,
            1 => (x2[i] - m2) / s2,
            2 => f64::from(u8::from(flag[i])),
            _ => f64::from(u8::from(levels[j - 3] == LEVELS[cat[i]])),
        });
        let col_mean = xa.mean_axis(Axis(0)).unwrap();
        xa -= &col_mean;
        let theirs = linfa_elasticnet::ElasticNet::<f64>::params()
            .penalty(alpha)
            .l1_ratio(l1_ratio)
            .tolerance(1e-12)
            .max_iterations(100_000)
            .fit(&Dataset::new(xa, Array1::from(y.clone())))
            .unwrap();
        let w = theirs.hyperplane().to_vec();
        eprintln!(
            "{algorithm}: ours {} sweeps, linfa {} steps gap {:e}",
            out.iterations,
            theirs.n_steps(),
            theirs.duality_gap()
        );
        let b = y_mean - col_mean.iter().zip(&w).map(|(m, v)| m * v).sum::<f64>();
        let dw = max_diff(&p.model.coef[..6], &w);
        let db = (p.model.intercept - b).abs();
        assert!(
            dw < 1e-5 && db < 1e-5,
            "{algorithm}: coef {dw:e} intercept {db:e}"
        );
        assert_eq!(&p.model.coef[6..], &[0.0, 0.0]);
    }
}

/// Frames `payload` behind a header with the given version and stated length.
fn framed(version: u32, stated: u64, payload: &[u8]) -> Vec<u8> {
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&stated.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

#[test]
fn artifact_round_trip_and_corruption() {
    let data = imputation_data();
    let out = run(
        &data,
        &config("ridge", json!({"max_categories": 3, "alpha": 0.1}), 0.2, 3),
    );
    let p = &out.pipeline;
    let bytes = p.to_bytes().unwrap();
    let back = FittedPipeline::from_bytes(&bytes).unwrap();
    assert_eq!(&back, p);
    let (a, b) = (predict(p, &data), predict(&back, &data));
    assert!(a.iter().zip(&b).all(|(u, v)| u.to_bits() == v.to_bits()));
    assert_eq!(
        score(&back, &data, &|_| true, &|| {}),
        score(p, &data, &|_| true, &|| {})
    );

    // The header as documented: magic, version, payload length, CRC.
    let payload = &bytes[24..];
    assert_eq!(framed(FORMAT_VERSION, payload.len() as u64, payload), bytes);
    for len in 0..bytes.len() {
        assert!(
            corrupt(FittedPipeline::from_bytes(&bytes[..len])),
            "prefix {len}"
        );
    }
    for pos in 0..bytes.len() {
        for mask in [0x01u8, 0x80, 0xFF] {
            let mut flipped = bytes.clone();
            flipped[pos] ^= mask;
            assert!(
                corrupt(FittedPipeline::from_bytes(&flipped)),
                "byte {pos} ^ {mask}"
            );
        }
    }
    let mut wrong_magic = bytes.clone();
    wrong_magic[..8].copy_from_slice(b"PGRTRAIM");
    assert!(corrupt(FittedPipeline::from_bytes(&wrong_magic)));
    let len = payload.len() as u64;
    for (version, stated) in [
        (FORMAT_VERSION + 1, len),
        (0, len),
        (u32::MAX, len),
        (FORMAT_VERSION, u64::MAX),
        (FORMAT_VERSION, len + 1),
        (FORMAT_VERSION, len - 1),
        (FORMAT_VERSION, 0),
    ] {
        let f = framed(version, stated, payload);
        assert!(
            corrupt(FittedPipeline::from_bytes(&f)),
            "{version} {stated}"
        );
    }
    // Trailing bytes behind a consistent header.
    let mut longer = payload.to_vec();
    longer.push(0);
    assert!(corrupt(FittedPipeline::from_bytes(&framed(
        FORMAT_VERSION,
        len + 1,
        &longer
    ))));
    // Well-framed payloads claiming a string or a sequence of u64::MAX elements.
    let huge = [253u8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];
    let huge_vec: Vec<u8> = [0u8, 0].iter().chain(&huge).copied().collect();
    for evil in [&huge[..], &huge_vec[..], &[], &[0]] {
        let f = framed(FORMAT_VERSION, evil.len() as u64, evil);
        assert!(corrupt(FittedPipeline::from_bytes(&f)), "{evil:?}");
    }
    let oversized = vec![0u8; MAX_ARTIFACT_BYTES + 1];
    assert!(corrupt(FittedPipeline::from_bytes(&oversized)));

    // Structurally invalid pipelines fail validate(), and fail to load once serialized.
    type Edit = fn(&mut FittedPipeline);
    let edits: [(&str, Edit); 9] = [
        ("short coef", |p| p.model.coef.truncate(6)),
        ("long coef", |p| p.model.coef.push(1.0)),
        ("NaN coef", |p| p.model.coef[3] = f64::NAN),
        ("inf intercept", |p| p.model.intercept = f64::INFINITY),
        ("zero scale", |p| {
            p.features[0].transform = Transform::Standardize {
                mean: 1.0,
                scale: 0.0,
            }
        }),
        ("NaN mean", |p| {
            p.features[0].transform = Transform::Standardize {
                mean: f64::NAN,
                scale: 1.0,
            }
        }),
        ("NaN fill", |p| {
            p.features[1].transform = Transform::Binary { fill: f64::NAN }
        }),
        ("offset", |p| p.features[2].offset += 1),
        ("fewer levels", |p| {
            p.features[2].transform = Transform::OneHot { levels: vec![] }
        }),
    ];
    assert!(p.validate().is_ok());
    for (what, edit) in edits {
        let mut bad = p.clone();
        edit(&mut bad);
        assert!(corrupt(bad.validate()), "{what}");
        assert!(
            corrupt(FittedPipeline::from_bytes(&bad.to_bytes().unwrap())),
            "{what}"
        );
    }
}

#[test]
fn errors_name_their_cause() {
    let cfg = |alg: &str, frac: f64| config(alg, json!({}), frac, 1);
    let l = linear_rows(10, 0.1, 6);
    // 3 rows at test_frac 0.1: round(0.3) = 0 test rows.
    let three = dataset(vec![numeric("x1", l.x1[..3].to_vec())], l.y[..3].to_vec());
    let err = train(&three, &cfg("linear", 0.1), &|| {}).unwrap_err();
    assert!(matches!(err, PipelineError::TooFewRows { .. }), "{err:?}");
    for frac in [0.0, 1.0, -0.5, 1.5, f64::NAN, f64::INFINITY] {
        let err = train(&linear_data(&l), &cfg("linear", frac), &|| {}).unwrap_err();
        assert!(
            matches!(err, PipelineError::InvalidTestFraction(_)),
            "{frac}: {err:?}"
        );
    }

    // 10 rows at 0.2 leave 8 train rows; 10 varying columns need 10 + 2 rows for linear.
    let mut rng = Rng::new(3);
    let wide: Vec<InputColumn> = (0..10)
        .map(|j| numeric(&format!("c{j}"), (0..10).map(|_| rng.normal()).collect()))
        .collect();
    let wide = dataset(wide, l.y.clone());
    match train(&wide, &cfg("linear", 0.2), &|| {}) {
        Err(PipelineError::TooFewRows { detail }) => assert!(
            detail.contains("8 rows")
                && detail.contains("10 coefficients")
                && detail.contains("at least 12"),
            "{detail}"
        ),
        other => panic!("{other:?}"),
    }
    assert!(train(&wide, &cfg("ridge", 0.2), &|| {}).is_ok());
    // The boundary: 2 varying columns need 4 train rows (5 at 0.2 works, 4 at 0.25 does not).
    let two = |n: usize| {
        dataset(
            wide.columns[..2].iter().map(|c| cut(c, n)).collect(),
            l.y[..n].to_vec(),
        )
    };
    assert!(train(&two(5), &cfg("linear", 0.2), &|| {}).is_ok());
    match train(&two(4), &cfg("linear", 0.25), &|| {}).unwrap_err() {
        PipelineError::TooFewRows { detail } => assert!(detail.starts_with("3 rows to fit 2 ")),
        other => panic!("{other:?}"),
    }

    // Unusable values, misaligned columns, too wide designs, mismatched columns at scoring.
    for bad in [
        vec![1.0, f64::INFINITY, 2.0, 3.0, 4.0],
        vec![1e308, -1e308, 0.0, 1.0, 2.0],
    ] {
        let d = dataset(vec![numeric("v", bad)], l.y[..5].to_vec());
        let err = train(&d, &cfg("ridge", 0.2), &|| {}).unwrap_err();
        assert!(matches!(&err, PipelineError::NonFiniteValue { column, .. } if column == "v"));
    }
    let short = dataset(vec![numeric("v", vec![1.0; 9])], l.y.clone());
    assert!(matches!(
        train(&short, &cfg("ridge", 0.2), &|| {}),
        Err(PipelineError::SolverFailed { .. })
    ));
    let names: Vec<String> = (0..1300).map(|i| format!("v{i}")).collect();
    let many: Vec<Option<&str>> = names.iter().map(|s| Some(s.as_str())).collect();
    let cols = (0..3).map(|j| text(&format!("t{j}"), &many)).collect();
    let d = dataset(cols, (0..1300u32).map(f64::from).collect());
    let err = train(
        &d,
        &config("ridge", json!({"max_categories": 1024}), 0.2, 1),
        &|| {},
    );
    assert_eq!(
        err.unwrap_err(),
        PipelineError::TooManyFeatures {
            columns: 3 * 1026,
            limit: 2048
        }
    );
    let out = run(&linear_data(&l), &cfg("ridge", 0.2));
    let mut other = linear_data(&l);
    other.columns.remove(1);
    let err = score(&out.pipeline, &other, &|_| true, &|| {}).unwrap_err();
    assert_eq!(err, PipelineError::MissingFeature("x2".into()));
    other.columns[0] = text("x1", &[Some("1"); 10]);
    let err = score(&out.pipeline, &other, &|_| true, &|| {}).unwrap_err();
    assert!(
        matches!(err, PipelineError::BadFeatureValue { .. }),
        "{err:?}"
    );

    // Parameter errors.
    for (alg, params) in [
        ("ridge", json!({"alpah": 1})),
        ("ridge", json!({"alpha": -1})),
        ("ridge", json!({"alpha": "1"})),
        ("lasso", json!({"l1_ratio": 0.5})),
        ("elastic_net", json!({"l1_ratio": 1.5})),
        ("linear", json!({"alpha": 0.1})),
        ("linear", json!({"max_categories": 0})),
        ("linear", json!({"max_iter": 0})),
        ("linear", json!({"tol": 0})),
        ("linear", json!({"deploy_tolerance": -0.1})),
        ("linear", json!(null)),
    ] {
        match TrainParams::from_json(alg, &params) {
            Err(PipelineError::InvalidParams { valid_keys, .. }) => {
                assert!(valid_keys.contains("max_categories"))
            }
            other => panic!("{alg} {params}: {other:?}"),
        }
    }
    let err = TrainParams::from_json("forest", &json!({})).unwrap_err();
    assert!(matches!(err, PipelineError::UnknownAlgorithm { name, .. } if name == "forest"));
}

fn cut(c: &InputColumn, n: usize) -> InputColumn {
    let ColumnValues::Numbers(v) = &c.values else {
        panic!()
    };
    numeric(&c.name, v[..n].to_vec())
}

#[test]
fn same_seed_replays_and_other_seeds_differ() {
    let data = linear_data(&linear_rows(500, 0.5, 8));
    let (a, b) = (
        run(
            &data,
            &config("elastic_net", json!({"alpha": 0.01}), 0.2, 42),
        ),
        run(
            &data,
            &config("elastic_net", json!({"alpha": 0.01}), 0.2, 42),
        ),
    );
    assert_eq!(
        (&a.split, &a.pipeline, a.test),
        (&b.split, &b.pipeline, b.test)
    );
    assert_eq!(
        (a.train_rmse.to_bits(), a.baseline_rmse.to_bits()),
        (b.train_rmse.to_bits(), b.baseline_rmse.to_bits())
    );
    assert_eq!(
        (a.rank, a.iterations, &a.feature_summaries),
        (b.rank, b.iterations, &b.feature_summaries)
    );
    let runs: Vec<TrainOutcome> = (1..=4)
        .map(|s| run(&data, &config("linear", json!({}), 0.2, s)))
        .collect();
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
    let out = train(&data, &config("linear", json!({}), 0.2, 77), &|| {
        calls.set(calls.get() + 1)
    })
    .unwrap();
    // Var(y): 4 Var(U(-3, 7)) + 0.25 * 25 + Var(effect) + sd²; the effect is 0 w.p. 1/2,
    // 4 w.p. 1/3 and -1 w.p. 1/6.
    let (e1, e2) = (4.0 / 3.0 - 1.0 / 6.0, 16.0 / 3.0 + 1.0 / 6.0);
    let var_y = 4.0 * 100.0 / 12.0 + 0.25 * 25.0 + (e2 - e1 * e1) + sd * sd;
    let rel = |got: f64, want: f64| (got - want).abs() / want;
    assert_eq!(out.test.n, 4000);
    assert!(rel(out.test.rmse, sd) < 0.1, "test rmse {}", out.test.rmse);
    assert!(
        rel(out.train_rmse, sd) < 0.05,
        "train rmse {}",
        out.train_rmse
    );
    // E|N(0, sd²)| = sd * sqrt(2/pi).
    assert!(rel(out.test.mae, sd * (2.0 / std::f64::consts::PI).sqrt()) < 0.1);
    assert!(
        rel(out.baseline_rmse, var_y.sqrt()) < 0.05,
        "baseline {}",
        out.baseline_rmse
    );
    assert!(out.baseline_rmse > 10.0 * out.test.rmse);
    assert!(
        (out.test.r2 - (1.0 - sd * sd / var_y)).abs() < 0.003,
        "r2 {}",
        out.test.r2
    );
    // Four passes over the rows check the interrupt at rows 0 and 16384 at least.
    assert!(calls.get() >= 8, "{} interrupt checks", calls.get());
    let stages: Vec<&str> = out.timings.iter().map(|t| t.0).collect();
    assert_eq!(stages, ["split_ms", "fit_ms", "evaluate_ms", "refit_ms"]);
}
