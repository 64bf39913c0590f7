//! One Mamba-1 decode step per channel: the CPU twins of the `mamba_conv` and `mamba_scan` kernels
//! (`shaders/mamba.wgsl`). Glossary: `Di` inner width, `K` conv width, `N` state size.

use super::act::{silu, softplus};
use super::norm::rms_norm;

/// Causal depthwise conv of the newest input `x (Di)` with the last `K - 1` inputs `conv_state (K - 1, Di)`,
/// then SiLU; shifts `x` into the window. `conv_w` is `(Di, K)`, `conv_b` `(Di)`.
pub fn mamba_conv(x: &[f32], conv_w: &[f32], conv_b: &[f32], conv_state: &mut [f32], k: usize) -> Vec<f32> {
    let di = x.len();
    let mut out = vec![0.0f32; di];
    for c in 0..di {
        let mut acc = 0.0f32;
        for j in 0..k - 1 {
            acc += conv_state[j * di + c] * conv_w[c * k + j];
        }
        acc += x[c] * conv_w[c * k + k - 1];
        out[c] = silu(acc + conv_b[c]);
    }
    // A kernel of 1 keeps no past inputs (an empty window).
    if k >= 2 {
        conv_state.copy_within(di.., 0);
        conv_state[(k - 2) * di..].copy_from_slice(x);
    }
    out
}

/// The inputs of one selective-scan step, all `(Di)` unless noted.
#[derive(Clone, Copy)]
pub struct ScanInputs<'a> {
    /// dt_proj output, before the bias.
    pub dt: &'a [f32],
    /// dt bias.
    pub dt_bias: &'a [f32],
    /// Conv output.
    pub x: &'a [f32],
    /// The gate.
    pub z: &'a [f32],
    /// `(N)`.
    pub b: &'a [f32],
    /// `(N)`.
    pub c: &'a [f32],
    /// `(Di, N)`, already `-exp(A_log)`.
    pub a: &'a [f32],
    /// Skip connection.
    pub d: &'a [f32],
}

/// `Delta = softplus(dt + bias)`; `h = exp(Delta A) h + Delta B x` (Gu & Dao 2023, eq. 2a with the ZOH
/// discretisation of eq. 4); `y = (C . h + D x) * SiLU(z)` (eq. 2b, gated). Updates `ssm (Di, N)`.
pub fn mamba_scan(s: &ScanInputs, ssm: &mut [f32]) -> Vec<f32> {
    let di = s.x.len();
    let n = s.b.len();
    let mut y = vec![0.0f32; di];
    for ch in 0..di {
        let delta = softplus(s.dt[ch] + s.dt_bias[ch]);
        let x = s.x[ch];
        let h = &mut ssm[ch * n..(ch + 1) * n];
        let mut acc = 0.0f32;
        for (((h, &a), &b), &c) in h.iter_mut().zip(&s.a[ch * n..]).zip(s.b).zip(s.c) {
            *h = *h * (delta * a).exp() + b * (x * delta);
            acc += *h * c;
        }
        y[ch] = (acc + x * s.d[ch]) * silu(s.z[ch]);
    }
    y
}

/// `mamba_scan` with the dt projection in front (the twin of `mamba_scan_dt`): `dt = W_dt dt_low`, `W_dt`
/// f32 rows `(Di, R)` and `dt_low (R)`, summed in order as the kernel does; then the scan with `s`'s other
/// inputs (its `dt` is not read). With `norms` (Jamba's dt, B and C RMSNorm weights laid out as an
/// x-projection row `(R + 2N)`, and their epsilon), `dt_low`, `s.b` and `s.c` are normalised first, as the
/// kernel does when its `norm_at` is set (Lieber et al. 2024, section 3).
pub fn mamba_scan_dt(
    w_dt: &[f32],
    dt_low: &[f32],
    s: &ScanInputs,
    norms: Option<(&[f32], f32)>,
    ssm: &mut [f32],
) -> Vec<f32> {
    let (r, n) = (dt_low.len(), s.b.len());
    let (dt_low, b, c) = match norms {
        Some((w, eps)) => {
            (rms_norm(dt_low, &w[..r], eps), rms_norm(s.b, &w[r..r + n], eps), rms_norm(s.c, &w[r + n..], eps))
        }
        None => (dt_low.to_vec(), s.b.to_vec(), s.c.to_vec()),
    };
    let dt: Vec<f32> =
        w_dt.chunks(r.max(1)).map(|row| row.iter().zip(&dt_low).fold(0.0, |acc, (w, x)| acc + w * x)).collect();
    mamba_scan(&ScanInputs { dt: &dt, b: &b, c: &c, ..*s }, ssm)
}
