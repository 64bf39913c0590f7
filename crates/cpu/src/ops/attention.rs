//! Attention of one query token over a KV cache: the CPU twin of the `attn_partial` + `attn_combine`
//! kernels (`shaders/attention.wgsl`).

use super::act::softmax;

/// `out (H, D) = softmax(q k^T / sqrt(D)) v` over the first `n_keys` cached positions (Vaswani et al.
/// 2017, eq. 1), with grouped-query heads: query head `h` reads KV head `h / (H / H_kv)`.
/// `q` is `(H, D)`; `k_cache` and `v_cache` are `(positions, H_kv, D)`.
pub fn attention(
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    n_keys: usize,
    h: usize,
    hkv: usize,
    d: usize,
) -> Vec<f32> {
    let scale = 1.0 / (d as f32).sqrt();
    let group = h / hkv;
    let mut out = vec![0.0f32; h * d];
    for head in 0..h {
        let kv_head = head / group;
        let qh = &q[head * d..][..d];
        let mut scores: Vec<f32> = (0..n_keys)
            .map(|j| {
                let kj = &k_cache[(j * hkv + kv_head) * d..][..d];
                qh.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * scale
            })
            .collect();
        softmax(&mut scores);
        let oh = &mut out[head * d..][..d];
        for (j, p) in scores.iter().enumerate() {
            let vj = &v_cache[(j * hkv + kv_head) * d..][..d];
            for (o, &vv) in oh.iter_mut().zip(vj) {
                *o += p * vv;
            }
        }
    }
    out
}
