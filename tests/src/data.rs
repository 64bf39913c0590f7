//! Seeded random tensors in any GGUF encoding, for kernel parity tests.

use archrace_gguf::GgmlType;
use archrace_model::SplitMix64;
use half::{bf16, f16};

/// Byte ranges of the f16 scale fields inside one block of `ty`.
fn f16_fields(ty: GgmlType) -> &'static [usize] {
    match ty {
        GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q5_0 => &[0],
        GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4_K | GgmlType::Q5_K => &[0, 2],
        GgmlType::Q6_K => &[208],
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => &[],
    }
}

/// `rows x cols` weights in encoding `ty`: random values for float types; for block types random quant
/// bytes with every f16 scale set to a finite value in [-0.1, 0.1], so every bit pattern of the quants is
/// exercised without infinities.
pub fn random_encoded(ty: GgmlType, rows: usize, cols: usize, rng: &mut SplitMix64) -> Vec<u8> {
    let n = rows * cols;
    match ty {
        GgmlType::F32 => rng.vec(n, -1.0, 1.0).iter().flat_map(|v| v.to_le_bytes()).collect(),
        GgmlType::F16 => rng.vec(n, -1.0, 1.0).iter().flat_map(|&v| f16::from_f32(v).to_le_bytes()).collect(),
        GgmlType::BF16 => rng.vec(n, -1.0, 1.0).iter().flat_map(|&v| bf16::from_f32(v).to_le_bytes()).collect(),
        _ => {
            let bytes_len = ty.row_bytes(cols as u64).expect("cols of whole blocks") as usize * rows;
            let mut bytes: Vec<u8> = (0..bytes_len).map(|_| rng.next_u64() as u8).collect();
            for block in bytes.chunks_exact_mut(ty.type_size()) {
                for &at in f16_fields(ty) {
                    block[at..at + 2].copy_from_slice(&f16::from_f32(rng.uniform(-0.1, 0.1)).to_le_bytes());
                }
            }
            bytes
        }
    }
}
