// Rotary position embedding, ggml's "normal" mode (RoFormer, Su et al. 2021, eq. 34): pairs (2i, 2i+1)
// of the first n_rot dims of each head rotate by theta = pos * freq_scale * freq_base^(-2i / n_rot).
// Reads src[src_off ..], writes dst[dst_off ..] (the key goes straight into its KV-cache slot).
// theta is built by repeated multiplication, as ggml_rope_cache_init does, so it matches the CPU in f32.
// One thread per (head, pair). CPU twin: archrace_cpu::ops::rope::rope.

struct Params {
    n_heads: u32,
    head_dim: u32,
    n_rot: u32,
    pos: u32,
    src_off: u32,
    dst_off: u32,
    freq_base: f32,
    freq_scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(64)
fn rope(@builtin(global_invocation_id) gid: vec3<u32>) {
    let half = p.head_dim / 2u;
    if gid.x >= p.n_heads * half {
        return;
    }
    let head = gid.x / half;
    let i = gid.x % half;
    let a = head * p.head_dim + 2u * i;
    let x0 = src[p.src_off + a];
    let x1 = src[p.src_off + a + 1u];
    if 2u * i >= p.n_rot {
        dst[p.dst_off + a] = x0;
        dst[p.dst_off + a + 1u] = x1;
        return;
    }
    let theta_scale = pow(p.freq_base, -2.0 / f32(p.n_rot));
    var theta = f32(p.pos);
    for (var k = 0u; k < i; k++) {
        theta *= theta_scale;
    }
    theta *= p.freq_scale;
    let c = cos(theta);
    let s = sin(theta);
    dst[p.dst_off + a] = x0 * c - x1 * s;
    dst[p.dst_off + a + 1u] = x0 * s + x1 * c;
}
