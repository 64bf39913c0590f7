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
// One thread per pair of adjacent values (2j, 2j + 1) of q, of k and of v (q's pairs, then k's, then v's)
// along x, one token per y: the pair an f16 cache word holds. Each value is rotated with its partner in
// its head (dims 2i and 2i + 1 of the head), which for heads of an odd width D may be in the next thread's
// pair; the last dim of such a head rotates with none. A part of odd length (q, or k and v in an f32
// cache) ends with a single value. Prefill chunks run it; a decode step whose q, k and v share a buffer
// and whose heads are of even width does the same in its product (lib/matvec_rope.wgsl).
// CPU twin: archrace_cpu::ops::rope::rope_kv (rope, then kv_store's rounding).

struct Params {
    n_head: u32,
    n_head_kv: u32,
    head_dim: u32,   // D
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

// Value e of part `part` (q 0, k 1, v 2) of token t, read at src[at + e], rotated with its partner in its
// head (RoFormer, Su et al. 2021, eq. 34: (x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos)) where the head
// rotates that dim.
fn rotated(part: u32, at: u32, e: u32, t: u32) -> f32 {
    let x = src[at + e];
    let dim = e % p.head_dim;
    if part == 2u || dim >= p.n_rot {
        return x;
    }
    let cs = table[p.table_off + t * p.table_stride + dim / 2u];
    if dim % 2u == 0u {
        return x * cs.x - src[at + e + 1u] * cs.y;
    }
    return src[at + e - 1u] * cs.y + x * cs.x;
}

@compute @workgroup_size(64)
fn rope_kv(@builtin(global_invocation_id) gid: vec3<u32>) {
    let q_len = p.n_head * p.head_dim;
    let kv_len = p.n_head_kv * p.head_dim;
    let q_pairs = (q_len + 1u) / 2u;
    let kv_pairs = (kv_len + 1u) / 2u;
    let t = gid.y;
    if gid.x >= q_pairs + 2u * kv_pairs || t >= p.n_tokens {
        return;
    }
    // Which of q, k, v; the pair's first value within it; its length; where it starts in src.
    let part = select(select(2u, 1u, gid.x < q_pairs + kv_pairs), 0u, gid.x < q_pairs);
    let e = 2u * (gid.x - select(select(q_pairs + kv_pairs, q_pairs, part == 1u), 0u, part == 0u));
    let len = select(kv_len, q_len, part == 0u);
    let first = select(select(q_len + kv_len, q_len, part == 1u), 0u, part == 0u);
    let at = t * p.src_stride + first;
    let two = e + 1u < len;
    let x0 = rotated(part, at, e, t);
    let x1 = select(0.0, rotated(part, at, e + 1u, t), two);
    if part == 0u {
        q_out[t * q_len + e] = x0;
        if two {
            q_out[t * q_len + e + 1u] = x1;
        }
        return;
    }
    let to = p.dst_off + t * kv_len + e;
    if p.f16 == 1u { // kv_len and dst_off are even (the host checks): the pair is one word
        let word = pack2x16float(vec2<f32>(x0, x1));
        if part == 1u { k_cache[to / 2u] = word; } else { v_cache[to / 2u] = word; }
        return;
    }
    if part == 1u {
        k_cache[to] = bitcast<u32>(x0);
        if two { k_cache[to + 1u] = bitcast<u32>(x1); }
    } else {
        v_cache[to] = bitcast<u32>(x0);
        if two { v_cache[to + 1u] = bitcast<u32>(x1); }
    }
}
