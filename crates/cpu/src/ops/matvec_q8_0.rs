//! `y = W x` with `W` stored as GGUF Q8_0 blocks, row-major: the CPU twin of `shaders/matvec_q8_0.wgsl`.

use archrace_gguf::{BlockQ8_0, QK8_0};

/// `y (rows) = W (rows, cols) @ x (cols)`, where `w` holds `rows * cols / 32` Q8_0 blocks, row by row.
///
/// Per block: `d * sum_j qs[j] * x[j]` (the scale is applied once per block, as in ggml's dot products).
///
/// # Panics
/// If `cols` is not a multiple of 32 or the slice lengths disagree with `rows` and `cols`.
pub fn matvec_q8_0(w: &[BlockQ8_0], x: &[f32], rows: usize, cols: usize, y: &mut [f32]) {
    assert!(cols.is_multiple_of(QK8_0), "cols must be a multiple of {QK8_0}");
    let blocks_per_row = cols / QK8_0;
    assert_eq!(w.len(), rows * blocks_per_row, "weight blocks");
    assert_eq!(x.len(), cols, "x length");
    assert_eq!(y.len(), rows, "y length");
    for (r, out) in y.iter_mut().enumerate() {
        let row = &w[r * blocks_per_row..(r + 1) * blocks_per_row];
        let mut acc = 0.0f32;
        for (b, block) in row.iter().enumerate() {
            let xs = &x[b * QK8_0..(b + 1) * QK8_0];
            let dot: f32 = block.qs.iter().zip(xs).map(|(&q, &v)| q as f32 * v).sum();
            acc += block.scale() * dot;
        }
        *out = acc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use archrace_gguf::quant::q8_0::{dequantize_row, quantize_row};

    #[test]
    fn matches_dense_product_of_dequantized_weights() {
        let (rows, cols) = (3, 64);
        let dense: Vec<f32> = (0..rows * cols).map(|i| ((i * 7919) % 255) as f32 / 50.0 - 2.5).collect();
        let w = quantize_row(&dense).unwrap();
        let mut deq = vec![0.0; rows * cols];
        dequantize_row(&w, &mut deq);
        let x: Vec<f32> = (0..cols).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut y = vec![0.0; rows];
        matvec_q8_0(&w, &x, rows, cols, &mut y);
        for r in 0..rows {
            let expected: f32 = (0..cols).map(|c| deq[r * cols + c] * x[c]).sum();
            assert!((y[r] - expected).abs() < 1e-4, "row {r}: {} vs {expected}", y[r]);
        }
    }
}
