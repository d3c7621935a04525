//! The shared pass (raw statistics projected per fit) against encoding the rows per fit:
//! the same pipelines, coefficients and metrics on data with every transform's corner
//! cases, and a fallback when the raw basis is too wide.

use serde_json::json;

use super::super::raw_stats::{RawLayout, MAX_RAW_COLUMNS};
use super::super::train::{
    score, score_test_rows, train_against, train_with, RowPasses, TrainOutcome,
};
use super::*;

/// Columns that exercise every affine map: NULLs, a large offset with a small spread, a
/// tiny scale, a constant column, an all-NULL column, booleans (one of them constant on
/// the rows that are not NULL), text beyond the category limit, NULL text and levels that
/// only a few rows have (so some are absent from the train rows).
fn awkward_data(n: usize, seed: u64) -> TrainingData {
    let mut r = rng(seed);
    let mut cols: Vec<Vec<f64>> = vec![Vec::new(); 6];
    let (mut flag, mut always, mut city, mut rare) = (vec![], vec![], vec![], vec![]);
    let mut y = Vec::new();
    let cities: Vec<String> = (0..40).map(|i| format!("city{i:02}")).collect();
    for i in 0..n {
        let a = if r.uniform(0.0, 1.0) < 0.1 {
            f64::NAN
        } else {
            r.normal() * 3.0
        };
        let big = 1.0e9 + r.uniform(0.0, 1000.0);
        let tiny = r.normal() * 1e-4;
        let f = r.uniform(0.0, 1.0) < 0.3;
        let c = (r.uniform(0.0, 1.0).powi(2) * 40.0) as usize;
        let city_value = if i % 17 == 0 {
            None
        } else {
            Some(cities[c].as_str())
        };
        let rare_value = if i % 97 == 0 {
            Some("rare")
        } else {
            Some("common")
        };
        let a_or_0 = if a.is_nan() { 0.0 } else { a };
        y.push(
            10.0 + 2.0 * a_or_0
                + 0.01 * (big - 1.0e9)
                + 3000.0 * tiny
                + if f { 5.0 } else { 0.0 }
                + (c % 7) as f64 * 0.8
                + r.normal(),
        );
        for (k, v) in [a, big, tiny, 7.25, f64::NAN, i as f64 * 86_400.0 + 1.6e9]
            .into_iter()
            .enumerate()
        {
            cols[k].push(v);
        }
        flag.push(Some(f));
        always.push(if i % 5 == 0 { None } else { Some(true) });
        city.push(city_value.map(str::to_string));
        rare.push(rare_value);
    }
    let names = ["a", "big", "tiny", "constant", "all_null", "day"];
    let mut columns: Vec<InputColumn> = names
        .iter()
        .zip(cols)
        .map(|(name, v)| numeric(name, v))
        .collect();
    columns.push(boolean("flag", &flag));
    columns.push(boolean("always", &always));
    let city: Vec<Option<&str>> = city.iter().map(|c| c.as_deref()).collect();
    columns.push(text("city", &city));
    columns.push(text("rare", &rare));
    dataset(columns, y)
}

fn both(data: &TrainingData, cfg: &TrainConfig) -> (TrainOutcome, TrainOutcome) {
    let shared = train_with(data, cfg, None, RowPasses::Shared, &|| {}).unwrap();
    let per_fit = train_with(data, cfg, None, RowPasses::PerFit, &|| {}).unwrap();
    (shared, per_fit)
}

fn assert_same(shared: &TrainOutcome, per_fit: &TrainOutcome, tol: f64) {
    assert_eq!(shared.pipeline.features, per_fit.pipeline.features);
    assert_eq!(shared.feature_summaries, per_fit.feature_summaries);
    assert_eq!(
        (shared.rank, shared.n_encoded),
        (per_fit.rank, per_fit.n_encoded)
    );
    let (a, b) = (&shared.pipeline.model, &per_fit.pipeline.model);
    let scale = b.coef.iter().fold(1.0f64, |m, c| m.max(c.abs()));
    assert!(
        max_diff(&a.coef, &b.coef) < tol * scale,
        "{:?}\n{:?}",
        a.coef,
        b.coef
    );
    assert_near(a.intercept, b.intercept, tol * scale);
    for (x, y) in [
        (shared.test.rmse, per_fit.test.rmse),
        (shared.test.mae, per_fit.test.mae),
        (shared.test.r2, per_fit.test.r2),
        (shared.train_rmse, per_fit.train_rmse),
        (shared.baseline_rmse, per_fit.baseline_rmse),
    ] {
        assert_near(x, y, tol * y.abs().max(1.0));
    }
}

