//! The SQL surface: thin functions that check arguments, call the pipeline core and the
//! storage layer, and report.

pub mod errors;
pub mod train;
