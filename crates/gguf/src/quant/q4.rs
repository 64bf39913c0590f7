//! Q4_0 and Q4_1: blocks of 32 weights with 4-bit quants; element `j` is in the low nibble of byte `j`,
//! element `j + 16` in its high nibble (ggml `block_q4_0`, `block_q4_1`).

use super::f16_le;
use bytemuck::{Pod, Zeroable};

/// Weights per Q4 block.
pub const QK4: usize = 32;

/// ggml `block_q4_0` (18 bytes): `w = (q - 8) * d`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ4_0 {
    /// Scale, f16 bytes.
    pub d: [u8; 2],
    /// 32 nibbles.
    pub qs: [u8; QK4 / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_0>() == 18);

impl BlockQ4_0 {
    /// `dequantize_row_q4_0`.
    pub fn dequantize(&self, y: &mut [f32; QK4]) {
        let d = f16_le(self.d);
        for j in 0..QK4 / 2 {
            let x0 = (self.qs[j] & 0x0f) as i32 - 8;
            let x1 = (self.qs[j] >> 4) as i32 - 8;
            y[j] = x0 as f32 * d;
            y[j + QK4 / 2] = x1 as f32 * d;
        }
    }
}

/// ggml `block_q4_1` (20 bytes): `w = q * d + m`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ4_1 {
    /// Scale, f16 bytes.
    pub d: [u8; 2],
    /// Minimum, f16 bytes.
    pub m: [u8; 2],
    /// 32 nibbles.
    pub qs: [u8; QK4 / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4_1>() == 20);

impl BlockQ4_1 {
    /// `dequantize_row_q4_1`.
    pub fn dequantize(&self, y: &mut [f32; QK4]) {
        let (d, m) = (f16_le(self.d), f16_le(self.m));
        for j in 0..QK4 / 2 {
            let x0 = (self.qs[j] & 0x0f) as i32;
            let x1 = (self.qs[j] >> 4) as i32;
            y[j] = x0 as f32 * d + m;
            y[j + QK4 / 2] = x1 as f32 * d + m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HALF: [u8; 2] = 0x3800u16.to_le_bytes(); // 0.5
    const ONE: [u8; 2] = 0x3c00u16.to_le_bytes(); // 1.0

    fn nibbles() -> [u8; 16] {
        // low nibble j, high nibble 15 - j
        std::array::from_fn(|j| (j as u8) | ((15 - j as u8) << 4))
    }

    #[test]
    fn q4_0_hand_built() {
        let mut y = [0.0; 32];
        BlockQ4_0 { d: HALF, qs: nibbles() }.dequantize(&mut y);
        for j in 0..16 {
            assert_eq!(y[j], (j as f32 - 8.0) * 0.5, "low {j}");
            assert_eq!(y[j + 16], (15.0 - j as f32 - 8.0) * 0.5, "high {j}");
        }
    }

    #[test]
    fn q4_1_hand_built() {
        let mut y = [0.0; 32];
        BlockQ4_1 { d: HALF, m: ONE, qs: nibbles() }.dequantize(&mut y);
        for j in 0..16 {
            assert_eq!(y[j], j as f32 * 0.5 + 1.0, "low {j}");
            assert_eq!(y[j + 16], (15 - j) as f32 * 0.5 + 1.0, "high {j}");
        }
    }
}
