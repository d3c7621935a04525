//! The stored pipeline and its byte format.
//!
//! Layout: an 24-byte header, then a bincode-2 payload of [`FittedPipeline`].
//!
//! | bytes | field |
//! |---|---|
//! | 0..8 | magic `PGRTRAIN` |
//! | 8..12 | format version, u32 little-endian |
//! | 12..20 | payload length, u64 little-endian |
//! | 20..24 | CRC-32 of the payload, u32 little-endian |
//!
//! Loading never trusts a length read from the bytes: the stated payload length must equal
//! what is actually there, the whole artifact must be under [`MAX_ARTIFACT_BYTES`], the
//! checksum must match, bincode decodes under the same byte limit, and the decoded
//! pipeline is checked for internal consistency before it can predict.

use serde::{Deserialize, Serialize};

use super::error::{PipelineError, Result};
use super::params::Algorithm;
use super::solver::LinearModel;
use super::transform::{Feature, Transform};

pub const MAGIC: &[u8; 8] = b"PGRTRAIN";
/// Bumped whenever [`FittedPipeline`]'s serialized shape changes.
pub const FORMAT_VERSION: u32 = 1;
const HEADER_LEN: usize = 24;
/// 64 MiB: a pipeline of 2048 encoded features with long category names stays far below,
/// and a corrupted length can never make a backend allocate more than this.
pub const MAX_ARTIFACT_BYTES: usize = 64 << 20;

/// A fitted pipeline: the transforms and the linear model over their output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedPipeline {
    pub target: String,
    pub algorithm: Algorithm,
    pub features: Vec<Feature>,
    pub model: LinearModel,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_ARTIFACT_BYTES>()
}

impl FittedPipeline {
    /// Total encoded width.
    pub fn n_encoded(&self) -> usize {
        self.features.iter().map(Feature::width).sum()
    }

    /// Serializes behind the header.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let payload = bincode::serde::encode_to_vec(self, config())
            .map_err(|e| PipelineError::CorruptArtifact(format!("cannot serialize: {e}")))?;
        let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        out.extend_from_slice(&payload);
        if out.len() > MAX_ARTIFACT_BYTES {
            return Err(PipelineError::CorruptArtifact(format!(
                "the pipeline serializes to {} bytes, over the {MAX_ARTIFACT_BYTES}-byte limit",
                out.len()
            )));
        }
        Ok(out)
    }

    /// Loads and validates an artifact.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let corrupt = |why: String| Err(PipelineError::CorruptArtifact(why));
        if bytes.len() > MAX_ARTIFACT_BYTES {
            return corrupt(format!("{} bytes is over the limit", bytes.len()));
        }
        if bytes.len() < HEADER_LEN {
            return corrupt(format!("{} bytes is shorter than the header", bytes.len()));
        }
        let (header, payload) = bytes.split_at(HEADER_LEN);
        if &header[0..8] != MAGIC {
            return corrupt("it does not start with the pg_retrain magic bytes".into());
        }
        let word = |range: std::ops::Range<usize>| -> [u8; 8] {
            let mut b = [0u8; 8];
            b[..range.len()].copy_from_slice(&header[range]);
            b
        };
        let version = u64::from_le_bytes(word(8..12));
        if version != u64::from(FORMAT_VERSION) {
            return corrupt(format!(
                "format version {version}; this build reads version {FORMAT_VERSION}"
            ));
        }
        let stated = u64::from_le_bytes(word(12..20));
        if stated != payload.len() as u64 {
            return corrupt(format!(
                "the header states a {stated}-byte payload but {} bytes follow",
                payload.len()
            ));
        }
        let crc = u64::from_le_bytes(word(20..24));
        if crc != u64::from(crc32fast::hash(payload)) {
            return corrupt("checksum mismatch".into());
        }
        let (pipeline, used): (Self, usize) = bincode::serde::decode_from_slice(payload, config())
            .map_err(|e| PipelineError::CorruptArtifact(format!("cannot decode: {e}")))?;
        if used != payload.len() {
            return corrupt(format!("{} trailing bytes", payload.len() - used));
        }
        pipeline.validate()?;
        Ok(pipeline)
    }

    /// Checks the invariants prediction relies on, so that no stored bytes can make it
    /// index out of bounds or divide by zero.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(PipelineError::CorruptArtifact(why));
        let mut offset = 0usize;
        for f in &self.features {
            if f.offset as usize != offset {
                return bad(format!("feature \"{}\" has offset {}", f.name, f.offset));
            }
            let finite = match &f.transform {
                Transform::Standardize { mean, scale } => {
                    mean.is_finite() && scale.is_finite() && *scale > 0.0
                }
                Transform::Binary { fill } => fill.is_finite(),
                Transform::OneHot { levels } => levels.len() < u32::MAX as usize / 2,
            };
            if !finite {
                return bad(format!("feature \"{}\" has an invalid transform", f.name));
            }
            offset += f.width();
        }
        if self.model.coef.len() != offset {
            return bad(format!(
                "{} coefficients for {offset} encoded features",
                self.model.coef.len()
            ));
        }
        if !self.model.intercept.is_finite() || self.model.coef.iter().any(|c| !c.is_finite()) {
            return bad("non-finite coefficients".into());
        }
        Ok(())
    }
}
