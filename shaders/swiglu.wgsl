// The SwiGLU gate (Shazeer 2020, eq. 6): h = SiLU(gate) * up, element-wise over n values.
// CPU twin: the `silu(g) * u` step of archrace_cpu::model::mixers::ffn.

struct Params {
    n: u32,
    row: u32, // values per row of the dispatch (64 x its workgroups along x): a prefill chunk spills into y
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<f32>;
@group(0) @binding(2) var<storage, read> up: array<f32>;
@group(0) @binding(3) var<storage, read_write> h: array<f32>;

@compute @workgroup_size(64)
fn swiglu(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * p.row;
    if i < p.n {
        let g = gate[i];
        h[i] = g / (1.0 + exp(-g)) * up[i];
    }
}
