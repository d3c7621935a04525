//! Reading versions back and recording deployments in `retrain.deployments`.

use pgrx::prelude::*;

use super::internal;
use crate::api::errors::raise_with;

/// Why a version is deployed; stored in `retrain.deployments.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeploymentKind {
    First,
    Auto,
    Always,
    Manual,
    Rollback,
}

impl DeploymentKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Auto => "auto",
            Self::Always => "always",
            Self::Manual => "manual",
            Self::Rollback => "rollback",
        }
    }
}

/// The served `(pipeline id, version)` of `name`, if any.
pub fn current_deployment(name: &str) -> Option<(i64, i32)> {
    Spi::get_two_with_args::<i64, i32>(
        "SELECT d.pipeline_id, p.version FROM retrain.deployments AS d \
         JOIN retrain.pipelines AS p ON p.id = d.pipeline_id \
         WHERE d.name = $1 ORDER BY d.id DESC LIMIT 1",
        &[name.into()],
    )
    .ok()
    .and_then(|(id, version)| Some((id?, version?)))
}

/// The id of `name`'s `version`, if stored.
pub fn pipeline_id_of(name: &str, version: i32) -> Option<i64> {
    Spi::get_one_with_args::<i64>(
        "SELECT id FROM retrain.pipelines WHERE name = $1 AND version = $2",
        &[name.into(), version.into()],
    )
    .ok()
    .flatten()
}

/// Whether any version of `name` is stored.
pub fn pipeline_exists(name: &str) -> bool {
    Spi::get_one_with_args::<bool>(
        "SELECT EXISTS (SELECT 1 FROM retrain.pipelines WHERE name = $1)",
        &[name.into()],
    )
    .ok()
    .flatten()
    .unwrap_or(false)
}

/// The artifact bytes and version of pipeline `id`, if it exists (and is visible to this
/// statement: a rolled-back training's id never is).
pub fn load_artifact(id: i64) -> Option<(Vec<u8>, i32)> {
    Spi::get_two_with_args::<Vec<u8>, i32>(
        "SELECT artifact, version FROM retrain.pipelines WHERE id = $1",
        &[id.into()],
    )
    .ok()
    .and_then(|(bytes, version)| Some((bytes?, version?)))
}

/// Records that `pipeline_id` now serves `name`.
pub fn insert_deployment(name: &str, pipeline_id: i64, kind: DeploymentKind, reason: &str) {
    Spi::run_with_args(
        "INSERT INTO retrain.deployments (name, pipeline_id, kind, reason) \
         VALUES ($1, $2, $3, $4)",
        &[
            name.into(),
            pipeline_id.into(),
            kind.as_str().into(),
            reason.into(),
        ],
    )
    .unwrap_or_else(|e| internal(&format!("cannot record the deployment: {e}")));
}

/// Re-deploys the version served before the current one: the newest earlier deployment
/// that was not itself undone and serves another version. Returns that version.
pub fn rollback(name: &str) -> i32 {
    let Some((current_id, current_version)) = current_deployment(name) else {
        raise_with(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            &format!("pipeline \"{name}\" has no deployed version to roll back"),
            None,
        )
    };
    let previous = Spi::get_two_with_args::<i64, i32>(
        "SELECT d.pipeline_id, p.version FROM retrain.deployments AS d \
         JOIN retrain.pipelines AS p ON p.id = d.pipeline_id \
         WHERE d.name = $1 AND NOT d.rolled_back AND d.pipeline_id <> $2 \
           AND d.id < (SELECT max(id) FROM retrain.deployments WHERE name = $1) \
         ORDER BY d.id DESC LIMIT 1",
        &[name.into(), current_id.into()],
    )
    .ok()
    .and_then(|(id, version)| Some((id?, version?)));
    let Some((previous_id, previous_version)) = previous else {
        raise_with(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            &format!(
                "pipeline \"{name}\" has no earlier deployment to return to \
                 (version {current_version} is the only one served so far)"
            ),
            Some("Deploy a chosen version with retrain.deploy(name, version)."),
        )
    };
    Spi::run_with_args(
        "UPDATE retrain.deployments SET rolled_back = true \
         WHERE id = (SELECT max(id) FROM retrain.deployments WHERE name = $1)",
        &[name.into()],
    )
    .unwrap_or_else(|e| internal(&format!("cannot mark the rollback: {e}")));
    let reason = format!("rollback from version {current_version}");
    insert_deployment(name, previous_id, DeploymentKind::Rollback, &reason);
    previous_version
}
