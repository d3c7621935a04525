//! The extension's tables: pipeline versions and deployments. All SQL here is
//! schema-qualified and parameterized; values travel as `$n` arguments.

mod deployments;
mod pipelines;

pub use deployments::{
    current_deployment, insert_deployment, load_artifact, pipeline_exists, pipeline_id_of,
    rollback, DeploymentKind,
};
pub use pipelines::{insert_pipeline, lock_name, NewPipeline};

use crate::api::errors::raise_with;
use pgrx::PgSqlErrorCode;

/// An SPI failure that is not the user's doing.
fn internal(message: &str) -> ! {
    raise_with(
        PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
        &format!("internal: {message}"),
        None,
    )
}
