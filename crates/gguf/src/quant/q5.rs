//! Q5_0 and Q5_1: blocks of 32 weights with 5-bit quants: four low bits as in Q4, the fifth bits of all 32
//! elements packed in a little-endian u32 `qh` (bit `j` for element `j`, bit `j + 16` for element `j + 16`).

use super::f16_le;
use bytemuck::{Pod, Zeroable};

/// Weights per Q5 block.
pub const QK5: usize = 32;

/// The two 5-bit quants of byte `j`, following `dequantize_row_q5_*`.
fn quants(qs: &[u8; 16], qh: u32, j: usize) -> (i32, i32) {
    let xh_0 = ((qh >> j) << 4) & 0x10;
    let xh_1 = (qh >> (j + 12)) & 0x10;
    (((qs[j] & 0x0f) as u32 | xh_0) as i32, ((qs[j] >> 4) as u32 | xh_1) as i32)
}

/// ggml `block_q5_0` (22 bytes): `w = (q - 16) * d`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ5_0 {
    /// Scale, f16 bytes.
    pub d: [u8; 2],
    /// Fifth bits, little-endian u32.
    pub qh: [u8; 4],
    /// Low four bits, as nibbles.
    pub qs: [u8; QK5 / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_0>() == 22);

impl BlockQ5_0 {
    /// `dequantize_row_q5_0`.
    pub fn dequantize(&self, y: &mut [f32; QK5]) {
        let d = f16_le(self.d);
        let qh = u32::from_le_bytes(self.qh);
        for j in 0..QK5 / 2 {
            let (x0, x1) = quants(&self.qs, qh, j);
            y[j] = (x0 - 16) as f32 * d;
            y[j + QK5 / 2] = (x1 - 16) as f32 * d;
        }
    }
}

/// ggml `block_q5_1` (24 bytes): `w = q * d + m`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ5_1 {
    /// Scale, f16 bytes.
    pub d: [u8; 2],
    /// Minimum, f16 bytes.
    pub m: [u8; 2],
    /// Fifth bits, little-endian u32.
    pub qh: [u8; 4],
    /// Low four bits, as nibbles.
    pub qs: [u8; QK5 / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5_1>() == 24);

impl BlockQ5_1 {
    /// `dequantize_row_q5_1`.
    pub fn dequantize(&self, y: &mut [f32; QK5]) {
        let (d, m) = (f16_le(self.d), f16_le(self.m));
        let qh = u32::from_le_bytes(self.qh);
        for j in 0..QK5 / 2 {
            let (x0, x1) = quants(&self.qs, qh, j);
            y[j] = x0 as f32 * d + m;
            y[j + QK5 / 2] = x1 as f32 * d + m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Element e has 5-bit value v(e) = e (0..31): low nibble e & 15, fifth bit e >> 4.
    fn encode() -> ([u8; 16], [u8; 4]) {
        let qs = std::array::from_fn(|j| (j as u8) | (((j + 16) as u8 & 0x0f) << 4));
        // Elements 16..31 have the fifth bit set: bits 16..31 of qh.
        (qs, 0xffff_0000u32.to_le_bytes())
    }

    #[test]
    fn q5_0_hand_built() {
        let (qs, qh) = encode();
        let mut y = [0.0; 32];
        BlockQ5_0 { d: 0x4000u16.to_le_bytes(), qh, qs }.dequantize(&mut y); // d = 2
        for (e, v) in y.iter().enumerate() {
            assert_eq!(*v, (e as f32 - 16.0) * 2.0, "element {e}");
        }
    }

    #[test]
    fn q5_1_hand_built() {
        let (qs, qh) = encode();
        let mut y = [0.0; 32];
        BlockQ5_1 { d: 0x3800u16.to_le_bytes(), m: 0xbc00u16.to_le_bytes(), qh, qs }.dequantize(&mut y); // 0.5, -1
        for (e, v) in y.iter().enumerate() {
            assert_eq!(*v, e as f32 * 0.5 - 1.0, "element {e}");
        }
    }
}
