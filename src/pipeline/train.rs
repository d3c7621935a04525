//! The batch job's core: split, fit on the train rows, evaluate on the test rows, refit
//! on all rows. Reading and storing belong to the SQL layer.

use std::time::Instant;

use serde_json::Value;

use super::artifact::FittedPipeline;
use super::column::TrainingData;
use super::error::{PipelineError, Result};
use super::gram::Gram;
use super::metrics::{Metrics, MetricsAccumulator};
use super::params::{Algorithm, TrainParams};
use super::raw_stats::{RawLayout, RawPredictor};
use super::solver::{fit, FitSummary};
use super::split::{split_rows, Split};
use super::transform::{fit_features, FittedFeatures, RowEncoder};

/// Rows between two calls of the interrupt hook: about a millisecond of work.
const ROWS_PER_INTERRUPT_CHECK: usize = 16 * 1024;

/// What one training run is asked to do.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub test_frac: f64,
    pub seed: u64,
    pub params: TrainParams,
}

/// Everything a training run produced.
#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The pipeline refitted on all rows: what is stored and served.
    pub pipeline: FittedPipeline,
    pub split: Split,
    /// The train-split pipeline on the test rows.
    pub test: Metrics,
    /// The train-split pipeline on its own train rows.
    pub train_rmse: f64,
    /// RMSE on the test rows of always predicting the train rows' mean target.
    pub baseline_rmse: f64,
    /// Encoded width and numerical rank of the train-split fit.
    pub n_encoded: usize,
    pub rank: usize,
    pub iterations: u32,
    pub converged: bool,
    /// Per input column: type, transform and statistics of the all-rows fit.
    pub feature_summaries: Vec<Value>,
    /// Milliseconds per stage, in order.
    pub timings: Vec<(&'static str, f64)>,
    /// The champion given to [`train_against`], scored on the same test rows as the new
    /// fit; an error when it cannot score them (a column it needs is gone, say).
    pub champion_test: Option<Result<Metrics>>,
}

/// Runs split → fit → evaluate → refit. `interrupt` is called regularly and may unwind.
pub fn train(
    data: &TrainingData,
    config: &TrainConfig,
    interrupt: &dyn Fn(),
) -> Result<TrainOutcome> {
    train_with(data, config, None, RowPasses::Shared, interrupt)
}

/// As [`train`], and also scores `champion` (the version served now) on the new fit's test
/// rows, so that the two are compared on the same rows.
pub fn train_against(
    data: &TrainingData,
    config: &TrainConfig,
    champion: Option<&FittedPipeline>,
    interrupt: &dyn Fn(),
) -> Result<TrainOutcome> {
    train_with(data, config, champion, RowPasses::Shared, interrupt)
}

/// How the fits see the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowPasses {
    /// One pass into raw statistics shared by fit, evaluation and refit
    /// (see `raw_stats`), unless the raw basis is too wide.
    Shared,
    /// Each fit encodes the rows it uses; evaluation scores the rows again. The fallback,
    /// and the reference the shared pass is tested against.
    #[cfg_attr(not(test), allow(dead_code))]
    PerFit,
}

