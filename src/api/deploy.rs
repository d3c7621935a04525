//! `retrain.deploy` and `retrain.rollback`: choosing by hand which version serves a name.

use pgrx::prelude::*;

use super::errors::raise_with;
use crate::serving::unknown_name;
use crate::storage::{
    insert_deployment, lock_name, pipeline_exists, pipeline_id_of, rollback as roll_back,
    DeploymentKind,
};

/// Deploys `version` of `name`; returns its pipeline id. Unknown name or version → 42704.
#[pg_extern(volatile, strict, parallel_unsafe)]
fn deploy(name: &str, version: i32) -> i64 {
    lock_name(name);
    let Some(id) = pipeline_id_of(name, version) else {
        if !pipeline_exists(name) {
            unknown_name(name);
        }
        raise_with(
            PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
            &format!("pipeline \"{name}\" has no version {version}"),
            Some("See SELECT version FROM retrain.pipeline_history WHERE name = ..."),
        )
    };
    insert_deployment(
        name,
        id,
        DeploymentKind::Manual,
        &format!("deployed version {version}"),
    );
    notice!("pg_retrain: \"{name}\" now serves version {version}");
    id
}

/// Returns `name` to the version deployed before the current one; returns that version.
#[pg_extern(volatile, strict, parallel_unsafe)]
fn rollback(name: &str) -> i32 {
    lock_name(name);
    if !pipeline_exists(name) {
        unknown_name(name);
    }
    let version = roll_back(name);
    notice!("pg_retrain: \"{name}\" rolled back to version {version}");
    version
}
