//! Typed training parameters: the `algorithm` name and the `params` jsonb of
//! `retrain.train_pipeline`, checked before any row is read.

use serde::{Deserialize, Serialize};

use super::error::{PipelineError, Result};

/// The keys `params` accepts, listed in every error about them.
pub const VALID_PARAM_KEYS: &str =
    "alpha, l1_ratio, max_iter, tol, max_categories, deploy_tolerance";

/// Default number of most frequent categories one text column keeps (the rest share "other").
pub const DEFAULT_MAX_CATEGORIES: usize = 32;

/// The largest `max_categories`: 1024 levels per column keeps one column's share of the Gram
/// matrix at 8 MiB.
pub const MAX_MAX_CATEGORIES: usize = 1024;

/// The supported models. All are linear in the encoded features, with an intercept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algorithm {
    /// Ordinary least squares; rank-deficient designs get the minimum-norm solution.
    Linear,
    /// L2 penalty `alpha/2 * ||w||²`.
    Ridge,
    /// L1 penalty `alpha * ||w||₁`.
    Lasso,
    /// `alpha * (l1_ratio * ||w||₁ + (1 - l1_ratio)/2 * ||w||²)`.
    ElasticNet,
}

impl Algorithm {
    pub const NAMES: &'static str = "linear, ridge, lasso, elastic_net";

    pub fn parse(name: &str) -> Result<Self> {
        match name.trim().to_ascii_lowercase().as_str() {
            "linear" | "ols" => Ok(Self::Linear),
            "ridge" => Ok(Self::Ridge),
            "lasso" => Ok(Self::Lasso),
            "elastic_net" | "elasticnet" => Ok(Self::ElasticNet),
            _ => Err(PipelineError::UnknownAlgorithm {
                name: name.to_string(),
                valid: Self::NAMES.to_string(),
            }),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Ridge => "ridge",
            Self::Lasso => "lasso",
            Self::ElasticNet => "elastic_net",
        }
    }

    fn is_penalized(self) -> bool {
        self != Self::Linear
    }
}

/// What a model needs to be fitted: the algorithm and its checked hyperparameters.
///
/// The penalized objective, the same as scikit-learn's and linfa-elasticnet's, is
/// `1/(2n) * ||y - b - Xw||² + alpha * l1_ratio * ||w||₁ + alpha * (1 - l1_ratio)/2 * ||w||²`
/// over the encoded features X (numeric columns standardized on the rows fitted).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub algorithm: Algorithm,
    /// Penalty strength, >= 0 (default 1.0 for penalized models, unused by `linear`).
    pub alpha: f64,
    /// Share of L1 in the penalty, in [0, 1]: 0 for ridge, 1 for lasso, default 0.5 otherwise.
    pub l1_ratio: f64,
    /// Coordinate-descent sweeps at most (lasso, elastic_net), default 1000.
    pub max_iter: u32,
    /// Coordinate descent stops when no coefficient moves more than `tol` (default 1e-7).
    pub tol: f64,
}

/// All checked parameters of one training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainParams {
    pub model: ModelSpec,
    /// Most frequent categories kept per text column, in 1..=1024 (default 32).
    pub max_categories: usize,
    /// Relative test-RMSE slack a challenger may have over the champion and still deploy.
    pub deploy_tolerance: f64,
}

/// The raw `params` object; unknown keys are refused by serde.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawParams {
    alpha: Option<f64>,
    l1_ratio: Option<f64>,
    max_iter: Option<u32>,
    tol: Option<f64>,
    max_categories: Option<usize>,
    deploy_tolerance: Option<f64>,
}

fn invalid(message: impl Into<String>) -> PipelineError {
    PipelineError::InvalidParams {
        message: message.into(),
        valid_keys: VALID_PARAM_KEYS.to_string(),
    }
}

impl TrainParams {
    /// Parses and checks `params` (a JSON object) for `algorithm`.
    pub fn from_json(algorithm: &str, params: &serde_json::Value) -> Result<Self> {
        let algorithm = Algorithm::parse(algorithm)?;
        if !params.is_object() {
            return Err(invalid(format!(
                "params must be a JSON object, got {params}"
            )));
        }
        let raw: RawParams =
            serde_json::from_value(params.clone()).map_err(|e| invalid(e.to_string()))?;
        Self::check(algorithm, raw)
    }

