// Mamba-1 over T tokens (Gu & Dao 2023, Algorithm 2 and section 3.2; T = 1 when decoding), one thread
// per inner channel, sequential in time inside the thread (the recurrence carries h from token to token).
// `mamba_conv`: causal depthwise conv over the last d_conv inputs, then SiLU; shifts the conv window
// (lib/conv_step.wgsl, joined to this file).
// `mamba_scan`: Delta = softplus(dt + dt_bias); h = exp(Delta A) h + Delta B x (eq. 2a with ZOH, eq. 4);
// y = (C . h + D x) * SiLU(z) (eq. 2b, gated).
// `mamba_scan_dt`: the same scan with the dt projection in front, dt = W_dt dt_low (eq. 2a's Delta before
// the softplus; W_dt f32 rows (Di, R) in the `dt` binding, dt_low the first R values of each dbc row), so a
// decode step needs no dt_proj dispatch. With norm_at > 0 (Jamba, Lieber et al. 2024, section 3) it also
// RMS-normalises each token's dt_low, B and C itself, each field with its weights (laid out as the row, at
// consts[norm_at ..]), so a Jamba decode step needs no norm dispatch either.
// CPU twins: archrace_cpu::ops::mamba::{mamba_conv, mamba_scan, mamba_scan_dt}.

