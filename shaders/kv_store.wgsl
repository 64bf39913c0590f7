// Appending T tokens' keys and values to an attention layer's KV cache, in the cache's element type
// (llama.cpp's type_k / type_v): f16 packed two per u32 word (pack2x16float, no shader-f16 needed), or f32
// as its bits. Token t's row of `row` values goes to cache values (pos0 + t) row ... One thread per pair
// of values (rows are even: H_kv D with an even head dimension).
// CPU twin: archrace_cpu::ops::kv::kv_store (rounding to f16 as the cache stores it).

struct Params {
    row: u32,      // values per token, even
    n_tokens: u32, // T
    dst_off: u32,  // first value written: pos0 * row
    f16: u32,      // 1: f16 pairs; 0: f32
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> k_in: array<f32>;            // (T, row)
@group(0) @binding(2) var<storage, read> v_in: array<f32>;            // (T, row)
@group(0) @binding(3) var<storage, read_write> k_cache: array<u32>;   // (capacity, row) in the element type
@group(0) @binding(4) var<storage, read_write> v_cache: array<u32>;

@compute @workgroup_size(64)
fn kv_store(@builtin(global_invocation_id) gid: vec3<u32>) {
    let half = p.row / 2u;
    let pair = gid.x;
    let t = gid.y;
    if pair >= half || t >= p.n_tokens {
        return;
    }
    let src = t * p.row + 2u * pair;
    let dst = p.dst_off + src;
    if p.f16 == 1u {
        k_cache[dst / 2u] = pack2x16float(vec2<f32>(k_in[src], k_in[src + 1u]));
        v_cache[dst / 2u] = pack2x16float(vec2<f32>(v_in[src], v_in[src + 1u]));
    } else {
        k_cache[dst] = bitcast<u32>(k_in[src]);
        k_cache[dst + 1u] = bitcast<u32>(k_in[src + 1u]);
        v_cache[dst] = bitcast<u32>(v_in[src]);
        v_cache[dst + 1u] = bitcast<u32>(v_in[src + 1u]);
    }
}
