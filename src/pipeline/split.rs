//! The seeded train/test split.
//!
//! Selection sampling (Knuth's algorithm S) walks the rows once and puts exactly
//! `round(n * test_frac)` of them in the test set, every subset of that size equally likely.
//! It needs no permutation array, and the same seed over the same rows in the same order
//! gives the same split, so any stored run can be replayed.

use super::error::{PipelineError, Result};

/// SplitMix64: tiny, fast and well mixed; the split needs reproducibility, not secrecy.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// Which rows are test rows.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub is_test: Vec<bool>,
    pub n_train: usize,
    pub n_test: usize,
}

/// Checks `test_frac` on its own, before any row is read.
pub fn check_test_frac(test_frac: f64) -> Result<()> {
    if test_frac.is_finite() && test_frac > 0.0 && test_frac < 1.0 {
        Ok(())
    } else {
        Err(PipelineError::InvalidTestFraction(test_frac))
    }
}

/// Splits `n` rows; both sides must get at least one row.
pub fn split_rows(n: usize, test_frac: f64, seed: u64) -> Result<Split> {
    check_test_frac(test_frac)?;
    let n_test = (n as f64 * test_frac).round() as usize;
    let n_train = n.saturating_sub(n_test);
    if n_test == 0 || n_train == 0 {
        return Err(PipelineError::TooFewRows {
            detail: format!(
                "{n} rows with test_frac {test_frac} give {n_train} train and {n_test} test \
                 rows; both need at least one"
            ),
        });
    }
    let mut is_test = Vec::new();
    is_test
        .try_reserve_exact(n)
        .map_err(|_| PipelineError::OutOfMemory("splitting the rows".into()))?;
    let mut rng = SplitMix64::new(seed);
    let mut still_needed = n_test;
    for seen in 0..n {
        let remaining = n - seen;
        let pick = still_needed > 0 && (remaining as f64) * rng.next_f64() < still_needed as f64;
        if pick {
            still_needed -= 1;
        }
        is_test.push(pick);
    }
    Ok(Split {
        is_test,
        n_train,
        n_test,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_sizes_and_reproducible() {
        for (n, frac) in [(10, 0.2), (1000, 0.25), (7, 0.5), (53940, 0.2)] {
            let a = split_rows(n, frac, 42).unwrap();
            assert_eq!(a.n_test, (n as f64 * frac).round() as usize);
            assert_eq!(a.is_test.iter().filter(|&&t| t).count(), a.n_test);
            assert_eq!(a.n_train + a.n_test, n);
            assert_eq!(a, split_rows(n, frac, 42).unwrap());
        }
        assert_ne!(
            split_rows(1000, 0.2, 1).unwrap(),
            split_rows(1000, 0.2, 2).unwrap()
        );
    }

    #[test]
    fn test_rows_are_spread_uniformly() {
        // Over many seeds every position is a test row about test_frac of the time.
        let (n, frac, seeds) = (20, 0.25, 4000u64);
        let mut hits = vec![0u32; n];
        for seed in 0..seeds {
            for (i, t) in split_rows(n, frac, seed)
                .unwrap()
                .is_test
                .iter()
                .enumerate()
            {
                hits[i] += u32::from(*t);
            }
        }
        for h in hits {
            let share = f64::from(h) / seeds as f64;
            assert!((share - frac).abs() < 0.03, "share {share}");
        }
    }

    #[test]
    fn bad_fractions_and_tiny_inputs() {
        for bad in [0.0, 1.0, -0.1, 1.5, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                split_rows(100, bad, 1),
                Err(PipelineError::InvalidTestFraction(_))
            ));
        }
        assert!(matches!(
            split_rows(1, 0.2, 1),
            Err(PipelineError::TooFewRows { .. })
        ));
        assert!(matches!(
            split_rows(2, 0.1, 1),
            Err(PipelineError::TooFewRows { .. })
        ));
    }
}
