//! Statistics for the analytics: Pearson's product-moment correlation.

/// Why a correlation has no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undefined {
    /// Fewer than three pairs: any two points lie on a line.
    TooFewPairs,
    /// One of the variables is the same for every pair.
    NoVarianceX,
    NoVarianceY,
}

/// The least number of pairs a correlation is computed from.
pub const MIN_PAIRS: usize = 3;

/// Pearson's r of the pairs: `sum(dx * dy) / sqrt(sum(dx^2) * sum(dy^2))` with `dx`, `dy` the
/// deviations from the means (two passes, for numerical stability). Clamped to [-1, 1] against
/// rounding.
pub fn pearson(pairs: &[(f64, f64)]) -> Result<f64, Undefined> {
    if pairs.len() < MIN_PAIRS {
        return Err(Undefined::TooFewPairs);
    }
    let constant = |f: fn(&(f64, f64)) -> f64| {
        let first = f(&pairs[0]);
        pairs.iter().all(|p| f(p) == first)
    };
    if constant(|p| p.0) {
        return Err(Undefined::NoVarianceX);
    }
    if constant(|p| p.1) {
        return Err(Undefined::NoVarianceY);
    }
    let n = pairs.len() as f64;
    let mean_x = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (x, y) in pairs {
        let (dx, dy) = (x - mean_x, y - mean_y);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 {
        return Err(Undefined::NoVarianceX);
    }
    if syy == 0.0 {
        return Err(Undefined::NoVarianceY);
    }
    Ok((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_line_is_one_and_its_mirror_minus_one() {
        let up = [(0.0, 1.0), (0.5, 2.0), (1.0, 3.0)];
        assert!((pearson(&up).unwrap() - 1.0).abs() < 1e-12);
        let down = [(0.0, 3.0), (0.5, 2.0), (1.0, 1.0)];
        assert!((pearson(&down).unwrap() + 1.0).abs() < 1e-12);
    }

    #[test]
    fn matches_a_hand_computed_value() {
        // x = 1, 2, 3, 4; y = 2, 1, 4, 3: means 2.5 and 2.5; sum dxdy = 3, sum dx2 = sum dy2 = 5.
        let pairs = [(1.0, 2.0), (2.0, 1.0), (3.0, 4.0), (4.0, 3.0)];
        assert!((pearson(&pairs).unwrap() - 0.6).abs() < 1e-12);
    }

    #[test]
    fn undefined_cases_say_why() {
        assert_eq!(
            pearson(&[(1.0, 2.0), (2.0, 3.0)]),
            Err(Undefined::TooFewPairs)
        );
        assert_eq!(
            pearson(&[(0.5, 2.0), (0.5, 3.0), (0.5, 1.0)]),
            Err(Undefined::NoVarianceX)
        );
        assert_eq!(
            pearson(&[(0.1, 2.0), (0.2, 2.0), (0.3, 2.0)]),
            Err(Undefined::NoVarianceY)
        );
    }
}
