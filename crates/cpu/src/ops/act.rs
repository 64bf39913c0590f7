//! Element-wise activations and the softmax.

/// SiLU / swish: `x * sigmoid(x)` (Elfwing et al. 2017).
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// Softplus as ggml computes it: `log(1 + e^x)`, or `x` above 20.
pub fn softplus(x: f32) -> f32 {
    if x <= 20.0 {
        x.exp().ln_1p()
    } else {
        x
    }
}

/// In-place numerically stable softmax: `e^(x - max) / sum`.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0f32;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_stable_and_normalised() {
        let mut x = [1000.0, 1000.0, f32::NEG_INFINITY];
        softmax(&mut x);
        assert_eq!(x, [0.5, 0.5, 0.0]);
    }

    #[test]
    fn activations_by_hand() {
        assert_eq!(silu(0.0), 0.0);
        assert!((softplus(0.0) - std::f32::consts::LN_2).abs() < 1e-7);
        assert_eq!(softplus(30.0), 30.0);
    }
}
