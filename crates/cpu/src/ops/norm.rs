//! Normalisations, row by row over (T, n).

/// RMSNorm (Zhang & Sennrich 2019, eq. 4): `y = x / sqrt(mean(x^2) + eps) * w`. The sum of squares is
/// accumulated in f64 as in ggml's `ggml_compute_forward_rms_norm_f32`.
pub fn rms_norm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let n = w.len();
    let mut y = vec![0.0; x.len()];
    for (xs, ys) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
        let sum: f64 = xs.iter().map(|&v| (v as f64) * (v as f64)).sum();
        let scale = 1.0 / ((sum / n as f64) as f32 + eps).sqrt();
        for ((y, &x), &w) in ys.iter_mut().zip(xs).zip(w) {
            *y = x * scale * w;
        }
    }
    y
}

/// LayerNorm (Ba et al. 2016): `y = (x - mean) / sqrt(var + eps) * w + b`.
pub fn layer_norm(x: &[f32], w: &[f32], b: &[f32], eps: f32) -> Vec<f32> {
    let n = w.len();
    let mut y = vec![0.0; x.len()];
    for (xs, ys) in x.chunks_exact(n).zip(y.chunks_exact_mut(n)) {
        let mean = (xs.iter().map(|&v| v as f64).sum::<f64>() / n as f64) as f32;
        let var = (xs.iter().map(|&v| ((v - mean) as f64).powi(2)).sum::<f64>() / n as f64) as f32;
        let scale = 1.0 / (var + eps).sqrt();
        for (((y, &x), &w), &b) in ys.iter_mut().zip(xs).zip(w).zip(b) {
            *y = (x - mean) * scale * w + b;
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rms_norm_by_hand() {
        // mean of squares of [3, 4] is 12.5
        let y = rms_norm(&[3.0, 4.0], &[1.0, 2.0], 0.0);
        let s = 12.5f32.sqrt();
        assert_eq!(y, vec![3.0 / s, 8.0 / s]);
    }

    #[test]
    fn layer_norm_centres_and_scales() {
        let y = layer_norm(&[1.0, 3.0], &[1.0, 1.0], &[0.5, 0.5], 0.0);
        assert_eq!(y, vec![-0.5, 1.5]);
    }
}
