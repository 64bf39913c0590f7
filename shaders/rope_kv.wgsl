// An attention layer's q, k and v of T tokens, as one product wrote them (src: per token q (H D), k (H_kv D),
// v (H_kv D), src_stride values apart), made ready for attention in one dispatch:
// - RoPE on q and k, ggml's "normal" mode (RoFormer, Su et al. 2021, eq. 34): pairs (2i, 2i+1) of the first
//   n_rot dims of each head rotate by theta_i = pos * freq_scale * freq_base^(-2i / n_rot), with
//   (cos theta_i, sin theta_i) from a table the host computes as ggml_rope_cache_init does (so the rotation
//   is the CPU's to the last bit whatever the GPU's sin and cos precision); n_rot = 0 rotates nothing;
// - q written to q_out (T, H D);
// - k and v appended to the KV cache at values dst_off + t (H_kv D) .., in the cache's element type
//   (llama.cpp's type_k / type_v): f16 packed two per u32 word (pack2x16float, no shader-f16 needed), or
//   f32 as its bits.
// One thread per pair of values along x (q's pairs, then k's, then v's), one token per y. Prefill chunks
// run it; a decode step whose q, k and v share a buffer does the same in its product (lib/matvec_rope.wgsl).
// CPU twin: archrace_cpu::ops::rope::rope_kv (rope, then kv_store's rounding).

struct Params {
    n_head: u32,
    n_head_kv: u32,
    head_dim: u32,   // even
    n_rot: u32,      // dims rotated per head (0: no RoPE)
    table_off: u32,  // first pair of this layer's table, in vec2s
    table_stride: u32, // pairs from one token's table to the next (prefill)
    dst_off: u32,    // first cache value written: pos0 * H_kv D
    f16: u32,        // 1: f16 pairs; 0: f32
    n_tokens: u32,   // T
    src_stride: u32, // values per token in src: (H + 2 H_kv) D, or more
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> q_out: array<f32>;
@group(0) @binding(3) var<storage, read> table: array<vec2<f32>>; // per token and layer: (n_rot / 2) cos, sin
@group(0) @binding(4) var<storage, read_write> k_cache: array<u32>; // (capacity, H_kv D) in the element type
@group(0) @binding(5) var<storage, read_write> v_cache: array<u32>;

fn store(is_k: bool, at: u32, x: vec2<f32>) {
    if p.f16 == 1u {
        let word = pack2x16float(x);
        if is_k { k_cache[at / 2u] = word; } else { v_cache[at / 2u] = word; }
    } else {
        let words = bitcast<vec2<u32>>(x);
        if is_k {
            k_cache[at] = words.x;
            k_cache[at + 1u] = words.y;
        } else {
            v_cache[at] = words.x;
            v_cache[at + 1u] = words.y;
        }
    }
}

@compute @workgroup_size(64)
fn rope_kv(@builtin(global_invocation_id) gid: vec3<u32>) {
    let half = p.head_dim / 2u;
    let q_pairs = p.n_head * half;
    let kv_pairs = p.n_head_kv * half;
    let t = gid.y;
    if gid.x >= q_pairs + 2u * kv_pairs || t >= p.n_tokens {
        return;
    }
    // Which of q, k, v; the value index within it (an even one: 2 i of its head).
    let part = select(select(2u, 1u, gid.x < q_pairs + kv_pairs), 0u, gid.x < q_pairs);
    let pair = gid.x - select(select(q_pairs + kv_pairs, q_pairs, part == 1u), 0u, part == 0u);
    let i = pair % half;
    let a = (pair / half) * p.head_dim + 2u * i;
    let first = select(select((p.n_head + p.n_head_kv) * p.head_dim, p.n_head * p.head_dim, part == 1u), 0u, part == 0u);
    let s = t * p.src_stride + first + a;
    var x = vec2<f32>(src[s], src[s + 1u]);
    if part < 2u && 2u * i < p.n_rot {
        let cs = table[p.table_off + t * p.table_stride + i];
        x = vec2<f32>(x.x * cs.x - x.y * cs.y, x.x * cs.y + x.y * cs.x);
    }
    if part == 0u {
        let o = t * p.n_head * p.head_dim + a;
        q_out[o] = x.x;
        q_out[o + 1u] = x.y;
    } else {
        store(part == 1u, p.dst_off + t * p.n_head_kv * p.head_dim + a, x);
    }
}
