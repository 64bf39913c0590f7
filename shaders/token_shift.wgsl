// RWKV token shift and static lerps for one token: with sx = prev - x (the previous token's input minus
// this one's), out row j = x + sx * mix_j for each of n_mix mix vectors; sx is kept; prev = x.
// CPU twin: archrace_cpu::model::rwkv::token_shift (and its lerp).

struct Params {
    e: u32,
    n_mix: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // (E)
@group(0) @binding(2) var<storage, read_write> prev: array<f32>; // (E): the shift state
@group(0) @binding(3) var<storage, read> mix: array<f32>;        // (n_mix, E)
@group(0) @binding(4) var<storage, read_write> out: array<f32>;  // (n_mix, E)
@group(0) @binding(5) var<storage, read_write> sx_out: array<f32>; // (E)

@compute @workgroup_size(64)
fn token_shift(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= p.e {
        return;
    }
    let xi = x[i];
    let sx = prev[i] - xi;
    for (var j = 0u; j < p.n_mix; j++) {
        out[j * p.e + i] = xi + sx * mix[j * p.e + i];
    }
    sx_out[i] = sx;
    prev[i] = xi;
}
