//! Q8_0: blocks of 32 weights, each an `i8` times one f16 scale per block.
//!
//! Layout (ggml `block_q8_0`, 34 bytes): `d: f16` then `qs: [i8; 32]`; weight `j` is `qs[j] * d`.
//! Reference: llama.cpp `ggml-quants.c`, `quantize_row_q8_0_ref` and `dequantize_row_q8_0`.

use bytemuck::{Pod, Zeroable};
use half::f16;

/// Weights per Q8_0 block.
pub const QK8_0: usize = 32;

/// One Q8_0 block exactly as stored in a GGUF file. The scale is kept as raw little-endian f16 bytes so the
/// struct has alignment 1 and any byte slice of whole blocks can be viewed as `&[BlockQ8_0]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ8_0 {
    /// Scale `d`, f16 little-endian bytes.
    pub d: [u8; 2],
    /// Quantized weights.
    pub qs: [i8; QK8_0],
}

const _: () = assert!(std::mem::size_of::<BlockQ8_0>() == 34);
const _: () = assert!(std::mem::align_of::<BlockQ8_0>() == 1);

impl BlockQ8_0 {
    /// The block scale as f32.
    pub fn scale(&self) -> f32 {
        f16::from_le_bytes(self.d).to_f32()
    }

    /// Quantizes 32 values like `quantize_row_q8_0_ref`: `d = max|x| / 127`, `q = round(x / d)`.
    pub fn quantize(x: &[f32; QK8_0]) -> Self {
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        let mut qs = [0i8; QK8_0];
        for (q, &v) in qs.iter_mut().zip(x) {
            // roundf rounds half away from zero, as Rust's f32::round does.
            *q = (v * id).round() as i8;
        }
        Self { d: f16::from_f32(d).to_le_bytes(), qs }
    }

    /// Dequantizes like `dequantize_row_q8_0`: `y[j] = qs[j] * d`.
    pub fn dequantize(&self, out: &mut [f32; QK8_0]) {
        let d = self.scale();
        for (o, &q) in out.iter_mut().zip(&self.qs) {
            *o = q as f32 * d;
        }
    }
}

/// Quantizes a row whose length is a multiple of [`QK8_0`]. Returns `None` otherwise.
pub fn quantize_row(x: &[f32]) -> Option<Vec<BlockQ8_0>> {
    if !x.len().is_multiple_of(QK8_0) {
        return None;
    }
    Some(x.chunks_exact(QK8_0).map(|c| BlockQ8_0::quantize(c.try_into().expect("chunk of QK8_0"))).collect())
}

/// Dequantizes whole blocks into `out` (`out.len() == blocks.len() * QK8_0`).
pub fn dequantize_row(blocks: &[BlockQ8_0], out: &mut [f32]) {
    assert_eq!(out.len(), blocks.len() * QK8_0, "output length must be blocks * 32");
    for (b, o) in blocks.iter().zip(out.chunks_exact_mut(QK8_0)) {
        b.dequantize(o.try_into().expect("chunk of QK8_0"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_built_block_dequantizes_to_q_times_d() {
        // d = 0.5 (f16 0x3800), q = -16..16
        let mut qs = [0i8; QK8_0];
        for (j, q) in qs.iter_mut().enumerate() {
            *q = j as i8 - 16;
        }
        let block = BlockQ8_0 { d: 0x3800u16.to_le_bytes(), qs };
        let mut out = [0f32; QK8_0];
        block.dequantize(&mut out);
        for (j, v) in out.iter().enumerate() {
            assert_eq!(*v, (j as f32 - 16.0) * 0.5, "index {j}");
        }
    }

    #[test]
    fn bytes_view_as_blocks_in_place() {
        let mut bytes = vec![0u8; 34 * 2];
        bytes[0..2].copy_from_slice(&0x3c00u16.to_le_bytes()); // d = 1.0
        bytes[2] = 0xff; // qs[0] = -1
        bytes[34..36].copy_from_slice(&0x4000u16.to_le_bytes()); // d = 2.0
        bytes[36 + 31] = 5; // qs[31] of block 1
        let blocks: &[BlockQ8_0] = bytemuck::cast_slice(&bytes);
        assert_eq!(blocks[0].scale(), 1.0);
        assert_eq!(blocks[0].qs[0], -1);
        assert_eq!(blocks[1].scale(), 2.0);
        assert_eq!(blocks[1].qs[31], 5);
    }

    #[test]
    fn quantize_matches_reference_rounding_and_round_trips_within_half_a_step() {
        let x: Vec<f32> = (0..64).map(|i| ((i * 37 % 64) as f32 - 31.5) / 7.0).collect();
        let blocks = quantize_row(&x).unwrap();
        // The block max maps to +-127 exactly.
        assert_eq!(blocks[0].qs.iter().map(|q| q.unsigned_abs()).max(), Some(127));
        let mut y = vec![0f32; 64];
        dequantize_row(&blocks, &mut y);
        for (i, (a, b)) in x.iter().zip(&y).enumerate() {
            let d = blocks[i / QK8_0].scale();
            // Rounding error <= d/2, plus f16 rounding of d itself scaled by |q| <= 127.
            assert!((a - b).abs() <= d * 0.5 + 127.0 * d * 1e-3, "index {i}: {a} vs {b}");
        }
    }

    #[test]
    fn zero_block_has_zero_scale() {
        let b = BlockQ8_0::quantize(&[0.0; QK8_0]);
        assert_eq!(b.scale(), 0.0);
        assert!(b.qs.iter().all(|&q| q == 0));
    }

    #[test]
    fn rows_not_a_multiple_of_32_are_rejected() {
        assert!(quantize_row(&[1.0; 33]).is_none());
    }
}