struct Params {
    d_inner: u32, // Di
    d_conv: u32,  // K
    d_state: u32, // N
    b_off: u32,   // B's offset in dbc
    c_off: u32,   // C's offset in dbc
    n_tokens: u32,   // T (0 is taken as 1)
    dbc_stride: u32, // values from one token's dt, B, C row to the next
    dt_rank: u32,    // R (mamba_scan_dt)
    norm_at: u32,    // mamba_scan_dt: where the dt, B, C norm weights (R + 2N) start in consts; 0: no norms
    eps: f32,        // their RMSNorm epsilon
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> xz: array<f32>;              // (T, 2 Di): x, then z
@group(0) @binding(2) var<storage, read> consts: array<f32>;          // conv w (Di, K), conv b (Di), dt_bias (Di), D (Di), A (Di, N)[, dt B C norms (R + 2N)]
@group(0) @binding(3) var<storage, read_write> conv_state: array<f32>; // (K - 1, Di)
@group(0) @binding(4) var<storage, read_write> xc: array<f32>;         // (T, Di): conv output
@group(0) @binding(5) var<storage, read> dt: array<f32>;              // (T, Di): dt_proj output; mamba_scan_dt: W_dt (Di, R)
@group(0) @binding(6) var<storage, read> dbc: array<f32>;             // (T, dbc_stride): B at b_off, C at c_off, (N) each
@group(0) @binding(7) var<storage, read_write> ssm: array<f32>;       // (Di, N)
@group(0) @binding(8) var<storage, read_write> y: array<f32>;         // (T, Di)

fn silu(v: f32) -> f32 {
    return v / (1.0 + exp(-v));
}

// ggml's softplus: log(1 + e^x), or x above 20.
fn softplus(v: f32) -> f32 {
    if v > 20.0 {
        return v;
    }
    return log(1.0 + exp(v));
}

@compute @workgroup_size(64)
fn mamba_conv(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.d_inner {
        return;
    }
    let di = p.d_inner;
    let k = p.d_conv;
    if k < 2u || k > REG_CONV {
        for (var t = 0u; t < max(p.n_tokens, 1u); t++) {
            xc[t * di + c] = conv_step(c, di, k, xz[t * 2u * di + c]);
        }
        return;
    }
    // conv_step's arithmetic, in its order, with the channel's window of K - 1 past inputs and its weights
    // in registers for all T tokens (the window read and written once, not K - 1 times a token): the
    // loops over the window have a constant bound, so they unroll and the arrays stay out of memory.
    var win: array<f32, REG_CONV>; // win[j]: conv_state[j Di + c], j < K - 1
    var w: array<f32, REG_CONV>;   // the weights of the past inputs
    for (var j = 0u; j < REG_CONV; j++) {
        if j + 1u < k {
            win[j] = conv_state[j * di + c];
            w[j] = consts[c * k + j];
        }
    }
    let w_new = consts[c * k + k - 1u];
    let bias = consts[di * k + c];
    for (var t = 0u; t < max(p.n_tokens, 1u); t++) {
        let x_new = xz[t * 2u * di + c];
        var acc = bias;
        for (var j = 0u; j < REG_CONV; j++) {
            if j + 1u < k {
                acc += win[j] * w[j];
            }
        }
        acc += x_new * w_new;
        for (var j = 0u; j + 1u < REG_CONV; j++) {
            if j + 2u < k {
                win[j] = win[j + 1u];
            } else if j + 2u == k {
                win[j] = x_new;
            }
        }
        xc[t * di + c] = acc / (1.0 + exp(-acc));
    }
    for (var j = 0u; j < REG_CONV; j++) {
        if j + 1u < k {
            conv_state[j * di + c] = win[j];
        }
    }
}

// Conv widths `mamba_conv` keeps a channel's window in registers for (Mamba's and Jamba's K is 4).
const REG_CONV: u32 = 4u;

// The scale of one field of a dbc row (n values from `at`) under mamba_scan_dt's RMSNorm, or 1 without
// norms: 1 / sqrt(mean(v^2) + eps) (Zhang & Sennrich 2019, eq. 4).
fn field_scale(at: u32, n: u32) -> f32 {
    if p.norm_at == 0u {
        return 1.0;
    }
    var sq = 0.0;
    for (var i = 0u; i < n; i++) {
        sq += dbc[at + i] * dbc[at + i];
    }
    return 1.0 / sqrt(sq / f32(n) + p.eps);
}

// Value `i` of a dbc row (offset `i` from the row's start `row`) times its field's scale and norm weight
// (no norms: as read).
fn dbc_value(row: u32, i: u32, scale: f32) -> f32 {
    if p.norm_at == 0u {
        return dbc[row + i];
    }
    return dbc[row + i] * scale * consts[p.norm_at + i];
}

// One token's scan step for channel c, with dt_proj's output for it (before the bias); B and C's field
// scales (1 when dbc holds them as they are).
fn scan_step(c: u32, t: u32, dt_c: f32, b_scale: f32, c_scale: f32) {
    let di = p.d_inner;
    let n = p.d_state;
    let base = di * p.d_conv + di; // after conv w and conv b
    let delta = softplus(dt_c + consts[base + c]);
    let x = xc[t * di + c];
    let row = t * p.dbc_stride;
    var acc = 0.0;
    for (var s = 0u; s < n; s++) {
        let a = consts[base + 2u * di + c * n + s];
        let h = ssm[c * n + s] * exp(delta * a) + dbc_value(row, p.b_off + s, b_scale) * (x * delta);
        ssm[c * n + s] = h;
        acc += h * dbc_value(row, p.c_off + s, c_scale);
    }
    y[t * di + c] = (acc + x * consts[base + di + c]) * silu(xz[t * 2u * di + di + c]);
}

// State sizes `mamba_scan` and `mamba_scan_dt` keep in registers across their tokens (Mamba-1's and Jamba's
// N is 16).
const REG_STATE: u32 = 16u;

@compute @workgroup_size(64)
fn mamba_scan(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.d_inner {
        return;
    }
    if p.d_state > REG_STATE {
        for (var t = 0u; t < max(p.n_tokens, 1u); t++) {
            scan_step(c, t, dt[t * p.d_inner + c], 1.0, 1.0);
        }
        return;
    }
    scan_in_registers(c, false);
}

@compute @workgroup_size(64)
fn mamba_scan_dt(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if c >= p.d_inner {
        return;
    }
    if p.d_state > REG_STATE {
        for (var t = 0u; t < max(p.n_tokens, 1u); t++) {
            let row = t * p.dbc_stride;
            let b_scale = field_scale(row + p.b_off, p.d_state);
            scan_step(c, t, dt_projected(c, row), b_scale, field_scale(row + p.c_off, p.d_state));
        }
        return;
    }
    scan_in_registers(c, true);
}

// mamba_scan_dt's dt for channel c from the dbc row at `row`: W_dt's row c times the row's first R values
// (dt_low), each normalised under norm_at.
fn dt_projected(c: u32, row: u32) -> f32 {
    let r = p.dt_rank;
    let dt_scale = field_scale(row, r);
    var dt_c = 0.0;
    for (var j = 0u; j < r; j++) {
        dt_c += dt[c * r + j] * dbc_value(row, j, dt_scale);
    }
    return dt_c;
}

// scan_step's arithmetic, in its order, for all T tokens of channel c, with the channel's h and A row in
// registers (read and written once, not once per token) and the parameters read once: the loops over the
// state have a constant bound, so they unroll and the arrays stay out of memory. `with_dt`: mamba_scan_dt
// (dt projected here, B and C under their norms' scales); else mamba_scan (dt from the `dt` binding).
fn scan_in_registers(c: u32, with_dt: bool) {
    let di = p.d_inner;
    let n = p.d_state;
    let base = di * p.d_conv + di; // after conv w and conv b
    let b_off = p.b_off;
    let c_off = p.c_off;
    let stride = p.dbc_stride;
    let norm_at = p.norm_at;
    var h: array<f32, REG_STATE>;
    var a: array<f32, REG_STATE>;
    var b_w: array<f32, REG_STATE>; // B's and C's norm weights (1 without norms: dbc_value with scale 1)
    var c_w: array<f32, REG_STATE>;
    for (var s = 0u; s < REG_STATE; s++) {
        if s < n {
            h[s] = ssm[c * n + s];
            a[s] = consts[base + 2u * di + c * n + s];
            b_w[s] = select(1.0, consts[norm_at + b_off + s], norm_at != 0u);
            c_w[s] = select(1.0, consts[norm_at + c_off + s], norm_at != 0u);
        }
    }
    let dt_bias = consts[base + c];
    let d_skip = consts[base + di + c];
    for (var t = 0u; t < max(p.n_tokens, 1u); t++) {
        let row = t * stride;
        var dt_c = 0.0;
        var b_scale = 1.0;
        var c_scale = 1.0;
        if with_dt {
            dt_c = dt_projected(c, row);
            b_scale = field_scale(row + b_off, n);
            c_scale = field_scale(row + c_off, n);
        } else {
            dt_c = dt[t * di + c];
        }
        let delta = softplus(dt_c + dt_bias);
        let x = xc[t * di + c];
        var acc = 0.0;
        for (var s = 0u; s < REG_STATE; s++) {
            if s < n {
                let hs = h[s] * exp(delta * a[s]) + dbc[row + b_off + s] * b_scale * b_w[s] * (x * delta);
                h[s] = hs;
                acc += hs * (dbc[row + c_off + s] * c_scale * c_w[s]);
            }
        }
        y[t * di + c] = (acc + x * d_skip) * silu(xz[t * 2u * di + di + c]);
    }
    for (var s = 0u; s < REG_STATE; s++) {
        if s < n {
            ssm[c * n + s] = h[s];
        }
    }
}
