// The twin of lib/x_direct.wgsl for the products that follow the model's RMSNorm (Zhang & Sennrich 2019,
// eq. 4): attention's q/k/v, the SwiGLU feed-forward's gate and up, Mamba's in-projection, the output
// head. Each workgroup normalises the raw residual row x[x_off ..][..cols] itself into workgroup memory,
// x * g / sqrt(mean(x^2) + eps) with the norm's weight g bound in place of `route` (these products
// route no expert), and `block_dot` reads it from there: the norm's own dispatch, and its round trip
// through memory, are gone. A row of up to XS * 4 values (the host checks; longer rows keep the norm's
// dispatch). Every thread calls `stage_x` first, together (it holds barriers).
// CPU twin: archrace_cpu::ops::norm::rms_norm, then the product's own twin.

const XS: u32 = 512u; // vec4s: rows of up to 2048 values (8 KB of workgroup memory)

var<workgroup> xs: array<vec4<f32>, XS>;
var<workgroup> x_scale: f32;

fn xin(i: u32) -> vec4<f32> {
    return xs[i - p.x_off];
}

fn norm_weight(i: u32) -> vec4<f32> {
    return bitcast<vec4<f32>>(vec4<u32>(route[4u * i], route[4u * i + 1u], route[4u * i + 2u], route[4u * i + 3u]));
}

fn stage_x(inv: Invocation) {
    let n = p.cols / 4u;
    var sq = 0.0;
    for (var i = inv.tid; i < n; i += WG) {
        let v = x[p.x_off + i];
        sq += dot(v, v);
    }
    // The whole workgroup as one row: its lane 0 holds the sum.
    let total = row_sum(inv, inv.tid, WG, sq);
    if inv.tid == 0u {
        x_scale = 1.0 / sqrt(total / f32(p.cols) + p.norm_eps);
    }
    workgroupBarrier();
    let scale = x_scale;
    for (var i = inv.tid; i < n; i += WG) {
        xs[i] = x[p.x_off + i] * scale * norm_weight(i);
    }
    workgroupBarrier();
}
