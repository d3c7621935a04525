//! Serving stored pipelines: finding the version to use, loading it once per backend, and
//! turning a jsonb object into the pipeline's inputs.

mod cache;
mod row;
mod values;

use std::rc::Rc;

use pgrx::PgSqlErrorCode;

pub use row::row_values;
pub use values::feature_values;

use crate::api::errors::{raise_with, OrRaise};
use crate::pipeline::artifact::FittedPipeline;
use crate::storage::{current_deployment, load_artifact, pipeline_exists};
use cache::{loaded, resolve_in_statement, Lookup};

/// The pipeline deployed for `name` now (as of this statement).
pub fn deployed_pipeline(name: &str) -> (i64, Rc<FittedPipeline>) {
    let id = resolve_in_statement(Lookup::Name, name, || match current_deployment(name) {
        Some((id, _)) => id.to_string(),
        None if pipeline_exists(name) => raise_with(
            PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            &format!("pipeline \"{name}\" has no deployed version"),
            Some("Deploy one with retrain.deploy(name, version)."),
        ),
        None => unknown_name(name),
    });
    let id = id.parse().unwrap_or_else(|_| unknown_name(name));
    (id, pipeline_by_id(id))
}

/// Pipeline `id`, if its row is visible to this statement.
///
/// The cache key includes the row's version, so even a row changed in place (which the
/// extension never does) is reloaded rather than served stale.
pub fn pipeline_by_id(id: i64) -> Rc<FittedPipeline> {
    let row_version = resolve_in_statement(Lookup::Id, &id.to_string(), || {
        row_version(id).unwrap_or_else(|| {
            raise_with(
                PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
                &format!("pipeline id {id} does not exist"),
                None,
            )
        })
    });
    loaded((id, row_version), || {
        let Some((bytes, _)) = load_artifact(id) else {
            raise_with(
                PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
                &format!("pipeline id {id} does not exist"),
                None,
            )
        };
        FittedPipeline::from_bytes(&bytes).or_raise()
    })
}

/// The version (xmin and ctid) of pipeline `id`'s row, if visible.
fn row_version(id: i64) -> Option<String> {
    pgrx::Spi::get_one_with_args::<String>(
        "SELECT xmin::text || '/' || ctid::text FROM retrain.pipelines WHERE id = $1",
        &[id.into()],
    )
    .ok()
    .flatten()
}

pub fn unknown_name(name: &str) -> ! {
    raise_with(
        PgSqlErrorCode::ERRCODE_UNDEFINED_OBJECT,
        &format!("no pipeline named \"{name}\""),
        Some("See SELECT name FROM retrain.deployed_pipelines."),
    )
}
