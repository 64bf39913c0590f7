// Attention decode for one query token over the KV cache, split over the context (flash-decoding):
// `attn_partial` gives each (chunk of chunk_len keys, group of up to HB query heads sharing a KV head) a
// workgroup that computes, per head, the chunk's scores s_j = q . k_j / sqrt(D), its max m,
// l = sum_j e^(s_j - m) and acc = sum_j e^(s_j - m) v_j;
// `attn_combine` merges the chunks per head: out = sum_c e^(m_c - M) acc_c / sum_c e^(m_c - M) l_c
// with M = max_c m_c (Vaswani et al. 2017, eq. 1, as a numerically stable streaming softmax). A context of
// one chunk needs no merge: `attn_partial` then writes out = acc / l itself (the same value the merge
// would give, e^0 = 1), and the step has no `attn_combine` dispatch. The host chooses chunk_len from the
// context length (archrace_gpu::runtime::attn_chunk): one chunk up to 256 keys, then enough chunks to
// fill a large GPU with workgroups, and never more than TILE of them.
// `attn_prefill` (prefill): a chunk of T tokens at positions pos0 .. pos0 + T; a workgroup takes up to 16
// (query, head) pairs that share a KV head (four queries of up to four heads, or more queries of fewer
// heads: see MAX_LANES) and streams the keys in tiles of WG, a thread per key, each key and value read once
// for all of them, with an online softmax per pair (running max m, sum l and accumulator rescaled by
// e^(m_old - m_new) per tile; Milakov & Gimelshein 2018, Dao et al. 2022), so no T x L score matrix
// exists; query t sees keys 0 ..= pos0 + t (causal). Head dim at most 256 (QV).
// Passes: a dispatch reads keys keys_from .. keys_to. Where a device caps an invocation's loops (llvmpipe
// cuts every loop short past 65,535 back-edges: archrace_gpu::runtime::loop_budget), a long context takes
// several, each starting from the softmax state the one before left: per (query, head) m and l in
// `partial` (T, H, 2) and the unnormalised acc in `out`; the last writes out = acc / l.
// Grouped-query heads: query head h reads KV head h / (H / H_kv).
// CPU twin: archrace_cpu::model::mixers::attention (its per-token loop). Reductions: lib/reduce.wgsl.

const WG: u32 = 64u;

struct Params {
    n_head: u32,
    n_head_kv: u32,
    head_dim: u32,
    n_keys: u32,   // keys in the cache, this token's included
    n_chunks: u32, // ceil(n_keys / chunk_len), at most TILE
    scale: f32,    // 1 / sqrt(D)
    pos0: u32,     // attn_prefill: position of the chunk's first token
    n_tokens: u32, // attn_prefill: tokens in the chunk
    kv_f16: u32,   // 1: the cache holds f16 pairs (see rope_kv.wgsl); 0: f32
    chunk_len: u32, // attn_partial: keys per chunk (the last may have fewer)
    keys_from: u32, // attn_prefill: this pass reads keys keys_from .. keys_to (each query up to its own)
    keys_to: u32,
    resume: u32,    // attn_prefill: 1: take each query's softmax state from the pass before (see attn_prefill)
    finish: u32,    // attn_prefill: 1: write out = acc / l; 0: leave the state for the next pass
}

// Key value i (of the cache's (pos, H_kv, D) values), as f32.
fn key(i: u32) -> f32 {
    if p.kv_f16 == 1u {
        return unpack2x16float(k_cache[i >> 1u])[i & 1u];
    }
    return bitcast<f32>(k_cache[i]);
}

