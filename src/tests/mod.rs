//! In-database tests, run by `cargo pgrx test` inside a real PostgreSQL 15.

mod errors;
mod scheduling;
mod serving;
pub mod support;
mod training;