pub(crate) fn train_with(
    data: &TrainingData,
    config: &TrainConfig,
    champion: Option<&FittedPipeline>,
    passes: RowPasses,
    interrupt: &dyn Fn(),
) -> Result<TrainOutcome> {
    data.check_aligned()?;
    let mut timings = Vec::new();
    let mut clock = Instant::now();
    let mut lap = |name: &'static str, timings: &mut Vec<(&'static str, f64)>| {
        timings.push((name, clock.elapsed().as_secs_f64() * 1e3));
        clock = Instant::now();
    };

    let split = split_rows(data.n_rows(), config.test_frac, config.seed)?;
    let is_train = |row: usize| !split.is_test[row];
    let is_test = |row: usize| split.is_test[row];
    // The baseline needs the split only; it is timed with it.
    let train_mean = mean_where(&data.target, &is_train);
    let baseline_rmse = rmse_of_constant(&data.target, train_mean, &is_test);
    lap("split_ms", &mut timings);
    let params = &config.params;
    let layout = match passes {
        RowPasses::Shared => RawLayout::new(&data.columns),
        RowPasses::PerFit => None,
    };
    let fit_train = |statistics: &dyn Fn(&FittedFeatures) -> Result<Gram>| {
        fit_pipeline(
            data,
            params,
            split.n_train,
            &is_train,
            statistics,
            interrupt,
        )
    };
    let fit_all = |statistics: &dyn Fn(&FittedFeatures) -> Result<Gram>| {
        fit_pipeline(
            data,
            params,
            data.n_rows(),
            &|_| true,
            statistics,
            interrupt,
        )
    };
    let (train_fit, test, train_rmse, champion_test, refit) = if let Some(layout) = layout {
        let stats = layout.accumulate(data, &split.is_test, interrupt)?;
        lap("statistics_ms", &mut timings);
        let project = |gram: &Gram, fitted: &FittedFeatures| {
            let maps = layout.affine_maps(&fitted.features, &fitted.constant)?;
            gram.project(&maps, interrupt)
        };
        let train_fit = fit_train(&|f| project(&stats.train, f))?;
        lap("fit_ms", &mut timings);

        let maps = layout.affine_maps(&train_fit.pipeline.features, &train_fit.constant)?;
        let predictor = RawPredictor::new(&train_fit.pipeline.model, &maps, layout.width())?;
        let (test, train) = predictor.evaluate(&layout, data, &split.is_test, interrupt);
        let champion_test =
            champion.map(|c| score_test_rows(c, data, Some(&layout), &split.is_test, interrupt));
        lap("evaluate_ms", &mut timings);

        let mut all = stats.train;
        all.merge(&stats.test)?;
        let refit = fit_all(&|f| project(&all, f))?;
        (train_fit, test, train.rmse, champion_test, refit)
    } else {
        let encode = |include: &dyn Fn(usize) -> bool, fitted: &FittedFeatures| {
            encoded_gram(data, fitted, include, interrupt)
        };
        let train_fit = fit_train(&|f| encode(&is_train, f))?;
        lap("fit_ms", &mut timings);

        let test = score(&train_fit.pipeline, data, &is_test, interrupt)?;
        let train_rmse = score(&train_fit.pipeline, data, &is_train, interrupt)?.rmse;
        let champion_test =
            champion.map(|c| score_test_rows(c, data, None, &split.is_test, interrupt));
        lap("evaluate_ms", &mut timings);

        let refit = fit_all(&|f| encode(&|_| true, f))?;
        (train_fit, test, train_rmse, champion_test, refit)
    };
    lap("refit_ms", &mut timings);

    Ok(TrainOutcome {
        n_encoded: train_fit.pipeline.n_encoded(),
        rank: train_fit.summary.rank,
        iterations: train_fit.summary.iterations,
        converged: train_fit.summary.converged,
        pipeline: refit.pipeline,
        split,
        test,
        train_rmse,
        baseline_rmse,
        feature_summaries: refit.feature_summaries,
        timings,
        champion_test,
    })
}

/// A pipeline fitted on some rows, with what the caller needs besides it.
struct PipelineFit {
    pipeline: FittedPipeline,
    summary: FitSummary,
    feature_summaries: Vec<Value>,
    /// Per feature, as in [`FittedFeatures::constant`].
    constant: Vec<bool>,
}

/// Fits transforms and model on the rows `include` selects (`n_included` of them);
/// `statistics` gives the model's statistics of those rows in the fitted encoding.
fn fit_pipeline(
    data: &TrainingData,
    params: &TrainParams,
    n_included: usize,
    include: &dyn Fn(usize) -> bool,
    statistics: &dyn Fn(&FittedFeatures) -> Result<Gram>,
    interrupt: &dyn Fn(),
) -> Result<PipelineFit> {
    let fitted = fit_features(&data.columns, params.max_categories, include)?;
    // Ordinary least squares needs a row per coefficient plus one for the intercept;
    // penalized models are well defined with fewer.
    let needed = fitted.free_parameters + 2;
    if params.model.algorithm == Algorithm::Linear && n_included < needed {
        return Err(PipelineError::TooFewRows {
            detail: format!(
                "{n_included} rows to fit {} coefficients and an intercept; linear needs at \
                 least {needed} (use ridge for fewer rows than features)",
                fitted.free_parameters
            ),
        });
    }
    let gram = statistics(&fitted)?;
    let summary = fit(&gram, &params.model, interrupt)?;
    let pipeline = FittedPipeline {
        target: data.target_name.clone(),
        algorithm: params.model.algorithm,
        features: fitted.features,
        model: summary.model.clone(),
    };
    Ok(PipelineFit {
        pipeline,
        summary,
        feature_summaries: fitted.summaries,
        constant: fitted.constant,
    })
}

