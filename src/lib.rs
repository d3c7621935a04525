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
extension_sql_file!(
    "../sql/scheduling.sql",
    name = "scheduling",
    requires = ["serving"]
);

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`: one-off setup and the test cluster's configuration.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    /// pg_cron must be preloaded and pointed at the test database; its jobs run in
    /// background workers so that they need no password or pg_hba entry.
    #[must_use]
    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![
            "shared_preload_libraries = 'pg_cron'",
            "cron.database_name = 'pgrx_tests'",
            "cron.use_background_workers = on",
            "max_worker_processes = 32",
        ]
    }
}
