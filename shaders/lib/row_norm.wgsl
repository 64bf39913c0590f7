// The statistics of a row norm, for the kernels that normalise a row themselves (norm.wgsl's `norm`,
// moe_route.wgsl's `moe_norm_route`, token_shift.wgsl's `norm_shift`). RMSNorm (Zhang & Sennrich 2019,
// eq. 4): mean 0 and scale 1 / sqrt(mean(x^2) + eps); LayerNorm (Ba et al. 2016): the row's mean and
// scale 1 / sqrt(var + eps). Each value then normalises as (x - mean) * scale * w (+ b for LayerNorm).
// The including kernel declares its rows as `x: array<f32>` and `WG`, and takes lib/reduce.wgsl. Every
// thread of the workgroup calls it together (it contains barriers) and gets (mean, scale) of
// x[src .. src + n].
fn row_norm_stats(tid: u32, src: u32, n: u32, layer_norm: bool, eps: f32) -> vec2<f32> {
    var mean = 0.0;
    if layer_norm {
        var s = 0.0;
        for (var i = tid; i < n; i += WG) {
            s += x[src + i];
        }
        mean = workgroup_sum(tid, s) / f32(n);
    }
    var sq = 0.0;
    for (var i = tid; i < n; i += WG) {
        let d = x[src + i] - mean;
        sq += d * d;
    }
    return vec2<f32>(mean, 1.0 / sqrt(workgroup_sum(tid, sq) / f32(n) + eps));
}
