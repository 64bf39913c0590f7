//! Quantization block types, one module per ggml type, each with CPU dequantization written after
//! llama.cpp's `dequantize_row_*` (`ggml-quants.c`) so results are bit-exact.

pub mod k_quants;
pub mod q4;
pub mod q5;
pub mod q8_0;

use crate::GgmlType;
use half::{bf16, f16};

/// Dequantizes `bytes` (whole blocks of `ty`) into `out`, in ggml's element order.
///
/// # Panics
/// If `bytes` does not hold exactly the blocks for `out.len()` elements; the GGUF reader checks tensor
/// sizes, so this only fires on a caller's bug.
pub fn dequantize(ty: GgmlType, bytes: &[u8], out: &mut [f32]) {
    let blocks = out.len() / ty.block_size();
    assert!(
        out.len().is_multiple_of(ty.block_size()) && bytes.len() == blocks * ty.type_size(),
        "dequantize {ty}: {} bytes for {} elements",
        bytes.len(),
        out.len()
    );
    fn each<B: bytemuck::Pod, const N: usize>(bytes: &[u8], out: &mut [f32], f: impl Fn(&B, &mut [f32; N])) {
        let blocks: &[B] = bytemuck::cast_slice(bytes);
        for (b, o) in blocks.iter().zip(out.chunks_exact_mut(N)) {
            f(b, o.try_into().expect("chunk of N"));
        }
    }
    match ty {
        GgmlType::F32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = f32::from_le_bytes(c.try_into().expect("4 bytes"));
            }
        }
        GgmlType::F16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = f16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        GgmlType::BF16 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = bf16::from_le_bytes([c[0], c[1]]).to_f32();
            }
        }
        GgmlType::Q8_0 => each(bytes, out, q8_0::BlockQ8_0::dequantize),
        GgmlType::Q4_0 => each(bytes, out, q4::BlockQ4_0::dequantize),
        GgmlType::Q4_1 => each(bytes, out, q4::BlockQ4_1::dequantize),
        GgmlType::Q5_0 => each(bytes, out, q5::BlockQ5_0::dequantize),
        GgmlType::Q5_1 => each(bytes, out, q5::BlockQ5_1::dequantize),
        GgmlType::Q4_K => each(bytes, out, k_quants::BlockQ4K::dequantize),
        GgmlType::Q5_K => each(bytes, out, k_quants::BlockQ5K::dequantize),
        GgmlType::Q6_K => each(bytes, out, k_quants::BlockQ6K::dequantize),
    }
}

