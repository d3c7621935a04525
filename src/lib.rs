//! pg_retrain: periodic model retraining inside PostgreSQL.
//!
//! Layout: `pipeline` is the pgrx-free core (transforms, models, metrics, split, artifact);
//! `source` reads the training query, `storage` writes versions, `api` is the SQL surface.

use pgrx::prelude::*;

pub mod api;
pub mod pipeline;
mod serving;
mod source;
mod storage;

::pgrx::pg_module_magic!(name, version);

extension_sql_file!("../sql/schema.sql", name = "schema", bootstrap);
extension_sql_file!(
    "../sql/serving.sql",
    name = "serving",
    requires = ["schema"]
);

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`: one-off setup and the test cluster's configuration.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
