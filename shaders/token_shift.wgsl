// RWKV token shift and static lerps for T tokens (T = 1 when decoding): with sx = prev - x (the previous
// token's input minus this one's; the shift state before the first), out (j, t) = x_t + sx_t * mix_j for
// each of n_mix mix vectors; sx is kept; the state becomes the last token's x. One thread per channel,
// in token order.
// CPU twin: archrace_cpu::model::rwkv::token_shift (and its lerp).

struct Params {
    e: u32,
    n_mix: u32,
    n_tokens: u32, // T (0 is taken as 1)
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // (T, E)
@group(0) @binding(2) var<storage, read_write> prev: array<f32>; // (E): the shift state
@group(0) @binding(3) var<storage, read> mix: array<f32>;        // (n_mix, E)
@group(0) @binding(4) var<storage, read_write> out: array<f32>;  // (n_mix, T, E)
@group(0) @binding(5) var<storage, read_write> sx_out: array<f32>; // (T, E)

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
