// RWKV token shift and static lerps for T tokens (T = 1 when decoding): with sx = prev - x (the previous
// token's input minus this one's; the shift state before the first), out (j, t) = x_t + sx_t * mix_j for
// each of n_mix mix vectors; sx is kept; the state becomes the last token's x. One thread per channel,
// in token order.
// `norm_shift` (a decode step, one token) normalises the residual row first, as the layer's norm does
// (LayerNorm, Ba et al. 2016, or RMSNorm), then shifts the normed row: one workgroup, so the norm and the
// shift need no dispatch between them.
// CPU twins: archrace_cpu::model::rwkv::{token_shift (and its lerp), norm_shift}. The norm's statistics:
// lib/row_norm.wgsl (with lib/reduce.wgsl).

// WG, norm_shift's threads, is put at the top of the source by the runtime (as for norm.wgsl).

struct Params {
    e: u32,
    n_mix: u32,
    n_tokens: u32, // T (0 is taken as 1)
    kind: u32,     // norm_shift: 0 RMSNorm, 1 LayerNorm
    eps: f32,      // norm_shift: the norm's epsilon
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // (T, E)
@group(0) @binding(2) var<storage, read_write> prev: array<f32>; // (E): the shift state
@group(0) @binding(3) var<storage, read> mix: array<f32>;        // (n_mix, E)
@group(0) @binding(4) var<storage, read_write> out: array<f32>;  // (n_mix, T, E)
@group(0) @binding(5) var<storage, read_write> sx_out: array<f32>; // (T, E)
@group(0) @binding(6) var<storage, read> norm_w: array<f32>;     // norm_shift: (E)
@group(0) @binding(7) var<storage, read> norm_b: array<f32>;     // norm_shift: (E), LayerNorm only

@compute @workgroup_size(64)
fn token_shift(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= p.e {
        return;
    }
    let t_max = max(p.n_tokens, 1u);
    var before = prev[i];
    for (var t = 0u; t < t_max; t++) {
        let xi = x[t * p.e + i];
        let sx = before - xi;
        for (var j = 0u; j < p.n_mix; j++) {
            out[(j * t_max + t) * p.e + i] = xi + sx * mix[j * p.e + i];
        }
        sx_out[t * p.e + i] = sx;
        before = xi;
    }
    prev[i] = before;
}

@compute @workgroup_size(WG)
fn norm_shift(@builtin(local_invocation_index) tid: u32) {
    let e = p.e;
    let stats = row_norm_stats(tid, 0u, e, p.kind == 1u, p.eps); // the block's norm (lib/row_norm.wgsl)
    let mean = stats.x;
    let scale = stats.y;
    for (var i = tid; i < e; i += WG) {
        var xi = (x[i] - mean) * scale * norm_w[i];
        if p.kind == 1u {
            xi += norm_b[i];
        }
        let sx = prev[i] - xi;
        for (var j = 0u; j < p.n_mix; j++) {
            out[j * e + i] = xi + sx * mix[j * e + i];
        }
        sx_out[i] = sx;
        prev[i] = xi;
    }
}
