//! The SQL surface: thin functions that check arguments, call the pipeline core and the
//! storage layer, and report.

mod deploy;
pub mod errors;
mod predict;
pub mod train;
