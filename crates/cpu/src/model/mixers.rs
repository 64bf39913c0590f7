//! The mixers and feed-forwards, each on T tokens `(T, E)` with its state.
//!
//! Glossary: `T` tokens in this call, `E` embedding width, `H`/`H_kv` query/KV heads, `D` head dim,
//! `Di` Mamba inner width, `N` SSM state size, `R` dt rank.

use crate::ops::attention::attention as ops_attention;
use crate::ops::mamba::{mamba_conv, mamba_scan, ScanInputs};
use crate::ops::matmul::{matmul, to_f32};
use crate::ops::moe::{gate_up_swiglu, moe_route, routed_down};
use crate::ops::norm::rms_norm;
use crate::ops::rope::rope_kv;
use archrace_model::weights::{AttnWeights, MambaWeights};
use archrace_model::{AttnSpec, FfnWeights, KvType, MambaSpec};

/// Causal self-attention for tokens at positions `pos0..pos0 + T`, appending their keys and values to
/// the cache (Vaswani et al. 2017, eq. 1: `softmax(q k^T / sqrt(D)) v`), with grouped-query heads.
pub fn attention(
    s: &AttnSpec,
    w: &AttnWeights,
    x: &[f32],
    t: usize,
    pos0: usize,
    k_cache: &mut Vec<f32>,
    v_cache: &mut Vec<f32>,
) -> Vec<f32> {
    let (h, hkv, d) = (s.n_head, s.n_head_kv, s.head_dim);
    let mut q = matmul(&w.q, x, t); // (T, H * D)
    let mut k = matmul(&w.k, x, t); // (T, H_kv * D)
    let mut v = matmul(&w.v, x, t); // (T, H_kv * D)
    let positions: Vec<usize> = (pos0..pos0 + t).collect();
    rope_kv(&mut q, &mut k, &mut v, (h, hkv, d), &positions, s.rope.as_ref(), KvType::F32);
    k_cache.extend_from_slice(&k);
    v_cache.extend_from_slice(&v);
    let mut out = Vec::with_capacity(t * h * d); // (T, H * D)
    for tok in 0..t {
        let n_keys = pos0 + tok + 1; // causal: keys 0..=pos
        out.extend(ops_attention(&q[tok * h * d..][..h * d], k_cache, v_cache, n_keys, h, hkv, d));
    }
    matmul(&w.o, &out, t)
}

/// Mamba-1 mixer (Gu & Dao 2023, Algorithm 2, and the selective scan of section 3.2) over T tokens,
/// carrying the conv window and the SSM state across calls.
pub fn mamba(
    s: &MambaSpec,
    w: &MambaWeights,
    x: &[f32],
    t: usize,
    eps: f32,
    conv_state: &mut [f32],
    ssm_state: &mut [f32],
) -> Vec<f32> {
    let (di, n, r, k) = (s.d_inner, s.d_state, s.dt_rank, s.d_conv);
    let xz = matmul(&w.in_proj, x, t); // (T, 2 Di): x then z
    let conv_w = to_f32(&w.conv1d); // (Di, d_conv)
    let conv_b = to_f32(&w.conv1d_bias); // (Di)
    let mut xc = Vec::with_capacity(t * di); // (T, Di)
    for tok in 0..t {
        xc.extend(mamba_conv(&xz[tok * 2 * di..][..di], &conv_w, &conv_b, conv_state, k));
    }

    let xdbc = matmul(&w.x_proj, &xc, t); // (T, R + 2N): dt, B, C
    let (mut dt_in, mut b, mut c) = (Vec::with_capacity(t * r), Vec::with_capacity(t * n), Vec::with_capacity(t * n));
    for row in xdbc.chunks_exact(r + 2 * n) {
        dt_in.extend_from_slice(&row[..r]);
        b.extend_from_slice(&row[r..r + n]);
        c.extend_from_slice(&row[r + n..]);
    }
    if let Some([dt_norm, b_norm, c_norm]) = &w.dt_b_c_norms {
        // Jamba (Lieber et al. 2024, section 3): RMS norms on dt, B and C inside the Mamba layer.
        dt_in = rms_norm(&dt_in, &to_f32(dt_norm), eps);
        b = rms_norm(&b, &to_f32(b_norm), eps);
        c = rms_norm(&c, &to_f32(c_norm), eps);
    }
    let dt = matmul(&w.dt_proj, &dt_in, t); // (T, Di)
    let (dt_bias, a, d) = (to_f32(&w.dt_bias), to_f32(&w.a), to_f32(&w.d)); // (Di), (Di, N), (Di)
    let mut y = Vec::with_capacity(t * di);
    for tok in 0..t {
        let inputs = ScanInputs {
            dt: &dt[tok * di..][..di],
            dt_bias: &dt_bias,
            x: &xc[tok * di..][..di],
            z: &xz[tok * 2 * di + di..][..di],
            b: &b[tok * n..][..n],
            c: &c[tok * n..][..n],
            a: &a,
            d: &d,
        };
        y.extend(mamba_scan(&inputs, ssm_state));
    }
    matmul(&w.out_proj, &y, t)
}

/// The feed-forward: SwiGLU (Shazeer 2020, eq. 6) or a mixture of SwiGLU experts with a softmax router and
/// top-k selection whose weights are not renormalised (Jamba / Mixtral routing as llama.cpp runs it).
pub fn ffn(w: &FfnWeights, x: &[f32], t: usize, n_embd: usize, top_k: usize) -> Vec<f32> {
    match w {
        FfnWeights::None => vec![0.0; x.len()],
        FfnWeights::ChannelMix { .. } => {
            unreachable!("channel-mix carries token-shift state: forward calls rwkv::channel_mix")
        }
        FfnWeights::Dense { gate, up, down } => swiglu_ffn(gate, up, down, x, t),
        FfnWeights::Moe { router, gate_exps, up_exps, down_exps } => {
            let experts = router.rows();
            let hidden = gate_exps.rows() / experts;
            let logits = matmul(router, x, t); // (T, experts)
            let mut out = vec![0.0f32; t * n_embd];
            for tok in 0..t {
                let xt = &x[tok * n_embd..(tok + 1) * n_embd];
                let route = moe_route(&logits[tok * experts..(tok + 1) * experts], top_k);
                let acts: Vec<f32> = route
                    .iter()
                    .flat_map(|&(e, _)| {
                        let (gate, up) =
                            (gate_exps.row_range(e * hidden, hidden), up_exps.row_range(e * hidden, hidden));
                        gate_up_swiglu(&gate, &up, xt, 1)
                    })
                    .collect(); // (top_k, hidden)
                out[tok * n_embd..(tok + 1) * n_embd].copy_from_slice(&routed_down(down_exps, &route, &acts, n_embd));
            }
            out
        }
    }
}

fn swiglu_ffn(
    gate: &archrace_model::Tensor,
    up: &archrace_model::Tensor,
    down: &archrace_model::Tensor,
    x: &[f32],
    t: usize,
) -> Vec<f32> {
    matmul(down, &gate_up_swiglu(gate, up, x, t), t)
}
