//! RWKV time-mix (v6 and v7) and channel-mix over T tokens, with token shift and the per-head WKV state.
//!
//! Glossary: `T` tokens, `E` width, `H` heads, `S` head size (`E = H S`), `sx` the token-shift difference
//! `x_{t-1} - x_t`. WKV state per head: v6 `[key i][value j]`, v7 `[value i][key j]` (as the papers write them).

use crate::ops::act::silu;
use crate::ops::matmul::{matmul, to_f32};
use crate::ops::norm::{layer_norm, rms_norm};
use archrace_model::{Norm, Rwkv6Weights, Rwkv7Weights, RwkvCommon, RwkvSpec, Tensor};

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Token shift: `sx[t] = x[t-1] - x[t]`, with `x[-1]` from `prev`; `prev` becomes the last token's `x`.
pub fn token_shift(x: &[f32], e: usize, prev: &mut [f32]) -> Vec<f32> {
    let mut sx = vec![0.0; x.len()];
    for (t, (row, out)) in x.chunks_exact(e).zip(sx.chunks_exact_mut(e)).enumerate() {
        let before = if t == 0 { &*prev } else { &x[(t - 1) * e..t * e] };
        for ((o, &b), &c) in out.iter_mut().zip(before).zip(row) {
            *o = b - c;
        }
    }
    prev.copy_from_slice(&x[x.len() - e..]);
    sx
}

/// `x + sx * mix`, row by row.
fn lerp(x: &[f32], sx: &[f32], mix: &[f32]) -> Vec<f32> {
    let e = mix.len();
    x.iter().zip(sx).enumerate().map(|(i, (&x, &s))| x + s * mix[i % e]).collect()
}

/// Group norm over each head's `S` channels (eps 64e-5, as llama.cpp's RWKV graphs), then scale and bias:
/// the CPU twin of `group_norm` (`shaders/group_norm.wgsl`), which also adds the bonus and applies the gate
/// as [`finish`] does next.
pub fn group_norm(x: &[f32], n_head: usize, w: &[f32], b: &[f32]) -> Vec<f32> {
    let e = w.len();
    let s = e / n_head;
    let mut y = vec![0.0; x.len()];
    for (xs, ys) in x.chunks_exact(s).zip(y.chunks_exact_mut(s)) {
        let mean = xs.iter().sum::<f32>() / s as f32;
        let var = xs.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / s as f32;
        let scale = 1.0 / (var + 64e-5).sqrt();
        for (o, &v) in ys.iter_mut().zip(xs) {
            *o = (v - mean) * scale;
        }
    }
    for (i, v) in y.iter_mut().enumerate() {
        *v = *v * w[i % e] + b[i % e];
    }
    y
}

/// `(cur * g) @ output`, after the group norm of `wkv` (+ `extra`, v7's `r k` bonus, added after the norm).
fn finish(c: &RwkvCommon, spec: &RwkvSpec, wkv: &[f32], extra: Option<&[f32]>, g: &[f32], t: usize) -> Vec<f32> {
    let mut cur =
        group_norm(wkv, spec.n_head, &to_f32(&c.ln.weight), &to_f32(c.ln.bias.as_ref().expect("LayerNorm bias")));
    if let Some(extra) = extra {
        for (a, b) in cur.iter_mut().zip(extra) {
            *a += b;
        }
    }
    for (a, b) in cur.iter_mut().zip(g) {
        *a *= b;
    }
    matmul(&c.output, &cur, t)
}

/// RWKV-6 WKV for one token, per head (Eagle and Finch, eqs. 19-20): `o_j = sum_i r_i (u_i k_i v_j + S_ij)`,
/// then `S_ij = w_i S_ij + k_i v_j`. All vectors `(H S)`, `state (H, S, S)`. CPU twin of `wkv6`.
#[allow(clippy::too_many_arguments)]
pub fn wkv6(r: &[f32], k: &[f32], v: &[f32], w: &[f32], u: &[f32], state: &mut [f32], h: usize, s: usize) -> Vec<f32> {
    let mut out = vec![0.0; h * s];
    for head in 0..h {
        let b = head * s;
        let st = &mut state[head * s * s..(head + 1) * s * s];
        for j in 0..s {
            let mut acc = 0.0;
            for i in 0..s {
                let kv = k[b + i] * v[b + j];
                acc += r[b + i] * (u[b + i] * kv + st[i * s + j]);
            }
            out[b + j] = acc;
        }
        for i in 0..s {
            for j in 0..s {
                st[i * s + j] = st[i * s + j] * w[b + i] + k[b + i] * v[b + j];
            }
        }
    }
    out
}

