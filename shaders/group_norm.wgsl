// RWKV's output norm: a group norm over each head's S channels (eps 64e-5, as llama.cpp's RWKV graphs),
// scaled and biased, plus an optional extra term added after the norm (RWKV-7's r k bonus), times the
// gate g. One workgroup per (head, token): x, extra, gate and y are (T, H S), weight and bias (H S).
// CPU twin: archrace_cpu::model::rwkv::group_norm (with `finish`'s bonus and gate). Reductions:
// lib/reduce.wgsl.

const WG: u32 = 64u;

struct Params {
    head_size: u32,
    has_extra: u32,
    eps: f32,
    n_head: u32, // channels of a token: n_head * head_size
    w_off: u32,  // where the weights start in their buffer
    b_off: u32,  // where the biases start in theirs
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;      // (H S)
@group(0) @binding(2) var<storage, read> weight: array<f32>; // (H S) from w_off
@group(0) @binding(3) var<storage, read> bias: array<f32>;   // (H S) from b_off
@group(0) @binding(4) var<storage, read> extra: array<f32>;  // (H S), when has_extra
@group(0) @binding(5) var<storage, read> gate: array<f32>;   // (H S)
@group(0) @binding(6) var<storage, read_write> y: array<f32>; // (H S)

@compute @workgroup_size(WG)
fn group_norm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let s = p.head_size;
    let wbase = wg.x * s; // head wg.x's channels
    let base = wg.y * p.n_head * s + wbase; // of token wg.y
    var part = 0.0;
    for (var i = tid; i < s; i += WG) {
        part += x[base + i];
    }
    let mean = workgroup_sum(tid, part) / f32(s);
    var sq = 0.0;
    for (var i = tid; i < s; i += WG) {
        let d = x[base + i] - mean;
        sq += d * d;
    }
    let scale = 1.0 / sqrt(workgroup_sum(tid, sq) / f32(s) + p.eps);
    for (var i = tid; i < s; i += WG) {
        let at = base + i;
        var v = (x[at] - mean) * scale * weight[p.w_off + wbase + i] + bias[p.b_off + wbase + i];
        if p.has_extra != 0u {
            v += extra[at];
        }
        y[at] = v * gate[at];
    }
}