#[test]
fn shared_pass_matches_per_fit_encoding() {
    let data = awkward_data(3000, 41);
    let layout = RawLayout::new(&data.columns).expect("narrow enough to share a pass");
    // Six numbers and two booleans (value and NULL each), 40 cities + NULL, 2 + 1 rare.
    assert_eq!(layout.width(), 8 * 2 + 41 + 3);
    for (algorithm, params) in [
        ("linear", json!({"max_categories": 8})),
        ("ridge", json!({"alpha": 0.3})),
        (
            "lasso",
            json!({"alpha": 0.05, "max_iter": 100000, "tol": 1e-12}),
        ),
        (
            "elastic_net",
            json!({"alpha": 0.05, "l1_ratio": 0.4, "tol": 1e-12}),
        ),
    ] {
        for seed in [1, 2] {
            let cfg = config(algorithm, params.clone(), 0.25, seed);
            let (shared, per_fit) = both(&data, &cfg);
            assert_same(&shared, &per_fit, 1e-7);
            assert!(shared.test.r2 > 0.5, "{algorithm}: {:?}", shared.test);
        }
    }
}

#[test]
fn shared_pass_keeps_an_exact_fit_exact() {
    let l = linear_rows(500, 0.0, 3);
    let (shared, per_fit) = both(&linear_data(&l), &config("linear", json!({}), 0.2, 9));
    assert!(shared.test.rmse < 1e-9, "{}", shared.test.rmse);
    assert!(shared.train_rmse < 1e-9, "{}", shared.train_rmse);
    assert_same(&shared, &per_fit, 1e-9);
}

#[test]
fn a_wide_raw_basis_falls_back_to_per_fit_encoding() {
    let n = MAX_RAW_COLUMNS + 200;
    let labels: Vec<String> = (0..n).map(|i| format!("id{i}")).collect();
    let mut r = rng(5);
    let x: Vec<f64> = (0..n).map(|_| r.normal()).collect();
    let y: Vec<f64> = x.iter().map(|v| 1.0 + 2.0 * v + 0.1 * r.normal()).collect();
    let ids: Vec<Option<&str>> = labels.iter().map(|l| Some(l.as_str())).collect();
    let data = dataset(vec![numeric("x", x), text("id", &ids)], y);
    assert!(RawLayout::new(&data.columns).is_none());
    let cfg = config("linear", json!({"max_categories": 4}), 0.2, 1);
    let (shared, per_fit) = both(&data, &cfg);
    assert_eq!(shared.pipeline, per_fit.pipeline);
    assert_eq!(shared.test, per_fit.test);
    let stages: Vec<&str> = shared.timings.iter().map(|t| t.0).collect();
    assert!(!stages.contains(&"statistics_ms"), "{stages:?}");
}

/// Another version's pipeline, scored on a new run's test rows: through the raw basis when
/// the columns are the same, per row otherwise, with the same metrics either way.
#[test]
fn a_champion_scores_alike_in_the_raw_basis_and_per_row() {
    // Fitted on other, fewer rows: some cities of the new data are unknown to it (they go
    // to "other"), and its means and scales are not the new data's.
    let champion = run(
        &awkward_data(300, 7),
        &config("linear", json!({"max_categories": 8}), 0.2, 3),
    )
    .pipeline;
    let data = awkward_data(2000, 99);
    let is_test: Vec<bool> = (0..data.n_rows()).map(|row| row % 4 == 1).collect();
    let per_row = score(&champion, &data, &|row| is_test[row], &|| {}).unwrap();
    let layout = RawLayout::new(&data.columns).unwrap();
    let raw = score_test_rows(&champion, &data, Some(&layout), &is_test, &|| {}).unwrap();
    assert_eq!(raw.n, per_row.n);
    for (got, want) in [
        (raw.rmse, per_row.rmse),
        (raw.mae, per_row.mae),
        (raw.r2, per_row.r2),
    ] {
        assert_near(got, want, 1e-9 * want.abs().max(1.0));
    }

    // Columns in another order: matched by name, per row.
    let mut reordered = data.clone();
    reordered.columns.swap(0, 1);
    let layout = RawLayout::new(&reordered.columns).unwrap();
    let fallback = score_test_rows(&champion, &reordered, Some(&layout), &is_test, &|| {});
    let fallback = fallback.unwrap();
    assert_eq!(fallback, per_row);

    // A column the champion needs is gone: an error naming it, not a wrong score.
    let mut missing = data.clone();
    missing.columns.remove(0);
    let layout = RawLayout::new(&missing.columns).unwrap();
    let err = score_test_rows(&champion, &missing, Some(&layout), &is_test, &|| {});
    let err = err.unwrap_err();
    assert!(err.to_string().contains("\"a\""), "{err}");

    // Training against the champion scores it on the new fit's own test rows.
    let cfg = config("linear", json!({"max_categories": 8}), 0.25, 5);
    let outcome = train_against(&data, &cfg, Some(&champion), &|| {}).unwrap();
    let split = &outcome.split.is_test;
    let want = score(&champion, &data, &|row| split[row], &|| {}).unwrap();
    let got = outcome
        .champion_test
        .expect("a champion was given")
        .unwrap();
    assert_near(got.rmse, want.rmse, 1e-9 * want.rmse);
    assert!(train_against(&data, &cfg, None, &|| {})
        .unwrap()
        .champion_test
        .is_none());
}
