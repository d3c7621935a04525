//! Writing pipeline versions to `retrain.pipelines`.

use pgrx::prelude::*;
use pgrx::JsonB;

use super::internal;

/// Serializes trainings of one name: a per-name transaction-level advisory lock, the same
/// key the scheduler tries before starting a run. Versions are assigned under it, so two
/// sessions training one name at once get consecutive versions.
pub fn lock_name(name: &str) {
    Spi::run_with_args(
        "SELECT pg_catalog.pg_advisory_xact_lock(\
             pg_catalog.hashtext('pg_retrain'), pg_catalog.hashtext($1))",
        &[name.into()],
    )
    .unwrap_or_else(|e| internal(&format!("cannot take the pipeline lock: {e}")));
}

/// One row of `retrain.pipelines`, minus what the table fills in itself.
pub struct NewPipeline<'a> {
    pub name: &'a str,
    pub source_query: &'a str,
    pub target: &'a str,
    pub algorithm: &'a str,
    pub params: serde_json::Value,
    pub test_frac: f64,
    pub seed: i64,
    pub n_rows: i64,
    pub n_train: i64,
    pub n_test: i64,
    pub n_skipped: i64,
    pub rmse: Option<f64>,
    pub mae: Option<f64>,
    pub r2: Option<f64>,
    pub metrics: serde_json::Value,
    pub features: serde_json::Value,
    pub artifact: Vec<u8>,
}

/// The identity of a stored version.
pub struct StoredPipeline {
    pub id: i64,
    pub version: i32,
}

/// Inserts the next version of `row.name`. The caller must hold [`lock_name`]'s lock, and
/// takes a fresh snapshot here (READ COMMITTED), so the previous version is always seen.
pub fn insert_pipeline(row: NewPipeline<'_>) -> StoredPipeline {
    let stored = Spi::connect_mut(|client| {
        client
            .update(
                "INSERT INTO retrain.pipelines (name, version, source_query, target, algorithm, \
                     params, test_frac, seed, n_rows, n_train, n_test, n_skipped, rmse, mae, r2, \
                     metrics, features, artifact) \
                 SELECT $1, COALESCE(pg_catalog.max(p.version), 0) + 1, $2, $3, $4, $5, $6, $7, \
                     $8, $9, $10, $11, $12, $13, $14, $15, $16, $17 \
                 FROM retrain.pipelines AS p WHERE p.name = $1 \
                 RETURNING id, version",
                None,
                &[
                    row.name.into(),
                    row.source_query.into(),
                    row.target.into(),
                    row.algorithm.into(),
                    JsonB(row.params).into(),
                    row.test_frac.into(),
                    row.seed.into(),
                    row.n_rows.into(),
                    row.n_train.into(),
                    row.n_test.into(),
                    row.n_skipped.into(),
                    row.rmse.into(),
                    row.mae.into(),
                    row.r2.into(),
                    JsonB(row.metrics).into(),
                    JsonB(row.features).into(),
                    row.artifact.as_slice().into(),
                ],
            )?
            .first()
            .get_two::<i64, i32>()
    });
    match stored {
        Ok((Some(id), Some(version))) => StoredPipeline { id, version },
        Ok(_) => internal("storing the pipeline returned no row"),
        Err(e) => internal(&format!("cannot store the pipeline: {e}")),
    }
}
