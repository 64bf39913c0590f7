// Causal attention over a prefill chunk for software adapters (lavapipe, SwiftShader): `attn_prefill`'s job
// (attention.wgsl) with the same parameters, passes and outputs, laid out for a CPU that runs a workgroup's
// lanes as SIMD vectors. A lane takes R = 4 consecutive queries of one head (a vec4 component each) and
// walks the keys itself: for key j, scores s = q . k_j / sqrt(D) for its four queries from the key's DU
// units (pairs of dims) against its queries' units, held in registers, then an online softmax per query
// (running max m and sum l, accumulators rescaled by e^(m_old - m_new); Milakov & Gimelshein 2018, Dao et
// al. 2022) and acc += e^(s - m) v_j (Vaswani et al. 2017, eq. 1); query t sees keys 0 ..= pos0 + t.
// Every lane of a workgroup reads the same key at the same time, so each value loaded serves 4 queries'
// multiply-adds per lane; there is no workgroup memory, no barrier, and no array indexed by anything but
// a constant-bound loop counter (DU, a constant of the source, so those loops unroll). Lavapipe, one
// process, alternated with attn_prefill, 512 queries from an empty cache: 0.16x of its time at D = 32,
// 0.41x at D = 64.
// Passes (keys keys_from .. keys_to) and the softmax state between them are attn_prefill's: m and l per
// (query, head) in `partial` (T, H, 2), the unnormalised acc in `out`; the last pass writes acc / l.
// The runtime takes it on software adapters for an f16 cache (the default) and an even head dim of up to
// 2 x 64 (archrace_gpu::attn_lanes_kernel); DU (a power of two >= D / 2) is put at the top of the source.
// CPU twin: archrace_cpu::model::mixers::attention (its per-token loop).

const LANES: u32 = 16u; // lanes per workgroup: 64 consecutive queries of one head
const R: u32 = 4u;      // queries per lane

struct Params {
    n_head: u32,
    n_head_kv: u32,
    head_dim: u32,
    n_keys: u32,    // unused here (attn_partial's)
    n_chunks: u32,  // unused here
    scale: f32,     // 1 / sqrt(D)
    pos0: u32,      // position of the chunk's first token
    n_tokens: u32,  // tokens in the chunk
    kv_f16: u32,    // 1 here: the cache holds f16 pairs
    chunk_len: u32, // unused here
    keys_from: u32, // this pass reads keys keys_from .. keys_to (each query up to its own)
    keys_to: u32,
    resume: u32,    // 1: take each query's softmax state from the pass before
    finish: u32,    // 1: write out = acc / l; 0: leave the state for the next pass
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;              // (T, H, D)
@group(0) @binding(2) var<storage, read> k_cache: array<u32>;        // (pos, H_kv, D / 2) f16 pairs
@group(0) @binding(3) var<storage, read> v_cache: array<u32>;        // (pos, H_kv, D / 2) f16 pairs
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;  // (T, H, 2): m, l between passes
@group(0) @binding(5) var<storage, read_write> out: array<f32>;      // (T, H, D)

@compute @workgroup_size(LANES)
fn attn_prefill_lanes(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let head = wg.y;
    let kv_head = head / (p.n_head / p.n_head_kv);
    let d = p.head_dim;
    let units = d / 2u;
    let t0 = wg.x * LANES * R;
    let tl = t0 + tid * R; // this lane's first query
    // qa[u], qb[u]: dims 2u, 2u + 1 of the lane's four queries, scaled by 1 / sqrt(D) (queries past the
    // chunk repeat its last: computed, never written).
    var qa: array<vec4<f32>, DU>;
    var qb: array<vec4<f32>, DU>;
    for (var u = 0u; u < DU; u++) {
        for (var r = 0u; r < R; r++) {
            if u < units {
                let at = (min(tl + r, p.n_tokens - 1u) * p.n_head + head) * d + 2u * u;
                qa[u][r] = q[at] * p.scale;
                qb[u][r] = q[at + 1u] * p.scale;
            }
        }
    }
    let lowest = vec4<f32>(-0x1.fffffep+127f);
    var m = lowest;
    var l = vec4<f32>(0.0);
    var aa: array<vec4<f32>, DU>;
    var ab: array<vec4<f32>, DU>;
    if p.resume == 1u {
        for (var r = 0u; r < R; r++) {
            let t = tl + r;
            if t < p.n_tokens {
                let at = (t * p.n_head + head) * 2u;
                m[r] = partial[at];
                l[r] = partial[at + 1u];
                for (var u = 0u; u < DU; u++) {
                    if u < units {
                        let o = (t * p.n_head + head) * d + 2u * u;
                        aa[u][r] = out[o];
                        ab[u][r] = out[o + 1u];
                    }
                }
            }
        }
    }
    let last = p.pos0 + tl + vec4<u32>(0u, 1u, 2u, 3u); // the last key each query sees
    // Every lane walks the keys up to the workgroup's last query's (a bound all its lanes share).
    let keys_end = min(p.keys_to, p.pos0 + min(t0 + LANES * R, p.n_tokens));
    let row = p.n_head_kv * units; // words from one key's row to the next
    for (var j = p.keys_from; j < keys_end; j++) {
        let at = j * row + kv_head * units;
        var dot = vec4<f32>(0.0);
        for (var u = 0u; u < DU; u++) {
            if u < units {
                let k = unpack2x16float(k_cache[at + u]);
                dot += qa[u] * k.x + qb[u] * k.y;
            }
        }
        let s = select(lowest, dot, vec4<u32>(j) <= last);
        let m_new = max(m, s);
        let alpha = exp(m - m_new);
        // e^(s - m) is 0 for a key a query does not see (s is `lowest`; its m stays `lowest` only until its
        // first key, which every query sees in the first pass).
        let e = select(vec4<f32>(0.0), exp(s - m_new), s > lowest);
        l = l * alpha + e;
        m = m_new;
        for (var u = 0u; u < DU; u++) {
            if u < units {
                let v = unpack2x16float(v_cache[at + u]);
                aa[u] = aa[u] * alpha + e * v.x;
                ab[u] = ab[u] * alpha + e * v.y;
            }
        }
    }
    let sums = select(vec4<f32>(1.0), l, p.finish == 1u);
    for (var r = 0u; r < R; r++) {
        let t = tl + r;
        if t < p.n_tokens {
            if p.finish == 0u {
                let at = (t * p.n_head + head) * 2u;
                partial[at] = m[r];
                partial[at + 1u] = l[r];
            }
            for (var u = 0u; u < DU; u++) {
                if u < units {
                    let o = (t * p.n_head + head) * d + 2u * u;
                    out[o] = aa[u][r] / sums[r];
                    out[o + 1u] = ab[u][r] / sums[r];
                }
            }
        }
    }
}