// Value i, as f32.
fn value(i: u32) -> f32 {
    if p.kv_f16 == 1u {
        return unpack2x16float(v_cache[i >> 1u])[i & 1u];
    }
    return bitcast<f32>(v_cache[i]);
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;              // (H, D); attn_prefill (T, H, D)
@group(0) @binding(2) var<storage, read> k_cache: array<u32>;        // (pos, H_kv, D): f32 bits or f16 pairs
@group(0) @binding(3) var<storage, read> v_cache: array<u32>;        // (pos, H_kv, D)
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;  // (H, n_chunks, D + 2): m, l, acc;
                                                                     // attn_prefill (T, H, 2): m, l
@group(0) @binding(5) var<storage, read_write> out: array<f32>;      // (H, D); attn_prefill (T, H, D)

const TILE: u32 = 256u;     // keys whose scores a workgroup holds at once
const MAX_UNITS: u32 = 4u;  // accumulator units per thread: head dims up to 4 WG units (see attn_partial)
const HB: u32 = 4u;         // query heads per workgroup, one vec4 lane each (heads sharing a KV head)
const MAX_DEC_D: u32 = 512u; // widest decode head (archrace_gpu::MAX_DECODE_HEAD_DIM)

var<workgroup> scores: array<vec4<f32>, TILE>; // a key's score (then weight) for each of the HB heads
var<workgroup> qs: array<vec4<f32>, MAX_DEC_D>; // (D): the HB heads' queries, lane per head
var<workgroup> unit_sums: array<vec4<f32>, 2u * WG>; // (2, WG): a thread's two dims of its unit, lane per head

// Values u w .. u w + w - 1 of the key (value) row that starts at value `at`: w = 2 for an even head dim
// (one f16 pair, or two f32), else 1 (the second lane 0).
fn key_unit(at: u32, u: u32, w: u32) -> vec2<f32> {
    let i = at + u * w;
    if w == 1u {
        return vec2<f32>(key(i), 0.0);
    }
    if p.kv_f16 == 1u {
        return unpack2x16float(k_cache[i >> 1u]);
    }
    return vec2<f32>(bitcast<f32>(k_cache[i]), bitcast<f32>(k_cache[i + 1u]));
}

fn value_unit(at: u32, u: u32, w: u32) -> vec2<f32> {
    let i = at + u * w;
    if w == 1u {
        return vec2<f32>(value(i), 0.0);
    }
    if p.kv_f16 == 1u {
        return unpack2x16float(v_cache[i >> 1u]);
    }
    return vec2<f32>(bitcast<f32>(v_cache[i]), bitcast<f32>(v_cache[i + 1u]));
}

// Query heads sharing a KV head (GQA) are served together: workgroup (chunk, y) takes KV head
// y / head_groups and, of its G = H / H_kv query heads, up to HB from (y % head_groups) HB on, one vec4
// lane each, so each key and value the chunk reads serves every one of them (lanes past the group's heads
// hold zero queries and are never written). One (chunk, head group): the chunk's p.chunk_len keys (fewer
// in the last) in tiles of TILE, with an online softmax across the tiles (running max m and sum l, the
// accumulator rescaled by e^(m_old - m_new); Milakov & Gimelshein 2018). Scores: a thread per key.
// Accumulator: the head dim in units of w values, a thread per unit, and where the units leave threads
// over, the keys of a tile split among groups of threads (d = 64: 32 units, 2 groups) whose sums group 0
// adds at the end; a head dim past WG units has each thread take up to MAX_UNITS of them.
@compute @workgroup_size(WG)
fn attn_partial(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let chunk = wg.x;
    let group = p.n_head / p.n_head_kv; // G
    let head_groups = (group + HB - 1u) / HB;
    let kv_head = wg.y / head_groups;
    let head0 = kv_head * group + (wg.y % head_groups) * HB;
    let hb = min(HB, (kv_head + 1u) * group - head0); // heads this workgroup serves
    let d = p.head_dim;
    for (var i = tid; i < d; i += WG) {
        var v = vec4<f32>(0.0);
        for (var k = 0u; k < hb; k++) {
            v[k] = q[(head0 + k) * d + i];
        }
        qs[i] = v;
    }
    workgroupBarrier();
    let first = chunk * p.chunk_len;
    let n = min(p.chunk_len, p.n_keys - first);
    let w = select(1u, 2u, d % 2u == 0u);
    let units = d / w;
    let lanes = min(units, WG); // threads per group
    let groups = WG / lanes;
    let g = tid / lanes;
    let u0 = tid % lanes;
    var m = vec4<f32>(-0x1.fffffep+127f);
    var l = vec4<f32>(0.0);
    // acc_a[k], acc_b[k]: the first and second dim of unit u0 + k WG, lane per head.
    var acc_a = array<vec4<f32>, MAX_UNITS>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    var acc_b = array<vec4<f32>, MAX_UNITS>(vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0), vec4<f32>(0.0));
    for (var t0 = 0u; t0 < n; t0 += TILE) {
        let tn = min(TILE, n - t0);
        let key0 = first + t0;
        var local_max = vec4<f32>(-0x1.fffffep+127f);
        for (var j = tid; j < tn; j += WG) {
            let ko = ((key0 + j) * p.n_head_kv + kv_head) * d;
            var s = vec4<f32>(0.0);
            for (var u = 0u; u < units; u++) {
                let k = key_unit(ko, u, w);
                s += qs[u * w] * k.x;
                if w == 2u {
                    s += qs[u * w + 1u] * k.y;
                }
            }
            s *= p.scale;
            scores[j] = s;
            local_max = max(local_max, s);
        }
        let m_new = max(m, workgroup_max4(tid, local_max));
        var local_sum = vec4<f32>(0.0);
        for (var j = tid; j < tn; j += WG) {
            let e = exp(scores[j] - m_new);
            scores[j] = e;
            local_sum += e;
        }
        let tile_sum = workgroup_sum4(tid, local_sum); // its barriers also publish scores[]
        let alpha = exp(m - m_new);
        l = l * alpha + tile_sum;
        m = m_new;
        if g < groups {
            for (var k = 0u; k < MAX_UNITS; k++) {
                let u = u0 + k * WG;
                if u < units {
                    var a = acc_a[k] * alpha;
                    var b = acc_b[k] * alpha;
                    for (var j = g; j < tn; j += groups) {
                        let v = value_unit(((key0 + j) * p.n_head_kv + kv_head) * d, u, w);
                        a += scores[j] * v.x;
                        b += scores[j] * v.y;
                    }
                    acc_a[k] = a;
                    acc_b[k] = b;
                }
            }
        }
        workgroupBarrier(); // everyone has read scores[] before the next tile writes it
    }
    unit_sums[tid] = acc_a[0];
    unit_sums[WG + tid] = acc_b[0];
    workgroupBarrier();
    let whole = p.n_chunks == 1u;
    if tid < hb && !whole {
        let po = ((head0 + tid) * p.n_chunks + chunk) * (d + 2u);
        partial[po] = m[tid];
        partial[po + 1u] = l[tid];
    }
    if g != 0u {
        return;
    }
    for (var k = 0u; k < MAX_UNITS; k++) {
        let u = u0 + k * WG;
        if u < units {
            var a = acc_a[k];
            var b = acc_b[k];
            for (var other = 1u; other < groups; other++) {
                // groups > 1 only when every unit has one lane (k = 0)
                a += unit_sums[other * lanes + u0];
                b += unit_sums[WG + other * lanes + u0];
            }
            for (var h = 0u; h < hb; h++) {
                let po = ((head0 + h) * p.n_chunks + chunk) * (d + 2u);
                let qo = (head0 + h) * d;
                let pair = vec2<f32>(a[h], b[h]);
                for (var c = 0u; c < w; c++) {
                    if whole {
                        out[qo + u * w + c] = pair[c] / l[h];
                    } else {
                        partial[po + 2u + u * w + c] = pair[c];
                    }
                }
            }
        }
    }
}

