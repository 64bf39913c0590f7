//! Comparing a kernel's output with its CPU twin, with a failure that names the index and both values.

use std::fmt;

/// `|actual - expected| <= abs + rel * scale`, where `scale` is the largest `|expected|` of the whole
/// output (the "relative to the row's max |logit|" convention of the fixtures).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Absolute slack.
    pub abs: f32,
    /// Slack relative to the largest expected magnitude.
    pub rel: f32,
}

/// The first element outside the tolerance.
#[derive(Clone, Debug, PartialEq)]
pub struct Mismatch {
    /// Index of the element.
    pub index: usize,
    /// CPU value.
    pub expected: f32,
    /// GPU value.
    pub actual: f32,
    /// The bound it broke.
    pub allowed: f32,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "index {}: expected {} (cpu), got {} (gpu); |diff| {} > allowed {}",
            self.index,
            self.expected,
            self.actual,
            (self.actual - self.expected).abs(),
            self.allowed
        )
    }
}

/// Summary of a successful comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Agreement {
    /// Largest `|actual - expected|`.
    pub max_abs_diff: f32,
    /// `max_abs_diff` divided by the largest `|expected|` (0 when that is 0).
    pub max_rel_diff: f32,
}

/// Checks `actual` against `expected` element by element. Lengths must match; NaN never passes.
pub fn compare(expected: &[f32], actual: &[f32], tol: Tolerance) -> Result<Agreement, Mismatch> {
    if expected.len() != actual.len() {
        return Err(Mismatch {
            index: expected.len().min(actual.len()),
            expected: expected.len() as f32,
            actual: actual.len() as f32,
            allowed: 0.0,
        });
    }
    let scale = expected.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let allowed = tol.abs + tol.rel * scale;
    let mut max_abs_diff = 0.0f32;
    for (index, (&e, &a)) in expected.iter().zip(actual).enumerate() {
        let diff = (a - e).abs();
        if diff.is_nan() || diff > allowed {
            return Err(Mismatch { index, expected: e, actual: a, allowed });
        }
        max_abs_diff = max_abs_diff.max(diff);
    }
    let max_rel_diff = if scale > 0.0 { max_abs_diff / scale } else { 0.0 };
    Ok(Agreement { max_abs_diff, max_rel_diff })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOL: Tolerance = Tolerance { abs: 0.0, rel: 1e-3 };

    #[test]
    fn within_tolerance_passes() {
        let a = compare(&[1.0, -10.0], &[1.005, -10.0], TOL).unwrap();
        assert!((a.max_abs_diff - 0.005).abs() < 1e-6);
    }

    #[test]
    fn names_the_first_bad_index() {
        let m = compare(&[1.0, 2.0, 3.0], &[1.0, 2.5, 3.0], TOL).unwrap_err();
        assert_eq!(m.index, 1);
        assert!(m.to_string().contains("index 1: expected 2 (cpu), got 2.5 (gpu)"), "{m}");
    }

    #[test]
    fn nan_and_length_mismatch_fail() {
        assert!(compare(&[1.0], &[f32::NAN], TOL).is_err());
        assert!(compare(&[1.0], &[1.0, 2.0], TOL).is_err());
    }
}