/// Statistics of the rows `include` selects, each encoded with `fitted`.
fn encoded_gram(
    data: &TrainingData,
    fitted: &FittedFeatures,
    include: &dyn Fn(usize) -> bool,
    interrupt: &dyn Fn(),
) -> Result<Gram> {
    let y_shift = mean_where(&data.target, include);
    let mut gram = Gram::new(fitted.width, y_shift)?;
    let encoder = RowEncoder::new(&fitted.features, &data.columns)?;
    let mut row_buf = Vec::with_capacity(fitted.features.len());
    for (row, &y) in data.target.iter().enumerate() {
        if row % ROWS_PER_INTERRUPT_CHECK == 0 {
            interrupt();
        }
        if include(row) {
            encoder.encode(row, &mut row_buf);
            gram.add_row(&row_buf, y);
        }
    }
    Ok(gram)
}

/// Scores `pipeline` on the rows `include` selects; its features are matched to `data`'s
/// columns by name, so another version's pipeline can be scored on this run's rows.
pub fn score(
    pipeline: &FittedPipeline,
    data: &TrainingData,
    include: &dyn Fn(usize) -> bool,
    interrupt: &dyn Fn(),
) -> Result<Metrics> {
    let encoder = RowEncoder::new(&pipeline.features, &data.columns)?;
    let mut row_buf = Vec::with_capacity(pipeline.features.len());
    let mut acc = MetricsAccumulator::default();
    for (row, &y) in data.target.iter().enumerate() {
        if row % ROWS_PER_INTERRUPT_CHECK == 0 {
            interrupt();
        }
        if include(row) {
            encoder.encode(row, &mut row_buf);
            acc.add(y, pipeline.model.predict_sparse(&row_buf));
        }
    }
    Ok(acc.finish())
}

/// Scores `pipeline`, typically another version's, on this run's test rows (`is_test` per
/// row), so that it can be compared with the new fit on the same rows.
///
/// When `layout` (this run's raw basis) is given and the pipeline reads exactly this run's
/// columns, in the same order, its model is mapped onto the raw basis and every row is
/// scored column by column, as the new fit's own evaluation is: the same arithmetic for
/// both sides of the comparison, and several times faster than encoding the test rows one
/// by one. Otherwise (columns added, removed or reordered, or no raw basis) the rows are
/// encoded per row.
pub(crate) fn score_test_rows(
    pipeline: &FittedPipeline,
    data: &TrainingData,
    layout: Option<&RawLayout>,
    is_test: &[bool],
    interrupt: &dyn Fn(),
) -> Result<Metrics> {
    let in_raw_basis =
        layout.and_then(|layout| score_in_raw_basis(pipeline, data, layout, is_test, interrupt));
    match in_raw_basis {
        Some(metrics) => Ok(metrics),
        None => score(pipeline, data, &|row| is_test[row], interrupt),
    }
}

fn score_in_raw_basis(
    pipeline: &FittedPipeline,
    data: &TrainingData,
    layout: &RawLayout,
    is_test: &[bool],
    interrupt: &dyn Fn(),
) -> Option<Metrics> {
    let features = &pipeline.features;
    let same_columns = features.len() == data.columns.len()
        && features
            .iter()
            .zip(&data.columns)
            .all(|(f, c)| f.name == c.name);
    if !same_columns || is_test.len() != data.n_rows() {
        return None;
    }
    // No feature is treated as constant: the map must give exactly what the pipeline's
    // own encoding gives on these rows, whatever rows it was fitted on.
    let maps = layout
        .affine_maps(features, &vec![false; features.len()])
        .ok()?;
    let predictor = RawPredictor::new(&pipeline.model, &maps, layout.width()).ok()?;
    Some(predictor.evaluate(layout, data, is_test, interrupt).0)
}

/// The mean of the values `include` selects (0 when none): a sum relative to the first
/// value, which keeps a large mean precise without dividing per row.
fn mean_where(values: &[f64], include: &dyn Fn(usize) -> bool) -> f64 {
    let Some(&shift) = values.first() else {
        return 0.0;
    };
    let (mut n, mut sum) = (0u64, 0.0);
    for (row, &v) in values.iter().enumerate() {
        if include(row) {
            n += 1;
            sum += v - shift;
        }
    }
    if n == 0 {
        0.0
    } else {
        shift + sum / n as f64
    }
}

fn rmse_of_constant(values: &[f64], constant: f64, include: &dyn Fn(usize) -> bool) -> f64 {
    let mut acc = MetricsAccumulator::default();
    for (row, &v) in values.iter().enumerate() {
        if include(row) {
            acc.add(v, constant);
        }
    }
    acc.finish().rmse
}
