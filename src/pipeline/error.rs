//! The one error type of the pipeline core.
//!
//! Every variant names the column, key or value at fault so that the SQL layer can turn it
//! into an ERROR with a precise SQLSTATE (see `crate::api::errors`) without rewording it.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq)]
pub enum PipelineError {
    /// `test_frac` is outside the open interval (0, 1) or not a number.
    #[error("test_frac must be in the open interval (0, 1), got {0}")]
    InvalidTestFraction(f64),

    /// The split leaves a side empty, or fewer train rows than model parameters.
    #[error("too few rows: {detail}")]
    TooFewRows { detail: String },

    /// A value the pipeline cannot use: NaN or an infinity.
    #[error("column \"{column}\" contains {value}; only finite numbers can be used")]
    NonFiniteValue { column: String, value: String },

    /// `params` holds a key that is not known, or a value of the wrong type or range.
    #[error("invalid params: {message}")]
    InvalidParams { message: String, valid_keys: String },

    /// The algorithm name is not one of the supported models.
    #[error("unknown algorithm \"{name}\"")]
    UnknownAlgorithm { name: String, valid: String },

    /// The encoded design would be larger than the limits of one backend.
    #[error("the encoded feature matrix would have {columns} columns; the limit is {limit}")]
    TooManyFeatures { columns: usize, limit: usize },

    /// A solver could not produce finite coefficients (overflowing data, for instance).
    #[error("the {algorithm} solver failed: {reason}")]
    SolverFailed { algorithm: String, reason: String },

    /// A stored artifact is truncated, corrupted, of another format version or too large.
    #[error("pipeline artifact cannot be loaded: {0}")]
    CorruptArtifact(String),

    /// Memory for the rows could not be reserved.
    #[error("out of memory while {0}")]
    OutOfMemory(String),

    /// A feature value at prediction time is missing or of the wrong kind.
    #[error("feature \"{key}\": {reason}")]
    BadFeatureValue { key: String, reason: String },

    /// A feature the pipeline was trained with is absent at prediction time.
    #[error("feature \"{0}\" is missing")]
    MissingFeature(String),
}

pub type Result<T> = std::result::Result<T, PipelineError>;
