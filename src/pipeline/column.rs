//! Decoded input columns: what the reader hands to the pipeline.
//!
//! Values are kept in the most compact form the transforms need: one f64 per numeric cell
//! (NaN marks NULL, since real NaNs are refused while reading) and one u32 code per text cell.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};

use super::error::{PipelineError, Result};

/// The code of a NULL text value.
pub const NULL_CODE: u32 = u32::MAX;

/// How a column's SQL type is turned into features.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ColumnKind {
    /// int2/int4/int8/float4/float8/numeric: impute the mean, standardize.
    Numeric,
    /// date/timestamp/timestamptz as seconds since 1970-01-01, then as `Numeric`.
    Temporal,
    /// bool as 0/1, NULL imputed with the share of true.
    Boolean,
    /// text/varchar/char/enum: one-hot over the most frequent values.
    Categorical,
}

impl ColumnKind {
    pub fn is_numeric_like(self) -> bool {
        !matches!(self, Self::Categorical)
    }
}

/// One input column's cells, in row order.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnValues {
    /// NaN marks NULL.
    Numbers(Vec<f64>),
    /// `codes[i]` indexes `levels`; `NULL_CODE` marks NULL.
    Codes {
        codes: Vec<u32>,
        levels: Vec<String>,
    },
}

/// A named, typed input column.
#[derive(Debug, Clone, PartialEq)]
pub struct InputColumn {
    pub name: String,
    /// The SQL type as Postgres formats it, for messages and the stored feature summary.
    pub sql_type: String,
    pub kind: ColumnKind,
    pub values: ColumnValues,
}

impl InputColumn {
    pub fn len(&self) -> usize {
        match &self.values {
            ColumnValues::Numbers(v) => v.len(),
            ColumnValues::Codes { codes, .. } => codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A fast multiplicative hash (the Fx hash of rustc) for interning text values: one is
/// looked up per text cell, and SipHash's flood resistance buys nothing against a user's
/// own data in the user's own backend.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
        }
        for &byte in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(byte)).wrapping_mul(SEED);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuildHasher = BuildHasherDefault<FxHasher>;

/// Builds a text column one value at a time, interning each distinct value once.
#[derive(Debug, Default)]
pub struct CodeBuilder {
    codes: Vec<u32>,
    levels: Vec<String>,
    index: HashMap<String, u32, FxBuildHasher>,
}

impl CodeBuilder {
    pub fn push(&mut self, value: Option<&str>) -> Result<()> {
        let code = match value {
            None => NULL_CODE,
            Some(v) => match self.index.get(v) {
                Some(&code) => code,
                None => {
                    let code = u32::try_from(self.levels.len())
                        .ok()
                        .filter(|&c| c != NULL_CODE)
                        .ok_or_else(|| {
                            PipelineError::OutOfMemory("interning distinct text values".into())
                        })?;
                    self.levels.push(v.to_owned());
                    self.index.insert(v.to_owned(), code);
                    code
                }
            },
        };
        self.codes.try_reserve(1).map_err(|_| oom())?;
        self.codes.push(code);
        Ok(())
    }

    /// Appends a value whose code was interned under a caller-side key (an enum's OID, say).
    pub fn push_code(&mut self, code: u32) -> Result<()> {
        self.codes.try_reserve(1).map_err(|_| oom())?;
        self.codes.push(code);
        Ok(())
    }

    /// Interns `label` and returns its code without appending a cell.
    pub fn intern(&mut self, label: &str) -> Result<u32> {
        if let Some(&code) = self.index.get(label) {
            return Ok(code);
        }
        let code = u32::try_from(self.levels.len()).map_err(|_| oom())?;
        self.levels.push(label.to_owned());
        self.index.insert(label.to_owned(), code);
        Ok(code)
    }

    pub fn finish(self) -> ColumnValues {
        ColumnValues::Codes {
            codes: self.codes,
            levels: self.levels,
        }
    }
}

/// Appends to a numeric column, turning allocation failure into an error.
pub fn push_number(values: &mut Vec<f64>, value: f64) -> Result<()> {
    values.try_reserve(1).map_err(|_| oom())?;
    values.push(value);
    Ok(())
}

fn oom() -> PipelineError {
    PipelineError::OutOfMemory("storing the rows of source_query".into())
}

/// Everything the pipeline trains on: the feature columns and the target, rows aligned.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainingData {
    pub columns: Vec<InputColumn>,
    pub target_name: String,
    /// Never NULL: rows with a NULL target are skipped while reading and counted here.
    pub target: Vec<f64>,
    pub n_skipped: u64,
}

impl TrainingData {
    pub fn n_rows(&self) -> usize {
        self.target.len()
    }

    /// Checks that every column has one cell per target value.
    pub fn check_aligned(&self) -> Result<()> {
        match self.columns.iter().find(|c| c.len() != self.target.len()) {
            None => Ok(()),
            Some(c) => Err(PipelineError::SolverFailed {
                algorithm: "reader".into(),
                reason: format!(
                    "internal: column \"{}\" has {} values for {} rows",
                    c.name,
                    c.len(),
                    self.target.len()
                ),
            }),
        }
    }
}