// Merges a head's chunks: out = sum_c e^(m_c - M) acc_c / sum_c e^(m_c - M) l_c. The chunk weights
// e^(m_c - M) are computed once each, in workgroup memory (the host keeps n_chunks <= TILE).
@compute @workgroup_size(WG)
fn attn_combine(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let head = wg.x;
    let d = p.head_dim;
    let stride = d + 2u;
    let base = head * p.n_chunks * stride;
    var local_max = -0x1.fffffep+127f;
    for (var c = tid; c < p.n_chunks; c += WG) {
        local_max = max(local_max, partial[base + c * stride]);
    }
    let big_m = workgroup_max(tid, local_max);
    var local_denom = 0.0;
    for (var c = tid; c < p.n_chunks; c += WG) {
        let e = exp(partial[base + c * stride] - big_m);
        scores[c].x = e;
        local_denom += e * partial[base + c * stride + 1u];
    }
    let denom = workgroup_sum(tid, local_denom); // its barriers also publish scores[]
    for (var i = tid; i < d; i += WG) {
        var acc = 0.0;
        for (var c = 0u; c < p.n_chunks; c++) {
            acc += scores[c].x * partial[base + c * stride + 2u + i];
        }
        out[head * d + i] = acc / denom;
    }
}
// attn_prefill's workgroup: of one KV head's G query heads, up to hb (= min(G, nv)) heads, and nv / hb
// blocks of four consecutive queries, nv vec4 lanes in all (lane n: head n % hb, queries of block n / hb,
// a query per component). nv = min(MAX_LANES, 256 w / D), so that the lanes' queries fit QV values and
// their accumulators MAX_ITEMS per thread. archrace_gpu::runtime::attn_prefill_grid computes the same.
const MAX_LANES: u32 = 4u;
const QV: u32 = 512u;      // query values a workgroup stages: nv lanes x D (vec4s)
const MAX_ITEMS: u32 = 4u; // accumulator items per thread: (unit, lane) pairs, nv D / w of them, over WG

