//! The mixers and feed-forwards, each on T tokens `(T, E)` with its state.
//!
//! Glossary: `T` tokens in this call, `E` embedding width, `H`/`H_kv` query/KV heads, `D` head dim,
//! `Di` Mamba inner width, `N` SSM state size, `R` dt rank.

use crate::ops::act::{silu, softmax, softplus};
use crate::ops::matmul::{matmul, to_f32};
use crate::ops::norm::rms_norm;
use crate::ops::rope::rope;
use archrace_model::weights::{AttnWeights, MambaWeights};
use archrace_model::{AttnSpec, FfnWeights, MambaSpec};

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
    let v = matmul(&w.v, x, t); // (T, H_kv * D)
    if let Some(r) = &s.rope {
        let positions: Vec<usize> = (pos0..pos0 + t).collect();
        rope(&mut q, h, d, &positions, r);
        rope(&mut k, hkv, d, &positions, r);
    }
    k_cache.extend_from_slice(&k);
    v_cache.extend_from_slice(&v);
    let scale = 1.0 / (d as f32).sqrt();
    let group = h / hkv;
    let mut out = vec![0.0f32; t * h * d]; // (T, H * D)
    for tok in 0..t {
        let n_keys = pos0 + tok + 1; // causal: keys 0..=pos
        for head in 0..h {
            let kv_head = head / group;
            let qh = &q[(tok * h + head) * d..][..d];
            let mut scores: Vec<f32> = (0..n_keys)
                .map(|j| {
                    let kj = &k_cache[(j * hkv + kv_head) * d..][..d];
                    qh.iter().zip(kj).map(|(a, b)| a * b).sum::<f32>() * scale
                })
                .collect();
            softmax(&mut scores);
            let oh = &mut out[(tok * h + head) * d..][..d];
            for (j, p) in scores.iter().enumerate() {
                let vj = &v_cache[(j * hkv + kv_head) * d..][..d];
                for (o, &vv) in oh.iter_mut().zip(vj) {
                    *o += p * vv;
                }
            }
        }
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
                                         // Causal depthwise conv over [conv_state (d_conv - 1 rows); x rows], then SiLU.
    let mut window: Vec<f32> = conv_state.to_vec(); // (d_conv - 1 + T, Di)
    for tok in 0..t {
        window.extend_from_slice(&xz[tok * 2 * di..tok * 2 * di + di]);
    }
    let mut xc = vec![0.0f32; t * di]; // (T, Di)
    for tok in 0..t {
        for c in 0..di {
            let mut acc = 0.0f32;
            for j in 0..k {
                acc += window[(tok + j) * di + c] * conv_w[c * k + j];
            }
            xc[tok * di + c] = silu(acc + conv_b[c]);
        }
    }
    conv_state.copy_from_slice(&window[t * di..]);

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
    let mut dt = matmul(&w.dt_proj, &dt_in, t); // (T, Di)
    let dt_bias = to_f32(&w.dt_bias);
    for row in dt.chunks_exact_mut(di) {
        for (v, bias) in row.iter_mut().zip(&dt_bias) {
            *v = softplus(*v + bias); // Delta = softplus(Linear(x) + bias)
        }
    }
    let a = to_f32(&w.a); // (Di, N), already -exp(A_log)
    let d = to_f32(&w.d); // (Di)
    let mut y = vec![0.0f32; t * di];
    for tok in 0..t {
        for ch in 0..di {
            let dt_c = dt[tok * di + ch];
            let x_c = xc[tok * di + ch];
            let h = &mut ssm_state[ch * n..(ch + 1) * n];
            let mut acc = 0.0f32;
            for s_i in 0..n {
                // h_t = exp(Delta A) h_{t-1} + Delta B x_t   (eq. 2a with ZOH discretisation, eq. 4)
                h[s_i] = h[s_i] * (dt_c * a[ch * n + s_i]).exp() + b[tok * n + s_i] * (x_c * dt_c);
                // y_t = C h_t   (eq. 2b)
                acc += h[s_i] * c[tok * n + s_i];
            }
            let z = xz[tok * 2 * di + di + ch];
            y[tok * di + ch] = (acc + x_c * d[ch]) * silu(z); // + D x, gated by SiLU(z)
        }
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
        FfnWeights::Dense { gate, up, down } => swiglu(gate, up, down, x, t),
        FfnWeights::Moe { router, gate_exps, up_exps, down_exps } => {
            let experts = router.rows();
            let hidden = gate_exps.rows() / experts;
            let logits = matmul(router, x, t); // (T, experts)
            let mut out = vec![0.0f32; t * n_embd];
            for tok in 0..t {
                let mut probs = logits[tok * experts..(tok + 1) * experts].to_vec();
                softmax(&mut probs);
                let mut order: Vec<usize> = (0..experts).collect();
                order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
                let xt = &x[tok * n_embd..(tok + 1) * n_embd];
                for &e in &order[..top_k] {
                    let y = swiglu(
                        &gate_exps.row_range(e * hidden, hidden),
                        &up_exps.row_range(e * hidden, hidden),
                        &down_exps.row_range(e * n_embd, n_embd),
                        xt,
                        1,
                    );
                    for (o, v) in out[tok * n_embd..(tok + 1) * n_embd].iter_mut().zip(&y) {
                        *o += probs[e] * v;
                    }
                }
            }
            out
        }
    }
}

fn swiglu(
    gate: &archrace_model::Tensor,
    up: &archrace_model::Tensor,
    down: &archrace_model::Tensor,
    x: &[f32],
    t: usize,
) -> Vec<f32> {
    let g = matmul(gate, x, t);
    let u = matmul(up, x, t);
    let h: Vec<f32> = g.iter().zip(&u).map(|(&g, &u)| silu(g) * u).collect();
    matmul(down, &h, t)
}