/// RWKV-7 key preparation for one token, per head: returns `[kk, kk a]` (2, H S) with
/// `kk = normalize(k * k_k)`, the two vectors `wkv7` reads, and replaces `k` by `k + a k k_a - k k_a`.
/// CPU twin of `rwkv7_prep`.
pub fn rwkv7_prep(k: &mut [f32], a: &[f32], k_k: &[f32], k_a: &[f32], s: usize) -> Vec<f32> {
    let mut kk: Vec<f32> = k.iter().zip(k_k).map(|(v, m)| v * m).collect();
    for head in kk.chunks_exact_mut(s) {
        let norm = head.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        head.iter_mut().for_each(|v| *v /= norm);
    }
    let kka: Vec<f32> = kk.iter().zip(a).map(|(v, a)| v * a).collect();
    kk.extend(kka);
    for (i, kv) in k.iter_mut().enumerate() {
        let ka = *kv * k_a[i];
        *kv = *kv + a[i] * ka - ka;
    }
    kk
}

/// RWKV-7 WKV for one token, per head (Goose, section 4): `sa_i = sum_j -kk_j S_ij`,
/// `S_ij = S_ij w_j + v_i k_j + sa_i kk_j a_j`, `o_i = sum_j S_ij r_j`; `kk` is `[kk, kk a]` (2, H S) from
/// `rwkv7_prep`. CPU twin of `wkv7`.
#[allow(clippy::too_many_arguments)]
pub fn wkv7(r: &[f32], w: &[f32], k: &[f32], v: &[f32], kk: &[f32], state: &mut [f32], h: usize, s: usize) -> Vec<f32> {
    let mut out = vec![0.0; h * s];
    let (kk, kka) = kk.split_at(h * s);
    for head in 0..h {
        let b = head * s;
        let st = &mut state[head * s * s..(head + 1) * s * s];
        for i in 0..s {
            let sa: f32 = (0..s).map(|j| -kk[b + j] * st[i * s + j]).sum();
            let mut acc = 0.0;
            for j in 0..s {
                let new = st[i * s + j] * w[b + j] + v[b + i] * k[b + j] + sa * kka[b + j];
                st[i * s + j] = new;
                acc += new * r[b + j];
            }
            out[b + i] = acc;
        }
    }
    out
}

/// RWKV-7's bonus for one token, per head: `v_i sum_j r_j k_j r_k_j`. CPU twin of `rwkv7_bonus`.
pub fn rwkv7_bonus(r: &[f32], k: &[f32], v: &[f32], r_k: &[f32], s: usize) -> Vec<f32> {
    let mut out = vec![0.0; v.len()];
    for (b, chunk) in (0..v.len()).step_by(s).zip(out.chunks_exact_mut(s)) {
        let rk: f32 = (0..s).map(|j| r[b + j] * k[b + j] * r_k[b + j]).sum();
        for (i, o) in chunk.iter_mut().enumerate() {
            *o = v[b + i] * rk;
        }
    }
    out
}

/// A decode step's norm and token shift in one (the twin of `norm_shift`): the layer's norm of the
/// residual row `x (E)` (weights and bias `norm`), then [`token_shift`] of the normed row and its lerps with
/// each of the `n_mix` rows of `mix (n_mix, E)`. Returns the lerps `(n_mix, E)` and `sx (E)`.
pub fn norm_shift(
    x: &[f32],
    norm: Norm,
    (w, b): (&[f32], &[f32]),
    mix: &[f32],
    prev: &mut [f32],
) -> (Vec<f32>, Vec<f32>) {
    let h = match norm {
        Norm::Rms { eps } => rms_norm(x, w, eps),
        Norm::Layer { eps } => layer_norm(x, w, b, eps),
    };
    let e = x.len();
    let sx = token_shift(&h, e, prev);
    let lerps = mix.chunks_exact(e).flat_map(|m| lerp(&h, &sx, m)).collect();
    (lerps, sx)
}

/// What [`wkv7_step`] reads of a layer, each `(H S)`.
#[derive(Clone, Copy)]
pub struct Wkv7StepInputs<'a> {
    /// Receptance, key and value from their products.
    pub r: &'a [f32],
    /// Key.
    pub k: &'a [f32],
    /// Value.
    pub v: &'a [f32],
    /// Decay `w`, in-context rate `a`, gate `g`, value-residual mix (after its sigmoid; unread on the
    /// first layer), as the LoRA products write them.
    pub w: &'a [f32],
    /// In-context rate.
    pub a: &'a [f32],
    /// Gate.
    pub g: &'a [f32],
    /// Value-residual mix.
    pub v_mix: &'a [f32],
    /// The layer's `k_k`, `k_a`, `r_k`, group-norm weight and bias.
    pub k_k: &'a [f32],
    /// `k_a`.
    pub k_a: &'a [f32],
    /// `r_k`.
    pub r_k: &'a [f32],
    /// Group-norm weight.
    pub ln_w: &'a [f32],
    /// Group-norm bias.
    pub ln_b: &'a [f32],
}