var<workgroup> qp: array<vec4<f32>, QV>;              // (nv, D): lane n's dim i at n D + i
var<workgroup> ep: array<vec4<f32>, MAX_LANES * WG>;  // (nv, WG): a key tile's e^(s - m), lane-major
var<workgroup> lane_w: array<vec4<f32>, MAX_LANES>;   // per lane: the tile's rescale e^(m_old - m_new), then l
const RUN: u32 = 8u;                                     // threads per lane in the tile's maximum
var<workgroup> run_max: array<vec4<f32>, MAX_LANES * RUN>; // (nv, RUN): maxima of runs of WG / RUN scores

// Every key is read once for all the workgroup's lanes: a thread scores one key of a tile of WG keys
// against every lane's queries; the scores' maxima, every lane's at once, take two steps; a thread
// accumulates items (a unit of w dims of the value, a lane) over the tile's keys: four barriers a tile,
// with or without subgroups. The softmax sums l stay per thread (each rescaled by the tile's
// e^(m_old - m_new), as the accumulators are) and are reduced once, at the end.
@compute @workgroup_size(WG)
fn attn_prefill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let d = p.head_dim;
    let w = select(1u, 2u, d % 2u == 0u);
    let units = d / w;
    let nv = min(MAX_LANES, 256u * w / d);
    let group = p.n_head / p.n_head_kv; // G
    let hb = min(group, nv);
    let blocks = nv / hb; // blocks of four queries
    let head_groups = (group + hb - 1u) / hb;
    let kv_head = wg.y / head_groups;
    let head0 = kv_head * group + (wg.y % head_groups) * hb;
    let heads = min(hb, (kv_head + 1u) * group - head0); // the last head group of a KV head may be short
    let t0 = wg.x * 4u * blocks;
    for (var e = tid; e < nv * d; e += WG) {
        let n = e / d;
        var v = vec4<f32>(0.0); // lanes past the workgroup's heads and queries past the chunk stay zero
        if n < hb * blocks && n % hb < heads {
            for (var c = 0u; c < 4u; c++) {
                let t = t0 + 4u * (n / hb) + c;
                if t < p.n_tokens {
                    v[c] = q[(t * p.n_head + head0 + n % hb) * d + e % d];
                }
            }
        }
        qp[e] = v;
    }
    workgroupBarrier();
    // Lane n's query c sees keys 0 ..= last[n][c] (causal); the workgroup reads keys up to its last query's.
    var last: array<vec4<u32>, MAX_LANES>;
    for (var n = 0u; n < MAX_LANES; n++) {
        last[n] = p.pos0 + t0 + 4u * (n / hb) + vec4<u32>(0u, 1u, 2u, 3u);
    }
    // This pass reads keys keys_from .. keys_end: up to keys_to, and none past the workgroup's last query's.
    let keys_end = min(p.keys_to, p.pos0 + min(t0 + 4u * blocks, p.n_tokens));
    let lowest = vec4<f32>(-0x1.fffffep+127f);
    var m = array<vec4<f32>, MAX_LANES>(lowest, lowest, lowest, lowest);
    var l = array<vec4<f32>, MAX_LANES>(); // this thread's keys' share of each lane's softmax sum
    // acc_a[c], acc_b[c]: item tid + c WG (unit u = item / nv, lane item % nv): its first and second dim.
    var acc_a = array<vec4<f32>, MAX_ITEMS>();
    var acc_b = array<vec4<f32>, MAX_ITEMS>();
    if p.resume == 1u {
        // The state the pass before left: every thread takes m, thread 0 the sum l, each item its acc.
        for (var n = 0u; n < MAX_LANES; n++) {
            for (var c = 0u; c < 4u; c++) {
                let at = prefill_state_at(n, c, t0, hb, blocks, heads, head0);
                if n < nv && at != NO_STATE {
                    m[n][c] = partial[at];
                    if tid == 0u {
                        l[n][c] = partial[at + 1u];
                    }
                }
            }
        }
        for (var c = 0u; c < MAX_ITEMS; c++) {
            let item = tid + c * WG;
            let n = item % nv;
            for (var qc = 0u; qc < 4u; qc++) {
                let at = prefill_state_at(n, qc, t0, hb, blocks, heads, head0);
                if item < units * nv && at != NO_STATE {
                    let o = (at / 2u) * d + (item / nv) * w; // (t, head) of the state, unit item / nv
                    acc_a[c][qc] = out[o];
                    if w == 2u {
                        acc_b[c][qc] = out[o + 1u];
                    }
                }
            }
        }
    }
    for (var first = p.keys_from; first < keys_end; first += WG) {
        let j = first + tid;
        var s = array<vec4<f32>, MAX_LANES>(lowest, lowest, lowest, lowest);
        if j < keys_end {
            let ko = (j * p.n_head_kv + kv_head) * d;
            var dots = array<vec4<f32>, MAX_LANES>();
            for (var u = 0u; u < units; u++) {
                let k = key_unit(ko, u, w);
                for (var n = 0u; n < MAX_LANES; n++) {
                    if n < nv {
                        dots[n] += qp[n * d + u * w] * k.x;
                        if w == 2u {
                            dots[n] += qp[n * d + u * w + 1u] * k.y;
                        }
                    }
                }
            }
            for (var n = 0u; n < MAX_LANES; n++) {
                s[n] = select(lowest, dots[n] * p.scale, vec4<u32>(j) <= last[n]); // Vaswani et al. eq. 1
            }
        }
        // The tile's maximum score per lane, every lane at once, in two steps behind a barrier each: RUN
        // threads per lane take WG / RUN scores each, then every thread takes the lane's RUN maxima.
        for (var n = 0u; n < MAX_LANES; n++) {
            ep[n * WG + tid] = s[n];
        }
        workgroupBarrier();
        if tid < MAX_LANES * RUN {
            let at = (tid / RUN) * WG + (tid % RUN) * (WG / RUN);
            var top = ep[at];
            for (var k = 1u; k < WG / RUN; k++) {
                top = max(top, ep[at + k]);
            }
            run_max[tid] = top;
        }
        workgroupBarrier(); // publishes run_max[]; everyone has read ep[] before the weights replace it
        for (var n = 0u; n < MAX_LANES; n++) {
            if n < nv {
                var top = run_max[n * RUN];
                for (var r = 1u; r < RUN; r++) {
                    top = max(top, run_max[n * RUN + r]);
                }
                let m_new = max(m[n], top);
                let alpha = exp(m[n] - m_new);
                // s is `lowest` for keys a query does not see, so e^(s - m_new) is 0 there: every lane sees
                // key 0 in the first tile, so m_new is a real score.
                let e = select(vec4<f32>(0.0), exp(s[n] - m_new), s[n] > lowest);
                ep[n * WG + tid] = e;
                l[n] = l[n] * alpha + e;
                m[n] = m_new;
                if tid == 0u {
                    lane_w[n] = alpha;
                }
            }
        }
        workgroupBarrier(); // publishes ep[] and lane_w[]
        let tn = min(WG, keys_end - first);
        for (var c = 0u; c < MAX_ITEMS; c++) {
            let item = tid + c * WG;
            if item < units * nv {
                let u = item / nv;
                let n = item % nv;
                let alpha = lane_w[n];
                var a = acc_a[c] * alpha;
                var b = acc_b[c] * alpha;
                for (var jj = 0u; jj < tn; jj++) {
                    let e = ep[n * WG + jj];
                    let v = value_unit(((first + jj) * p.n_head_kv + kv_head) * d, u, w);
                    a += e * v.x;
                    b += e * v.y;
                }
                acc_a[c] = a;
                acc_b[c] = b;
            }
        }
        workgroupBarrier(); // everyone has read ep[] and lane_w[] before the next tile writes them
    }
    for (var n = 0u; n < MAX_LANES; n++) {
        if n < nv { // uniform, as above
            let total = workgroup_sum4(tid, l[n]);
            if tid == 0u {
                lane_w[n] = total;
            }
        }
    }
    workgroupBarrier();
    if p.finish == 0u {
        // Leave the state for the next pass: m and l per (query, head), acc unnormalised in out.
        if tid == 0u {
            for (var n = 0u; n < MAX_LANES; n++) {
                for (var c = 0u; c < 4u; c++) {
                    let at = prefill_state_at(n, c, t0, hb, blocks, heads, head0);
                    if n < nv && at != NO_STATE {
                        partial[at] = m[n][c];
                        partial[at + 1u] = lane_w[n][c];
                    }
                }
            }
        }
    }
    for (var c = 0u; c < MAX_ITEMS; c++) {
        let item = tid + c * WG;
        let n = item % nv;
        if item < units * nv && n < hb * blocks && n % hb < heads {
            let u = item / nv;
            let head = head0 + n % hb;
            let sums = select(vec4<f32>(1.0), lane_w[n], p.finish == 1u);
            for (var qc = 0u; qc < 4u; qc++) {
                let t = t0 + 4u * (n / hb) + qc;
                if t < p.n_tokens {
                    let o = (t * p.n_head + head) * d + u * w;
                    out[o] = acc_a[c][qc] / sums[qc];
                    if w == 2u {
                        out[o + 1u] = acc_b[c][qc] / sums[qc];
                    }
                }
            }
        }
    }
}

const NO_STATE: u32 = 0xffffffffu;

// Where query c of lane n keeps its softmax state between passes in `partial` ((T, H, 2): m, l; so at / 2
// is its (t, head) row of `out`), or NO_STATE for a lane past the workgroup's heads or a query past the chunk.
fn prefill_state_at(n: u32, c: u32, t0: u32, hb: u32, blocks: u32, heads: u32, head0: u32) -> u32 {
    let t = t0 + 4u * (n / hb) + c;
    if n >= hb * blocks || n % hb >= heads || t >= p.n_tokens {
        return NO_STATE;
    }
    return (t * p.n_head + head0 + n % hb) * 2u;
}
