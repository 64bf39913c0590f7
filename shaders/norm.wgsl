// Normalisation of `rows` rows of n values, one workgroup per row, from x[in_off + r * in_stride ..] to
// y[out_off + r * out_stride ..] (strides of n for packed rows; more for a field of wider rows, such as
// Jamba's dt, B and C in a prefill chunk's x-projection). kind 0: RMSNorm (Zhang & Sennrich 2019, eq. 4) y = x / sqrt(mean(x^2) + eps) * w.
// kind 1: LayerNorm (Ba et al. 2016) y = (x - mean) / sqrt(var + eps) * w + b.
// A row may be up to three consecutive fields of n, n1 and n2 values, each normalised on its own with its
// part of the weights (laid out as the row is), one workgroup per (row, field): Jamba's dt, B and C norms
// (Lieber et al. 2024, section 3) in one dispatch. n1 = n2 = 0 and one field for a plain norm.
// CPU twins: archrace_cpu::ops::norm::{rms_norm, layer_norm}. Mean and scale: lib/row_norm.wgsl.

// WG threads per row, put at the top of the source by the runtime (archrace_gpu::shaders::norm_threads):
// 256 on a GPU, where a decode step normalises one row of n_embd (up to ~8192) values and the row's reads
// are spread over as many threads as a workgroup may have by default; 8 on a software adapter, whose CPU
// threads switch between a workgroup's subgroups at every barrier.

struct Params {
    n: u32,
    rows: u32,
    in_off: u32,
    out_off: u32,
    kind: u32, // 0 RMS, 1 Layer
    eps: f32,
    in_stride: u32,
    out_stride: u32,
    n1: u32, // the second field's length (0: none)
    n2: u32, // the third's
    w_off: u32, // where the weights (and bias) start in their buffers
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> weight: array<f32>; // (n)
@group(0) @binding(3) var<storage, read> bias: array<f32>;   // (n), LayerNorm only
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn norm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let field = wg.y;
    let n = select(select(p.n2, p.n1, field == 1u), p.n, field == 0u);
    let at = select(select(p.n + p.n1, p.n, field == 1u), 0u, field == 0u); // the field's first value
    let src = p.in_off + wg.x * p.in_stride + at;
    let dst = p.out_off + wg.x * p.out_stride + at;
    let stats = row_norm_stats(tid, src, n, p.kind == 1u, p.eps);
    let mean = stats.x;
    let scale = stats.y;
    for (var i = tid; i < n; i += WG) {
        var v = (x[src + i] - mean) * scale * weight[p.w_off + at + i];
        if p.kind == 1u {
            v += bias[p.w_off + at + i];
        }
        y[dst + i] = v;
    }
}