/// One token of RWKV-7 between its products and its output projection (the twin of `wkv7_step`): value
/// residual (the first layer stores `v` in `v_first` instead), [`rwkv7_prep`], [`wkv7`], [`rwkv7_bonus`],
/// then [`group_norm`] plus the bonus, times the gate. Returns `(H S)`, the output projection's input.
pub fn wkv7_step(
    x: &Wkv7StepInputs,
    state: &mut [f32],
    v_first: &mut [f32],
    first: bool,
    h: usize,
    s: usize,
) -> Vec<f32> {
    let mut v = x.v.to_vec();
    if first {
        v_first.copy_from_slice(&v);
    } else {
        for ((v, f), m) in v.iter_mut().zip(v_first.iter()).zip(x.v_mix) {
            *v += (f - *v) * m;
        }
    }
    let mut k = x.k.to_vec();
    let kk = rwkv7_prep(&mut k, x.a, x.k_k, x.k_a, s);
    let o = wkv7(x.r, x.w, &k, &v, &kk, state, h, s);
    let bonus = rwkv7_bonus(x.r, &k, &v, x.r_k, s);
    let normed = group_norm(&o, h, x.ln_w, x.ln_b);
    normed.iter().zip(&bonus).zip(x.g).map(|((n, b), g)| (n + b) * g).collect()
}

/// Row `j` of a `[E, 1, 1, n]` lerp tensor.
fn lerp_row(fused: &[f32], e: usize, j: usize) -> &[f32] {
    &fused[j * e..(j + 1) * e]
}

/// RWKV-6 time-mix ("Eagle and Finch", eqs. 15-22): data-dependent token shift (ddlerp) through a LoRA,
/// data-dependent decay `w = exp(-exp(d))`, and the WKV recurrence with the bonus `u` for the current token:
/// `o_t = r_t (diag(u) k_t^T v_t + S)`, `S = diag(w_t) S + k_t^T v_t`.
pub fn time_mix_v6(
    spec: &RwkvSpec,
    w: &Rwkv6Weights,
    x: &[f32],
    t: usize,
    shift: &mut [f32],
    state: &mut [f32],
) -> Vec<f32> {
    let e = x.len() / t;
    let (h, s) = (spec.n_head, spec.head_size);
    let sx = token_shift(x, e, shift);
    // ddlerp: m_j = tanh((x + sx * lerp_x) W1) W2_j, x_j = x + sx * (lerp_fused_j + m_j) for j in w,k,v,r,g
    let xxx: Vec<f32> = matmul(&w.w1, &lerp(x, &sx, &to_f32(&w.lerp_x)), t).iter().map(|v| v.tanh()).collect();
    let dm = w.w2.row_len();
    let fused = to_f32(&w.lerp_fused);
    let mixed: Vec<Vec<f32>> = (0..5)
        .map(|j| {
            let xj: Vec<f32> = xxx.chunks_exact(5 * dm).flat_map(|row| row[j * dm..(j + 1) * dm].to_vec()).collect();
            let m = matmul(&w.w2.row_range(j * e, e), &xj, t);
            let base = lerp_row(&fused, e, j);
            (0..t * e).map(|i| x[i] + sx[i] * (base[i % e] + m[i])).collect()
        })
        .collect();
    let (xw, xk, xv, xr, xg) = (&mixed[0], &mixed[1], &mixed[2], &mixed[3], &mixed[4]);
    let r = matmul(&w.common.receptance, xr, t);
    let k = matmul(&w.common.key, xk, t);
    let v = matmul(&w.common.value, xv, t);
    let g: Vec<f32> = matmul(&w.gate, xg, t).into_iter().map(silu).collect();
    let decay_lora: Vec<f32> = matmul(&w.decay_w1, xw, t).iter().map(|v| v.tanh()).collect();
    let decay_bias = to_f32(&w.decay);
    let decay: Vec<f32> = matmul(&w.decay_w2, &decay_lora, t)
        .iter()
        .enumerate()
        .map(|(i, d)| (-(d + decay_bias[i % e]).exp()).exp())
        .collect();
    let u = to_f32(&w.first); // (H, S)
    let mut out = Vec::with_capacity(t * e);
    for tok in 0..t {
        let row = |a: &[f32]| a[tok * e..(tok + 1) * e].to_vec();
        out.extend(wkv6(&row(&r), &row(&k), &row(&v), &row(&decay), &u, state, h, s));
    }
    finish(&w.common, spec, &out, None, &g, t)
}

