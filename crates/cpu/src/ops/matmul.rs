//! `y = x W^T` for a GGUF-encoded weight: the CPU twin of the `matvec_*` kernels, for T tokens at once.

use archrace_gguf::dequantize;
use archrace_model::Tensor;

/// `y (T, rows) = x (T, cols) @ W^T`, with `W` of ggml dims `[cols, rows]` in any supported encoding.
/// Each weight row is dequantized once (as llama.cpp's `dequantize_row_*`) and dotted with every token.
pub fn matmul(w: &Tensor, x: &[f32], t: usize) -> Vec<f32> {
    let (cols, rows) = (w.row_len(), w.rows());
    assert_eq!(x.len(), t * cols, "matmul {}: x is {} values, not {t} x {cols}", w.name, x.len());
    let rb = w.row_bytes();
    let mut row = vec![0.0f32; cols];
    let mut y = vec![0.0f32; t * rows];
    for r in 0..rows {
        dequantize(w.ty, &w.data[r * rb..(r + 1) * rb], &mut row);
        for (tok, xs) in x.chunks_exact(cols).enumerate() {
            y[tok * rows + r] = dot(&row, xs);
        }
    }
    y
}

/// One product of a `matvec_multi` dispatch: `w`'s rows against `x[x_off..][..cols]`, then the
/// [`pointwise`](super::pointwise::pointwise) op `op` (11: as computed) with a per-row `bias` where the op
/// takes one.
#[derive(Clone, Copy)]
pub struct MultiSegment<'a> {
    /// The matrix.
    pub w: &'a Tensor<'a>,
    /// Where its input starts in `x`.
    pub x_off: usize,
    /// The activation, as a pointwise op number.
    pub op: u32,
    /// Per-row bias `(rows)`.
    pub bias: Option<&'a [f32]>,
}

/// Several one-token products written one after another (the twin of `matvec_multi`): RWKV-7's r, k and
/// v from their lerped inputs, or its LoRA halves, each with its activation.
pub fn matvec_multi(segments: &[MultiSegment], x: &[f32]) -> Vec<f32> {
    let mut y = Vec::new();
    for s in segments {
        let product = matmul(s.w, &x[s.x_off..][..s.w.row_len()], 1);
        let bias = s.bias.unwrap_or(&product);
        let mut out = vec![0.0; product.len()];
        super::pointwise::pointwise(s.op, &product, bias, bias, &mut out);
        y.extend(out);
    }
    y
}

/// Dot product with four independent accumulators (the order of additions is fixed, so results are
/// reproducible; the GPU sums in another order and is compared with a tolerance).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// A whole tensor as f32 (for small vectors: norms, biases, `A`, `D`).
pub fn to_f32(w: &Tensor) -> Vec<f32> {
    let mut out = vec![0.0; w.n_elements()];
    dequantize(w.ty, w.data, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use archrace_gguf::GgmlType;

    #[test]
    fn f32_matmul_by_hand() {
        // W (rows 2, cols 3) = [[1,2,3],[4,5,6]]; x = [[1,0,-1],[2,2,2]]
        let data: Vec<f32> = vec![1., 2., 3., 4., 5., 6.];
        let w = Tensor { name: "w".into(), ty: GgmlType::F32, dims: vec![3, 2], data: bytemuck::cast_slice(&data) };
        assert_eq!(matmul(&w, &[1., 0., -1., 2., 2., 2.], 2), vec![-2., -2., 12., 30.]);
    }

    #[test]
    fn dot_handles_tails() {
        let a: Vec<f32> = (1..=7).map(|v| v as f32).collect();
        assert_eq!(dot(&a, &a), 140.0);
    }
}
