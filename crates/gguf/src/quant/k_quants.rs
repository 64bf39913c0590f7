//! K-quants: super-blocks of 256 weights (`QK_K`) split into sub-blocks with their own quantized scales
//! (ggml `block_q4_K`, `block_q5_K`, `block_q6_K`; `dequantize_row_q{4,5,6}_K` in `ggml-quants.c`).

use super::f16_le;
use bytemuck::{Pod, Zeroable};

/// Weights per super-block.
pub const QK_K: usize = 256;
/// Bytes of packed 6-bit scales and mins in Q4_K and Q5_K.
pub const K_SCALE_SIZE: usize = 12;

/// Scale and min of sub-block `j` (0..8) from the 12 packed bytes: `get_scale_min_k4`.
pub fn scale_min_k4(j: usize, q: &[u8; K_SCALE_SIZE]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        ((q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4))
    }
}

/// ggml `block_q4_K` (144 bytes): 8 sub-blocks of 32, `w = d * sc * q - dmin * m`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ4K {
    /// Super-block scale of the scales, f16 bytes.
    pub d: [u8; 2],
    /// Super-block scale of the mins, f16 bytes.
    pub dmin: [u8; 2],
    /// 6-bit scales and mins, packed.
    pub scales: [u8; K_SCALE_SIZE],
    /// 4-bit quants: 64 weights per 32 bytes (low nibbles, then high nibbles).
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ4K>() == 144);

impl BlockQ4K {
    /// `dequantize_row_q4_K`.
    pub fn dequantize(&self, y: &mut [f32; QK_K]) {
        let (d, min) = (f16_le(self.d), f16_le(self.dmin));
        for (chunk, (q, out)) in self.qs.chunks_exact(32).zip(y.chunks_exact_mut(64)).enumerate() {
            let (sc, m) = scale_min_k4(2 * chunk, &self.scales);
            let (d1, m1) = (d * sc as f32, min * m as f32);
            let (sc, m) = scale_min_k4(2 * chunk + 1, &self.scales);
            let (d2, m2) = (d * sc as f32, min * m as f32);
            for l in 0..32 {
                out[l] = d1 * (q[l] & 0x0f) as f32 - m1;
                out[l + 32] = d2 * (q[l] >> 4) as f32 - m2;
            }
        }
    }
}

/// ggml `block_q5_K` (176 bytes): as Q4_K with a fifth bit per weight in `qh`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ5K {
    /// Super-block scale of the scales, f16 bytes.
    pub d: [u8; 2],
    /// Super-block scale of the mins, f16 bytes.
    pub dmin: [u8; 2],
    /// 6-bit scales and mins, packed.
    pub scales: [u8; K_SCALE_SIZE],
    /// Fifth bits: bit `2c` / `2c + 1` of byte `l` for weight `l` of chunk `c`'s low / high half.
    pub qh: [u8; QK_K / 8],
    /// Low four bits.
    pub qs: [u8; QK_K / 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ5K>() == 176);

impl BlockQ5K {
    /// `dequantize_row_q5_K`.
    pub fn dequantize(&self, y: &mut [f32; QK_K]) {
        let (d, min) = (f16_le(self.d), f16_le(self.dmin));
        for (chunk, (ql, out)) in self.qs.chunks_exact(32).zip(y.chunks_exact_mut(64)).enumerate() {
            let (u1, u2) = (1u8 << (2 * chunk), 2u8 << (2 * chunk));
            let (sc, m) = scale_min_k4(2 * chunk, &self.scales);
            let (d1, m1) = (d * sc as f32, min * m as f32);
            let (sc, m) = scale_min_k4(2 * chunk + 1, &self.scales);
            let (d2, m2) = (d * sc as f32, min * m as f32);
            for l in 0..32 {
                let hi1 = if self.qh[l] & u1 != 0 { 16 } else { 0 };
                let hi2 = if self.qh[l] & u2 != 0 { 16 } else { 0 };
                out[l] = d1 * ((ql[l] & 0x0f) + hi1) as f32 - m1;
                out[l + 32] = d2 * ((ql[l] >> 4) + hi2) as f32 - m2;
            }
        }
    }
}

/// ggml `block_q6_K` (210 bytes): 16 sub-blocks of 16 with i8 scales, `w = d * sc * (q - 32)`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct BlockQ6K {
    /// Low four bits of the quants.
    pub ql: [u8; QK_K / 2],
    /// High two bits of the quants.
    pub qh: [u8; QK_K / 4],
    /// Sub-block scales.
    pub scales: [i8; QK_K / 16],
    /// Super-block scale, f16 bytes.
    pub d: [u8; 2],
}
const _: () = assert!(std::mem::size_of::<BlockQ6K>() == 210);