/// The index of the first element of `bytes` (whole blocks of `ty`) that is a NaN or an infinity: a float
/// element, or the first element of a block whose f16 scale or minimum is one (every quantized value of a
/// block with finite scales is finite). `None` when all are finite.
pub fn first_non_finite(ty: GgmlType, bytes: &[u8]) -> Option<usize> {
    // An f16 or bf16 or f32 is not finite exactly when its exponent bits are all ones.
    let f16_bad = |b: [u8; 2]| u16::from_le_bytes(b) & 0x7c00 == 0x7c00;
    fn blocks<B: bytemuck::Pod>(bytes: &[u8], n: usize, bad: impl Fn(&B) -> bool) -> Option<usize> {
        let blocks: &[B] = bytemuck::cast_slice(bytes);
        blocks.iter().position(bad).map(|i| i * n)
    }
    match ty {
        GgmlType::F32 => bytes
            .chunks_exact(4)
            .position(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")) & 0x7f80_0000 == 0x7f80_0000),
        GgmlType::F16 => bytes.chunks_exact(2).position(|c| f16_bad([c[0], c[1]])),
        GgmlType::BF16 => bytes.chunks_exact(2).position(|c| u16::from_le_bytes([c[0], c[1]]) & 0x7f80 == 0x7f80),
        GgmlType::Q8_0 => blocks(bytes, 32, |b: &q8_0::BlockQ8_0| f16_bad(b.d)),
        GgmlType::Q4_0 => blocks(bytes, 32, |b: &q4::BlockQ4_0| f16_bad(b.d)),
        GgmlType::Q4_1 => blocks(bytes, 32, |b: &q4::BlockQ4_1| f16_bad(b.d) || f16_bad(b.m)),
        GgmlType::Q5_0 => blocks(bytes, 32, |b: &q5::BlockQ5_0| f16_bad(b.d)),
        GgmlType::Q5_1 => blocks(bytes, 32, |b: &q5::BlockQ5_1| f16_bad(b.d) || f16_bad(b.m)),
        GgmlType::Q4_K => blocks(bytes, 256, |b: &k_quants::BlockQ4K| f16_bad(b.d) || f16_bad(b.dmin)),
        GgmlType::Q5_K => blocks(bytes, 256, |b: &k_quants::BlockQ5K| f16_bad(b.d) || f16_bad(b.dmin)),
        GgmlType::Q6_K => blocks(bytes, 256, |b: &k_quants::BlockQ6K| f16_bad(b.d)),
    }
}

/// An f16 stored as little-endian bytes, as f32.
pub(crate) fn f16_le(b: [u8; 2]) -> f32 {
    f16::from_le_bytes(b).to_f32()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_and_scales_are_found() {
        let f32s: Vec<u8> = [1.0f32, f32::MAX, f32::NAN].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(first_non_finite(GgmlType::F32, &f32s), Some(2));
        assert_eq!(first_non_finite(GgmlType::F32, &f32s[..8]), None);
        let f16s: Vec<u8> = [0x3c00u16, 0x7bff, 0xfc00].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(first_non_finite(GgmlType::F16, &f16s), Some(2), "-inf");
        let bf16s: Vec<u8> = [0x3f80u16, 0x7fc0].iter().flat_map(|v| v.to_le_bytes()).collect();
        assert_eq!(first_non_finite(GgmlType::BF16, &bf16s), Some(1), "NaN");
        // Two Q8_0 blocks; the second's scale becomes +inf.
        let mut q = vec![0u8; 2 * 34];
        q[..2].copy_from_slice(&0x3c00u16.to_le_bytes());
        assert_eq!(first_non_finite(GgmlType::Q8_0, &q), None);
        q[34..36].copy_from_slice(&0x7c00u16.to_le_bytes());
        assert_eq!(first_non_finite(GgmlType::Q8_0, &q), Some(32));
        // Q6_K keeps its scale last.
        let mut k = vec![0u8; 210];
        assert_eq!(first_non_finite(GgmlType::Q6_K, &k), None);
        k[208..].copy_from_slice(&0x7e00u16.to_le_bytes());
        assert_eq!(first_non_finite(GgmlType::Q6_K, &k), Some(0));
    }

    #[test]
    fn float_encodings_by_hand() {
        // f16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff (largest finite), 2^-24 = 0x0001 (smallest subnormal)
        let bytes: Vec<u8> = [0x3c00u16, 0xc000, 0x7bff, 0x0001].iter().flat_map(|v| v.to_le_bytes()).collect();
        let mut out = [0.0; 4];
        dequantize(GgmlType::F16, &bytes, &mut out);
        assert_eq!(out, [1.0, -2.0, 65504.0, 2f32.powi(-24)]);
        // bf16 is the top half of an f32: 1.0 = 0x3f80, -0.5 = 0xbf00, 3.0 = 0x4040, 2^100 = 0x7180
        let bytes: Vec<u8> = [0x3f80u16, 0xbf00, 0x4040, 0x7180].iter().flat_map(|v| v.to_le_bytes()).collect();
        dequantize(GgmlType::BF16, &bytes, &mut out);
        assert_eq!(out, [1.0, -0.5, 3.0, 2f32.powi(100)]);
        let bytes: Vec<u8> = [1.5f32, -0.0, 7.25, 1e30].iter().flat_map(|v| v.to_le_bytes()).collect();
        dequantize(GgmlType::F32, &bytes, &mut out);
        assert_eq!(out, [1.5, -0.0, 7.25, 1e30]);
    }
}