/// RWKV-7 time-mix ("RWKV-7 Goose", section 4): the generalised delta rule
/// `S = S diag(w) + S (-kk)^T (kk a) + v^T k`, `o = S r`, with value residual from layer 0 (`v_first`).
#[allow(clippy::too_many_arguments)]
pub fn time_mix_v7(
    spec: &RwkvSpec,
    w: &Rwkv7Weights,
    x: &[f32],
    t: usize,
    shift: &mut [f32],
    state: &mut [f32],
    v_first: &mut Option<Vec<f32>>,
) -> Vec<f32> {
    let e = x.len() / t;
    let (h, s) = (spec.n_head, spec.head_size);
    let sx = token_shift(x, e, shift);
    let fused = to_f32(&w.lerp_fused);
    let [xr, xw, xk, xv, xa, xg]: [Vec<f32>; 6] = std::array::from_fn(|j| lerp(x, &sx, lerp_row(&fused, e, j)));
    let lora = |pair: (&Tensor, &Tensor), input: &[f32], act: fn(f32) -> f32| -> Vec<f32> {
        let down: Vec<f32> = matmul(pair.0, input, t).into_iter().map(act).collect();
        matmul(pair.1, &down, t)
    };
    let add_bias = |mut a: Vec<f32>, b: &Tensor| {
        let b = to_f32(b);
        a.iter_mut().enumerate().for_each(|(i, v)| *v += b[i % e]);
        a
    };
    let r = matmul(&w.common.receptance, &xr, t);
    // w = exp(-e^{-1/2} sigmoid(w0 + tanh(x W1) W2)): decay in (e^{-e^{-1/2}}, 1)
    let decay: Vec<f32> = add_bias(lora((&w.w[1], &w.w[2]), &xw, f32::tanh), &w.w[0])
        .into_iter()
        .map(|d| (-0.606531 * sigmoid(d)).exp())
        .collect();
    let k = matmul(&w.common.key, &xk, t);
    let mut v = matmul(&w.common.value, &xv, t);
    match v_first {
        None => *v_first = Some(v.clone()),
        Some(first) => {
            // value residual: v = v + (v_first - v) * sigmoid(v0 + x W1 W2)
            let mix = add_bias(lora((&w.v[1], &w.v[2]), &xv, |x| x), &w.v[0]);
            for ((v, f), m) in v.iter_mut().zip(first.iter()).zip(mix) {
                *v += (f - *v) * sigmoid(m);
            }
        }
    }
    let g = lora((&w.g[0], &w.g[1]), &xg, sigmoid);
    let a: Vec<f32> = add_bias(lora((&w.a[1], &w.a[2]), &xa, |x| x), &w.a[0]).into_iter().map(sigmoid).collect();
    let (k_k, k_a, r_k) = (to_f32(&w.k_k), to_f32(&w.k_a), to_f32(&w.r_k));
    let (mut out, mut bonus) = (Vec::with_capacity(t * e), Vec::with_capacity(t * e));
    for tok in 0..t {
        let row = |x: &[f32]| x[tok * e..(tok + 1) * e].to_vec();
        let (mut kt, at) = (row(&k), row(&a));
        let kk = rwkv7_prep(&mut kt, &at, &k_k, &k_a, s);
        let (rt, vt) = (row(&r), row(&v));
        out.extend(wkv7(&rt, &row(&decay), &kt, &vt, &kk, state, h, s));
        bonus.extend(rwkv7_bonus(&rt, &kt, &vt, &r_k, s));
    }
    finish(&w.common, spec, &out, Some(&bonus), &g, t)
}

/// Channel-mix: `k = relu(lerp_k(x) W_k)^2`, `out = k W_v`, gated by `sigmoid(lerp_r(x) W_r)` in v6.
pub fn channel_mix(
    lerp_k: &Tensor,
    key: &Tensor,
    value: &Tensor,
    receptance: Option<&(Tensor, Tensor)>,
    x: &[f32],
    t: usize,
    shift: &mut [f32],
) -> Vec<f32> {
    let e = x.len() / t;
    let sx = token_shift(x, e, shift);
    let kf: Vec<f32> = matmul(key, &lerp(x, &sx, &to_f32(lerp_k)), t).into_iter().map(|v| v.max(0.0).powi(2)).collect();
    let mut out = matmul(value, &kf, t);
    if let Some((lerp_r, rec)) = receptance {
        let r = matmul(rec, &lerp(x, &sx, &to_f32(lerp_r)), t);
        for (o, r) in out.iter_mut().zip(r) {
            *o *= sigmoid(r);
        }
    }
    out
}
