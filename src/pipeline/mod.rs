//! The retraining pipeline, free of pgrx: transforms, models, metrics, split and the
//! artifact format. The SQL layer converts rows into [`column::TrainingData`], calls
//! [`train::train`] and stores what comes back; everything here runs in plain unit tests.

pub mod artifact;
pub mod column;
pub mod deploy;
pub mod error;
pub mod gram;
pub mod metrics;
pub mod params;
pub mod predict;
pub mod raw_stats;
pub mod solver;
pub mod split;
pub mod train;
pub mod transform;

#[cfg(test)]
mod tests;
