//! `retrain.train_pipeline`: the whole retraining batch job in one call.

use std::time::Instant;

use pgrx::prelude::*;
use pgrx::JsonB;
use serde_json::json;

use super::errors::{raise_with, OrRaise};
use crate::pipeline::artifact::FittedPipeline;
use crate::pipeline::deploy::{decide, Champion, Decision, DeployMode};
use crate::pipeline::error::PipelineError;
use crate::pipeline::params::TrainParams;
use crate::pipeline::split::{check_test_frac, SplitMix64};
use crate::pipeline::train::{train_against, TrainConfig, TrainOutcome};
use crate::source::read_training_data;
use crate::storage::{
    current_deployment, insert_deployment, insert_pipeline, load_artifact, lock_name,
    DeploymentKind, NewPipeline,
};

/// Reads `source_query`, splits its rows, fits on the train rows, evaluates on the test
/// rows, refits on all rows and stores the next version of `name`. Returns one row.
///
/// Volatile; runs with the caller's privileges; an error anywhere stores nothing.
#[allow(clippy::too_many_arguments, clippy::type_complexity)]
#[pg_extern(volatile, parallel_unsafe)]
fn train_pipeline(
    source_query: Option<&str>,
    test_frac: default!(Option<f64>, 0.2),
    target: default!(Option<&str>, "'target'"),
    name: default!(Option<&str>, "'default'"),
    algorithm: default!(Option<&str>, "'linear'"),
    params: default!(Option<JsonB>, "'{}'"),
    seed: default!(Option<i64>, "NULL"),
    deploy: default!(Option<&str>, "'auto'"),
) -> TableIterator<
    'static,
    (
        name!(id, i64),
        name!(name, String),
        name!(version, i32),
        name!(rmse, Option<f64>),
        name!(mae, Option<f64>),
        name!(r2, Option<f64>),
        name!(n_train, i64),
        name!(n_test, i64),
        name!(deployed, bool),
    ),
> {
    let started = Instant::now();
    let source_query = required("source_query", source_query);
    let test_frac = required("test_frac", test_frac);
    let target = required("target", target);
    let name = required("name", name);
    let algorithm = required("algorithm", algorithm);
    let params = params.map(|p| p.0).unwrap_or_else(|| json!({}));
    // Everything that can be checked without data is checked before reading it.
    check_test_frac(test_frac).or_raise();
    let params = TrainParams::from_json(algorithm, &params).or_raise();
    let deploy_mode = DeployMode::parse(required("deploy", deploy)).or_raise();
    let seed = seed.unwrap_or_else(random_seed);

    lock_name(name);
    let data = read_training_data(source_query, target);
    let read_ms = started.elapsed().as_secs_f64() * 1e3;
    debug1!(
        "pg_retrain: read {} rows ({} skipped) of {} feature columns in {read_ms:.1} ms",
        data.n_rows(),
        data.n_skipped,
        data.columns.len()
    );

    let config = TrainConfig {
        test_frac,
        seed: seed as u64,
        params: params.clone(),
    };
    let interrupt = || {
        pgrx::check_for_interrupts!();
    };
    // Loaded before training so that training scores it on its own test rows. The name's
    // lock, held since before reading, keeps a deploy or rollback from changing it.
    let champion = load_champion(name);
    let champion_pipeline = champion.as_ref().and_then(|(_, c)| c.as_ref().ok());
    let outcome = train_against(&data, &config, champion_pipeline, &interrupt).or_raise();
    for (stage, ms) in &outcome.timings {
        debug1!("pg_retrain: {stage} = {ms:.1}");
    }

    let champion = match champion {
        None => Champion::None,
        Some((version, loaded)) => {
            let unscorable = |why: String| Champion::Unscorable { version, why };
            match (loaded, &outcome.champion_test) {
                (Err(e), _) => unscorable(e.to_string()),
                (Ok(_), Some(Err(e))) => unscorable(e.to_string()),
                (Ok(_), Some(Ok(metrics))) => Champion::Scored {
                    version,
                    rmse: metrics.rmse,
                },
                // train_against scores every champion it is given.
                (Ok(_), None) => unscorable("it was not scored".into()),
            }
        }
    };
    let decision = decide(
        deploy_mode,
        &champion,
        outcome.test.rmse,
        params.deploy_tolerance,
    );
    let artifact = outcome.pipeline.to_bytes().or_raise();
    let mut metrics = metrics_json(&outcome, read_ms);
    metrics["deploy"] = deploy_json(deploy_mode, &champion, &outcome, &decision);
    let stored = insert_pipeline(NewPipeline {
        name,
        source_query,
        target,
        algorithm: params.model.algorithm.name(),
        params: params.to_json(),
        test_frac,
        seed,
        n_rows: data.n_rows() as i64,
        n_train: outcome.split.n_train as i64,
        n_test: outcome.split.n_test as i64,
        n_skipped: data.n_skipped as i64,
        rmse: finite(outcome.test.rmse),
        mae: finite(outcome.test.mae),
        r2: finite(outcome.test.r2),
        metrics: {
            metrics["timings_ms"]["total_ms"] = json!(started.elapsed().as_secs_f64() * 1e3);
            metrics.clone()
        },
        features: json!(outcome.feature_summaries),
        artifact,
    });
    if decision.deploy {
        let kind = match (champion, deploy_mode) {
            (Champion::None, _) => DeploymentKind::First,
            (_, DeployMode::Always) => DeploymentKind::Always,
            _ => DeploymentKind::Auto,
        };
        insert_deployment(name, stored.id, kind, &decision.reason);
    }

    notice!(
        "pg_retrain: \"{name}\" version {}: {} rows read, {} skipped; {} train / {} test; \
         test RMSE {} MAE {} R² {} (baseline RMSE {}); {}: {}; {:.2} s",
        stored.version,
        data.n_rows() + data.n_skipped as usize,
        data.n_skipped,
        outcome.split.n_train,
        outcome.split.n_test,
        short(outcome.test.rmse),
        short(outcome.test.mae),
        short(outcome.test.r2),
        short(outcome.baseline_rmse),
        if decision.deploy {
            "deployed"
        } else {
            "not deployed"
        },
        decision.reason,
        started.elapsed().as_secs_f64()
    );
    TableIterator::once((
        stored.id,
        name.to_string(),
        stored.version,
        finite(outcome.test.rmse),
        finite(outcome.test.mae),
        finite(outcome.test.r2),
        outcome.split.n_train as i64,
        outcome.split.n_test as i64,
        decision.deploy,
    ))
}