    fn check(algorithm: Algorithm, raw: RawParams) -> Result<Self> {
        if !algorithm.is_penalized() && (raw.alpha.is_some() || raw.l1_ratio.is_some()) {
            return Err(invalid(
                "alpha and l1_ratio apply to ridge, lasso and elastic_net, not to linear",
            ));
        }
        let fixed_ratio = match algorithm {
            Algorithm::Ridge => Some(0.0),
            Algorithm::Lasso => Some(1.0),
            _ => None,
        };
        if let (Some(fixed), Some(given)) = (fixed_ratio, raw.l1_ratio) {
            if given != fixed {
                return Err(invalid(format!(
                    "l1_ratio is {fixed} for {}; use elastic_net to choose it",
                    algorithm.name()
                )));
            }
        }
        let alpha = raw
            .alpha
            .unwrap_or(if algorithm.is_penalized() { 1.0 } else { 0.0 });
        if !(alpha.is_finite() && alpha >= 0.0) {
            return Err(invalid(format!(
                "alpha must be a finite number >= 0, got {alpha}"
            )));
        }
        let l1_ratio = fixed_ratio.or(raw.l1_ratio).unwrap_or(0.5);
        if !(0.0..=1.0).contains(&l1_ratio) {
            return Err(invalid(format!(
                "l1_ratio must be in [0, 1], got {l1_ratio}"
            )));
        }
        let max_iter = raw.max_iter.unwrap_or(1000);
        if max_iter == 0 {
            return Err(invalid("max_iter must be at least 1"));
        }
        let tol = raw.tol.unwrap_or(1e-7);
        if !(tol.is_finite() && tol > 0.0) {
            return Err(invalid(format!(
                "tol must be a finite number > 0, got {tol}"
            )));
        }
        let max_categories = raw.max_categories.unwrap_or(DEFAULT_MAX_CATEGORIES);
        if !(1..=MAX_MAX_CATEGORIES).contains(&max_categories) {
            return Err(invalid(format!(
                "max_categories must be in 1..={MAX_MAX_CATEGORIES}, got {max_categories}"
            )));
        }
        let deploy_tolerance = raw.deploy_tolerance.unwrap_or(0.0);
        if !(deploy_tolerance.is_finite() && deploy_tolerance >= 0.0) {
            return Err(invalid(format!(
                "deploy_tolerance must be a finite number >= 0, got {deploy_tolerance}"
            )));
        }
        Ok(Self {
            model: ModelSpec {
                algorithm,
                alpha,
                l1_ratio,
                max_iter,
                tol,
            },
            max_categories,
            deploy_tolerance,
        })
    }
}

impl TrainParams {
    /// The parameters as `params` accepts them for this algorithm, every default filled in:
    /// what is stored with a version, so that passing it back replays the run.
    pub fn to_json(&self) -> serde_json::Value {
        let mut out = serde_json::Map::new();
        let m = &self.model;
        if m.algorithm.is_penalized() {
            out.insert("alpha".into(), m.alpha.into());
        }
        if m.algorithm == Algorithm::ElasticNet {
            out.insert("l1_ratio".into(), m.l1_ratio.into());
        }
        out.insert("max_iter".into(), m.max_iter.into());
        out.insert("tol".into(), m.tol.into());
        out.insert("max_categories".into(), self.max_categories.into());
        out.insert("deploy_tolerance".into(), self.deploy_tolerance.into());
        out.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_per_algorithm() {
        let p = TrainParams::from_json("linear", &json!({})).unwrap();
        assert_eq!(p.model.algorithm, Algorithm::Linear);
        assert_eq!(p.max_categories, 32);
        let p = TrainParams::from_json("ridge", &json!({"alpha": 0.5})).unwrap();
        assert_eq!((p.model.alpha, p.model.l1_ratio), (0.5, 0.0));
        let p = TrainParams::from_json("lasso", &json!({})).unwrap();
        assert_eq!((p.model.alpha, p.model.l1_ratio), (1.0, 1.0));
        let p = TrainParams::from_json("elastic_net", &json!({"l1_ratio": 0.25})).unwrap();
        assert_eq!(p.model.l1_ratio, 0.25);
    }

    #[test]
    fn stored_params_replay() {
        for (algorithm, params) in [
            ("linear", json!({})),
            ("ridge", json!({"alpha": 0.3})),
            ("lasso", json!({"tol": 1e-5})),
            ("elastic_net", json!({"l1_ratio": 0.2, "max_categories": 7})),
        ] {
            let p = TrainParams::from_json(algorithm, &params).unwrap();
            assert_eq!(TrainParams::from_json(algorithm, &p.to_json()).unwrap(), p);
        }
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused() {
        for bad in [
            json!({"alpah": 1}),
            json!({"alpha": "big"}),
            json!({"max_categories": 0}),
            json!({"max_categories": 5000}),
            json!({"tol": -1.0}),
            json!([1, 2]),
        ] {
            let err = TrainParams::from_json("ridge", &bad).unwrap_err();
            assert!(
                matches!(err, PipelineError::InvalidParams { .. }),
                "{bad}: {err:?}"
            );
        }
        assert!(TrainParams::from_json("linear", &json!({"alpha": 1})).is_err());
        assert!(TrainParams::from_json("lasso", &json!({"l1_ratio": 0.5})).is_err());
        assert!(matches!(
            TrainParams::from_json("forest", &json!({})),
            Err(PipelineError::UnknownAlgorithm { .. })
        ));
    }
}
