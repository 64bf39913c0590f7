//! The KV cache's element type: how `rope_kv` (`shaders/rope_kv.wgsl`) stores keys and values.

use archrace_model::KvType;
use half::f16;

/// Keys or values as a cache of element type `kv` holds them: f32 unchanged; f16 rounded to the nearest
/// f16 (as llama.cpp's `type_k = f16` stores them, and WGSL's `pack2x16float`).
pub fn kv_store(x: &[f32], kv: KvType) -> Vec<f32> {
    match kv {
        KvType::F32 => x.to_vec(),
        KvType::F16 => x.iter().map(|&v| f16::from_f32(v).to_f32()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_rounds_to_the_nearest_and_f32_keeps_every_bit() {
        // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties to even (1); 1 + 3 * 2^-12 rounds up.
        let x = [1.0 + 2f32.powi(-11), 1.0 + 3.0 * 2f32.powi(-12), 0.1, -65504.0];
        assert_eq!(kv_store(&x, KvType::F16), vec![1.0, 1.0 + 2f32.powi(-10), 0.099975586, -65504.0]);
        assert_eq!(kv_store(&x, KvType::F32), x.to_vec());
    }
}