/// The version of `name` served now, loaded: `(version, pipeline)`, or the reason its
/// artifact does not load. `None` when nothing is deployed.
fn load_champion(name: &str) -> Option<(i32, Result<FittedPipeline, PipelineError>)> {
    let (id, version) = current_deployment(name)?;
    let (bytes, _) = load_artifact(id)?;
    Some((version, FittedPipeline::from_bytes(&bytes)))
}

fn deploy_json(
    mode: DeployMode,
    champion: &Champion,
    outcome: &TrainOutcome,
    decision: &Decision,
) -> serde_json::Value {
    let (champion_version, champion_rmse) = match champion {
        Champion::None => (None, None),
        Champion::Scored { version, rmse } => (Some(*version), finite(*rmse)),
        Champion::Unscorable { version, .. } => (Some(*version), None),
    };
    json!({
        "mode": mode,
        "champion_version": champion_version,
        "champion_rmse": champion_rmse,
        "challenger_rmse": finite(outcome.test.rmse),
        "deployed": decision.deploy,
        "reason": decision.reason,
    })
}

fn metrics_json(outcome: &TrainOutcome, read_ms: f64) -> serde_json::Value {
    let mut timings = serde_json::Map::new();
    timings.insert("read_ms".into(), json!(read_ms));
    for (stage, ms) in &outcome.timings {
        timings.insert((*stage).into(), json!(ms));
    }
    json!({
        "rmse": finite(outcome.test.rmse),
        "mae": finite(outcome.test.mae),
        "r2": finite(outcome.test.r2),
        "train_rmse": finite(outcome.train_rmse),
        "baseline_rmse": finite(outcome.baseline_rmse),
        "n_encoded_features": outcome.n_encoded,
        "rank": outcome.rank,
        "iterations": outcome.iterations,
        "converged": outcome.converged,
        "timings_ms": timings,
    })
}

/// A NULL argument is refused with 22004, naming it.
fn required<T>(argument: &str, value: Option<T>) -> T {
    value.unwrap_or_else(|| {
        raise_with(
            PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED,
            &format!("{argument} must not be NULL"),
            None,
        )
    })
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn short(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.4}")
    } else {
        "n/a".into()
    }
}

/// A fresh non-negative seed when the caller gives none; stored so the run can be replayed.
fn random_seed() -> i64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut rng = SplitMix64::new(nanos ^ (u64::from(std::process::id()) << 32));
    (rng.next_u64() >> 1) as i64
}
