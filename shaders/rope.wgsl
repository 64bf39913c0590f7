// Rotary position embedding, ggml's "normal" mode (RoFormer, Su et al. 2021, eq. 34): pairs (2i, 2i+1)
// of the first n_rot dims of each head rotate by theta_i = pos * freq_scale * freq_base^(-2i / n_rot).
// (cos theta_i, sin theta_i) come from a table the host computes as ggml_rope_cache_init does and uploads
// with each step, so the rotation is the CPU's to the last bit whatever the GPU's sin and cos precision.
// Reads src[src_off ..], writes dst[dst_off ..] (the key goes straight into its KV-cache slot), for
// T tokens of n_heads * head_dim values each (token t's table starts table_stride pairs after t - 1's).
// One thread per (head, pair) along x, per token along y. CPU twin: archrace_cpu::ops::rope::rope (with rope_table).

struct Params {
    n_heads: u32,
    head_dim: u32,
    n_rot: u32,
    table_off: u32, // first pair of this layer's table, in vec2s
    src_off: u32,
    dst_off: u32,
    table_stride: u32, // pairs from one token's table to the next (prefill)
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@group(0) @binding(3) var<storage, read> table: array<vec2<f32>>; // (n_rot / 2): cos, sin

@compute @workgroup_size(64)
fn rope(@builtin(global_invocation_id) gid: vec3<u32>) {
    let half = p.head_dim / 2u;
    if gid.x >= p.n_heads * half {
        return;
    }
    let head = gid.x / half;
    let i = gid.x % half;
    let a = gid.y * p.n_heads * p.head_dim + head * p.head_dim + 2u * i;
    let x0 = src[p.src_off + a];
    let x1 = src[p.src_off + a + 1u];
    if 2u * i >= p.n_rot {
        dst[p.dst_off + a] = x0;
        dst[p.dst_off + a + 1u] = x1;
        return;
    }
    let cs = table[p.table_off + gid.y * p.table_stride + i];
    dst[p.dst_off + a] = x0 * cs.x - x1 * cs.y;
    dst[p.dst_off + a + 1u] = x0 * cs.y + x1 * cs.x;
}