impl BlockQ6K {
    /// `dequantize_row_q6_K`.
    pub fn dequantize(&self, y: &mut [f32; QK_K]) {
        let d = f16_le(self.d);
        for half in 0..2 {
            let ql = &self.ql[64 * half..64 * half + 64];
            let qh = &self.qh[32 * half..32 * half + 32];
            let sc = &self.scales[8 * half..8 * half + 8];
            let out = &mut y[128 * half..128 * half + 128];
            for l in 0..32 {
                let is = l / 16;
                let q1 = ((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) as i32 - 32;
                let q2 = ((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                out[l] = d * sc[is] as f32 * q1 as f32;
                out[l + 32] = d * sc[is + 2] as f32 * q2 as f32;
                out[l + 64] = d * sc[is + 4] as f32 * q3 as f32;
                out[l + 96] = d * sc[is + 6] as f32 * q4 as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: [u8; 2] = 0x3c00u16.to_le_bytes();
    const HALF: [u8; 2] = 0x3800u16.to_le_bytes();

    /// Packs 8 six-bit (scale, min) pairs the way `get_scale_min_k4` unpacks them.
    fn pack_scales(sc: [u8; 8], m: [u8; 8]) -> [u8; 12] {
        let mut q = [0u8; 12];
        for j in 0..4 {
            q[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
            q[j + 4] = m[j] | ((m[j + 4] >> 4) << 6);
            q[j + 8] = (sc[j + 4] & 0x0f) | ((m[j + 4] & 0x0f) << 4);
        }
        q
    }

    #[test]
    fn scale_min_round_trips_all_six_bit_values() {
        for base in 0..64u8 {
            let sc: [u8; 8] = std::array::from_fn(|j| ((base as usize + 7 * j) % 64) as u8);
            let m: [u8; 8] = std::array::from_fn(|j| ((base as usize * 3 + 11 * j) % 64) as u8);
            let q = pack_scales(sc, m);
            for j in 0..8 {
                assert_eq!(scale_min_k4(j, &q), (sc[j], m[j]), "base {base} sub-block {j}");
            }
        }
    }

    #[test]
    fn q4_k_hand_built() {
        let sc: [u8; 8] = std::array::from_fn(|j| j as u8 + 1);
        let m: [u8; 8] = std::array::from_fn(|j| 63 - j as u8);
        let qs: [u8; 128] = std::array::from_fn(|i| (i % 16) as u8 | (((i + 5) % 16) as u8) << 4);
        let b = BlockQ4K { d: ONE, dmin: HALF, scales: pack_scales(sc, m), qs };
        let mut y = [0.0; QK_K];
        b.dequantize(&mut y);
        for (e, v) in y.iter().enumerate() {
            let (chunk, within) = (e / 64, e % 64);
            let sub = 2 * chunk + within / 32;
            let byte = qs[chunk * 32 + within % 32];
            let q = if within < 32 { byte & 0x0f } else { byte >> 4 };
            let expected = sc[sub] as f32 * q as f32 - 0.5 * m[sub] as f32;
            assert_eq!(*v, expected, "element {e}");
        }
    }

    #[test]
    fn q5_k_hand_built() {
        let sc: [u8; 8] = std::array::from_fn(|j| 2 * j as u8 + 1);
        let m: [u8; 8] = std::array::from_fn(|j| j as u8);
        let qs: [u8; 128] = std::array::from_fn(|i| (i * 7 % 256) as u8);
        let qh: [u8; 32] = std::array::from_fn(|l| (l * 37 % 256) as u8);
        let b = BlockQ5K { d: HALF, dmin: ONE, scales: pack_scales(sc, m), qh, qs };
        let mut y = [0.0; QK_K];
        b.dequantize(&mut y);
        for (e, v) in y.iter().enumerate() {
            let (chunk, within) = (e / 64, e % 64);
            let (l, high) = (within % 32, within >= 32);
            let sub = 2 * chunk + high as usize;
            let byte = qs[chunk * 32 + l];
            let low4 = if high { byte >> 4 } else { byte & 0x0f };
            let bit = (qh[l] >> (2 * chunk + high as usize)) & 1;
            let q = low4 + 16 * bit;
            let expected = 0.5 * sc[sub] as f32 * q as f32 - m[sub] as f32;
            assert_eq!(*v, expected, "element {e}");
        }
    }

    #[test]
    fn q6_k_hand_built() {
        // Build from target 6-bit values v(e), then check each element decodes to d * scale * (v - 32).
        let v: [u8; QK_K] = std::array::from_fn(|e| (e * 29 % 64) as u8);
        let scales: [i8; 16] = std::array::from_fn(|s| s as i8 - 8);
        let mut ql = [0u8; 128];
        let mut qh = [0u8; 64];
        for (e, &ve) in v.iter().enumerate() {
            let (half, r) = (e / 128, e % 128);
            let (quarter, l) = (r / 32, r % 32);
            let lo = ve & 0x0f;
            let hi = ve >> 4;
            let ql_index = 64 * half + l + if quarter % 2 == 1 { 32 } else { 0 };
            ql[ql_index] |= if quarter >= 2 { lo << 4 } else { lo };
            qh[32 * half + l] |= hi << (2 * quarter);
        }
        let b = BlockQ6K { ql, qh, scales, d: HALF };
        let mut y = [0.0; QK_K];
        b.dequantize(&mut y);
        for (e, (&ye, &ve)) in y.iter().zip(&v).enumerate() {
            let (half, r) = (e / 128, e % 128);
            let sub = 8 * half + (r % 32) / 16 + 2 * (r / 32);
            let expected = 0.5 * scales[sub] as f32 * (ve as i32 - 32) as f32;
            assert_eq!(ye, expected, "element {e}");
        }
    }
}
