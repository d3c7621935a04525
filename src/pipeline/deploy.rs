//! The champion/challenger rule: when a new version replaces the one being served.

use serde::Serialize;

use super::error::{PipelineError, Result};

/// How `train_pipeline` treats the version it just trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployMode {
    /// Deploy only if the challenger's test RMSE is not worse than the champion's on the
    /// same test rows by more than the relative tolerance.
    Auto,
    Always,
    Never,
}

impl DeployMode {
    pub fn parse(mode: &str) -> Result<Self> {
        match mode.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "always" => Ok(Self::Always),
            "never" => Ok(Self::Never),
            _ => Err(PipelineError::InvalidParams {
                message: format!("deploy must be auto, always or never, got \"{mode}\""),
                valid_keys: "deploy: auto, always, never".into(),
            }),
        }
    }
}

/// What is known about the champion when a challenger arrives.
#[derive(Debug, Clone, PartialEq)]
pub enum Champion {
    /// The name has no deployed version: the challenger is the first.
    None,
    /// The champion's RMSE on the challenger's test rows.
    Scored { version: i32, rmse: f64 },
    /// The champion cannot score these rows (its columns are gone, say).
    Unscorable { version: i32, why: String },
}

/// The decision and the sentence that explains it, stored with the version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Decision {
    pub deploy: bool,
    pub reason: String,
}

/// Applies the rule. The first version of a name always deploys, whatever the mode.
pub fn decide(
    mode: DeployMode,
    champion: &Champion,
    challenger_rmse: f64,
    tolerance: f64,
) -> Decision {
    let (deploy, reason) = match (champion, mode) {
        (Champion::None, _) => (true, "first deployed version of this name".to_string()),
        (_, DeployMode::Always) => (true, "deploy => always".to_string()),
        (_, DeployMode::Never) => (false, "deploy => never".to_string()),
        (Champion::Unscorable { version, why }, DeployMode::Auto) => (
            true,
            format!("champion version {version} cannot score the new test rows ({why})"),
        ),
        (Champion::Scored { version, rmse }, DeployMode::Auto) => {
            let limit = rmse * (1.0 + tolerance);
            if challenger_rmse <= limit {
                (
                    true,
                    format!(
                        "challenger test RMSE {challenger_rmse:.6} <= champion version \
                         {version}'s {rmse:.6} on the same rows (tolerance {tolerance})"
                    ),
                )
            } else {
                (
                    false,
                    format!(
                        "challenger test RMSE {challenger_rmse:.6} > champion version \
                         {version}'s {rmse:.6} on the same rows (tolerance {tolerance})"
                    ),
                )
            }
        }
    };
    Decision { deploy, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_keeps_a_better_champion_and_takes_a_better_challenger() {
        let champ = Champion::Scored {
            version: 3,
            rmse: 10.0,
        };
        assert!(decide(DeployMode::Auto, &champ, 9.0, 0.0).deploy);
        assert!(decide(DeployMode::Auto, &champ, 10.0, 0.0).deploy);
        assert!(!decide(DeployMode::Auto, &champ, 10.5, 0.0).deploy);
        assert!(decide(DeployMode::Auto, &champ, 10.5, 0.06).deploy);
        assert!(!decide(DeployMode::Auto, &champ, 10.7, 0.06).deploy);
    }

    #[test]
    fn first_version_always_deploys_and_modes_override() {
        assert!(decide(DeployMode::Never, &Champion::None, 99.0, 0.0).deploy);
        let champ = Champion::Scored {
            version: 1,
            rmse: 1.0,
        };
        assert!(decide(DeployMode::Always, &champ, 99.0, 0.0).deploy);
        assert!(!decide(DeployMode::Never, &champ, 0.1, 0.0).deploy);
        let gone = Champion::Unscorable {
            version: 1,
            why: "no column x".into(),
        };
        assert!(decide(DeployMode::Auto, &gone, 5.0, 0.0).deploy);
        assert!(DeployMode::parse("sometimes").is_err());
    }
}
