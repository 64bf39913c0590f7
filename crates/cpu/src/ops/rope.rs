//! Rotary position embedding, ggml's "normal" mode (adjacent pairs), on (T, heads * head_dim) in place,
//! and `rope_kv`, the CPU twin of `shaders/rope_kv.wgsl`.

use super::kv::kv_store;
use archrace_model::{KvType, RopeSpec};

/// Rotates pairs `(2i, 2i+1)` of the first `n_rot` dims of each head of token `t` by
/// `theta = pos_t * freq_scale * freq_base^(-2i/n_rot)` (RoFormer, Su et al. 2021, eq. 34). `theta` is built by
/// repeated multiplication, as `ggml_rope_cache_init` does, so results match llama.cpp bit for bit in f32.
pub fn rope(x: &mut [f32], n_heads: usize, head_dim: usize, positions: &[usize], spec: &RopeSpec) {
    for (tok, &pos) in x.chunks_exact_mut(n_heads * head_dim).zip(positions) {
        let cache = rope_table(pos, spec);
        for head in tok.chunks_exact_mut(head_dim) {
            for (i, &(cos, sin)) in cache.iter().enumerate() {
                let (x0, x1) = (head[2 * i], head[2 * i + 1]);
                head[2 * i] = x0 * cos - x1 * sin;
                head[2 * i + 1] = x0 * sin + x1 * cos;
            }
        }
    }
}

/// Makes one attention layer's q, k and v of tokens at `positions` ready for attention, as the `rope_kv`
/// kernel does in one dispatch: RoPE on q `(T, H D)` and k `(T, H_kv D)` (none without `spec`), then k and
/// v as a KV cache of type `kv` holds them ([`kv_store`]).
pub fn rope_kv(
    q: &mut [f32],
    k: &mut [f32],
    v: &mut [f32],
    (n_head, n_head_kv, head_dim): (usize, usize, usize),
    positions: &[usize],
    spec: Option<&RopeSpec>,
    kv: KvType,
) {
    if let Some(r) = spec {
        rope(q, n_head, head_dim, positions, r);
        rope(k, n_head_kv, head_dim, positions, r);
    }
    k.copy_from_slice(&kv_store(k, kv));
    v.copy_from_slice(&kv_store(v, kv));
}

/// `(cos theta_i, sin theta_i)` for the `n_rot / 2` pairs at position `pos`, computed as
/// `ggml_rope_cache_init` does. The GPU's `rope` kernel reads this table (uploaded with each step) rather
/// than evaluating sin and cos itself, whose precision varies between GPUs.
pub fn rope_table(pos: usize, spec: &RopeSpec) -> Vec<(f32, f32)> {
    let theta_scale = spec.freq_base.powf(-2.0 / spec.n_rot as f32);
    let mut theta_base = pos as f32;
    let mut cache = Vec::with_capacity(spec.n_rot / 2);
    for _ in 0..spec.n_rot / 2 {
        let theta = spec.freq_scale * theta_base;
        cache.push((theta.cos(), theta.sin()));
        theta_base *= theta_scale;
    }
    cache
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_zero_is_identity_and_norms_are_kept() {
        let spec = RopeSpec { n_rot: 4, freq_base: 10000.0, freq_scale: 1.0 };
        let orig = [1.0, 2.0, 3.0, 4.0];
        let mut x = orig;
        rope(&mut x, 1, 4, &[0], &spec);
        assert_eq!(x, orig);
        rope(&mut x, 1, 4, &[7], &spec);
        assert!(((x[0] * x[0] + x[1] * x[1]) - 5.0).abs() < 1e-5);
        // First pair rotates by 7 radians.
        assert!((x[0] - (7f32.cos() - 2.0 * 7f32.sin())).abs() < 1e-6);
    }
}
