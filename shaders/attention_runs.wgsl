// Attention decode for software adapters (lavapipe, SwiftShader): `attn_partial`'s job (attention.wgsl)
// with the same parameters, grid and outputs (per (chunk, group of up to HB query heads sharing a KV
// head): the chunk's max m, sum l and acc = sum_j e^(s_j - m) v_j into `partial`, or out = acc / l for
// a context of one chunk), laid out for a CPU that runs a workgroup one subgroup at a time.
// A run of R = SUBGROUP_MIN consecutive lanes takes one key at a time: lane i holds units (pairs of dims)
// i, i + R, ... (PER_LANE of them) of the heads' queries and accumulators in registers, the key's scores
// s_j = q . k_j / sqrt(D) are the lanes' partial dots summed by shuffles, and each run keeps its own
// online softmax: running max m and sum l, its accumulators rescaled by e^(m_old - m_new) (Milakov &
// Gimelshein 2018; Vaswani et al. 2017, eq. 1). The runs merge once, at the end, in workgroup memory:
// out = sum_r e^(m_r - M) acc_r / sum_r e^(m_r - M) l_r with M = max_r m_r.
// Why a twin: CPUs pay for what GPUs get for free. attn_partial keeps a tile's scores in workgroup
// memory, takes four workgroup-wide steps per tile and indexes its accumulators by loop counters, and
// llvmpipe turns each of those accesses into per-lane loads and stores; here the loop over keys has no
// barrier, no workgroup memory, and private arrays indexed by constants only (PER_LANE is a constant of
// the source, so the loops over a lane's units unroll). Lavapipe, one process, alternated: 0.36-0.58x of
// attn_partial's time at 1000 keys for head dims 32, 64 and 128.
// The runtime takes it for an f16 cache (the default) and an even head dim whose units fit PER_LANE <= 32
// (archrace_gpu::attn_runs_per_lane), on adapters with subgroups; attn_partial otherwise.
// SUBGROUP_MIN and PER_LANE (a power of two, PER_LANE * SUBGROUP_MIN >= D / 2) are put at the top of the
// source by the runtime (archrace_gpu::Kernel::source_for).
// CPU twin: archrace_cpu::model::mixers::attention (its per-token loop).

const WG: u32 = 64u;
const HB: u32 = 4u;           // query heads per workgroup, one vec4 lane each (as attn_partial)
const MAX_DEC_D: u32 = 512u;  // widest decode head (archrace_gpu::MAX_DECODE_HEAD_DIM)
const RUNS: u32 = WG / SUBGROUP_MIN;

struct Params {
    n_head: u32,
    n_head_kv: u32,
    head_dim: u32,
    n_keys: u32,    // keys in the cache, this token's included
    n_chunks: u32,  // ceil(n_keys / chunk_len)
    scale: f32,     // 1 / sqrt(D)
    pos0: u32,      // unused here (attn_prefill's)
    n_tokens: u32,  // unused here (attn_prefill's)
    kv_f16: u32,    // 1 here: the cache holds f16 pairs
    chunk_len: u32, // keys per chunk (the last may have fewer)
    keys_from: u32, // unused here (attn_prefill's passes)
    keys_to: u32,
    resume: u32,
    finish: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;              // (H, D)
@group(0) @binding(2) var<storage, read> k_cache: array<u32>;        // (pos, H_kv, D / 2) f16 pairs
@group(0) @binding(3) var<storage, read> v_cache: array<u32>;        // (pos, H_kv, D / 2) f16 pairs
@group(0) @binding(4) var<storage, read_write> partial: array<f32>;  // (H, n_chunks, D + 2): m, l, acc
@group(0) @binding(5) var<storage, read_write> out: array<f32>;      // (H, D)

var<workgroup> run_max: array<vec4<f32>, RUNS>;   // each run's m, lane per head
var<workgroup> sums: array<vec4<f32>, MAX_DEC_D>; // (D): the runs' rescaled accumulators, summed
var<workgroup> sum_l: vec4<f32>;                  // the runs' rescaled l, summed

@compute @workgroup_size(WG)
fn attn_partial_runs(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let chunk = wg.x;
    let group = p.n_head / p.n_head_kv; // G
    let head_groups = (group + HB - 1u) / HB;
    let kv_head = wg.y / head_groups;
    let head0 = kv_head * group + (wg.y % head_groups) * HB;
    let hb = min(HB, (kv_head + 1u) * group - head0); // heads this workgroup serves
    let d = p.head_dim;
    let units = d / 2u;
    let row = p.n_head_kv * units; // words from one key's row to the next
    let run = tid / SUBGROUP_MIN;
    let lane = tid % SUBGROUP_MIN;
    // qa[k], qb[k]: dims 2u, 2u + 1 of unit u = lane + k R of each head's query, scaled by 1 / sqrt(D);
    // zero past the head dim and past the workgroup's heads, so those lanes add nothing to a score.
    var qa: array<vec4<f32>, PER_LANE>;
    var qb: array<vec4<f32>, PER_LANE>;
    for (var k = 0u; k < PER_LANE; k++) {
        let u = lane + k * SUBGROUP_MIN;
        for (var h = 0u; h < HB; h++) {
            if u < units && h < hb {
                let at = (head0 + h) * d + 2u * u;
                qa[k][h] = q[at] * p.scale;
                qb[k][h] = q[at + 1u] * p.scale;
            }
        }
    }
    let first = chunk * p.chunk_len;
    let n = min(p.chunk_len, p.n_keys - first);
    let lowest = vec4<f32>(-0x1.fffffep+127f);
    var m = lowest;
    var l = vec4<f32>(0.0);
    var acc_a: array<vec4<f32>, PER_LANE>;
    var acc_b: array<vec4<f32>, PER_LANE>;
    // Run r takes keys r * steps .. (r + 1) * steps of the chunk, in order: a CPU runs one run's whole loop
    // before the next run's, so each streams its own stretch of the cache once. (Keys dealt out in turn, key
    // j to run j % RUNS, made every run stream the whole chunk for its share of the keys: once the layers'
    // caches outgrow the CPU's, up to 3x slower at 64K keys on lavapipe.) Every run takes the same number of
    // steps (the shuffles stay in uniform control flow); a run past the chunk's last key reads that key again
    // and gives it no weight, and a run past it from its first step keeps m = lowest.
    let steps = (n + RUNS - 1u) / RUNS;
    for (var step = 0u; step < steps; step++) {
        let j = run * steps + step;
        let valid = j < n;
        let at = (first + min(j, n - 1u)) * row + kv_head * units; // the key's first word
        var s = vec4<f32>(0.0);
        for (var k = 0u; k < PER_LANE; k++) {
            let key = unpack2x16float(k_cache[at + min(lane + k * SUBGROUP_MIN, units - 1u)]);
            s += qa[k] * key.x + qb[k] * key.y;
        }
        for (var o = SUBGROUP_MIN / 2u; o > 0u; o >>= 1u) {
            s += subgroupShuffleXor(s, o);
        }
        let m_new = select(m, max(m, s), valid);
        let alpha = exp(m - m_new);
        let e = select(vec4<f32>(0.0), exp(s - m_new), valid);
        l = l * alpha + e;
        m = m_new;
        for (var k = 0u; k < PER_LANE; k++) {
            let v = unpack2x16float(v_cache[at + min(lane + k * SUBGROUP_MIN, units - 1u)]);
            acc_a[k] = acc_a[k] * alpha + e * v.x;
            acc_b[k] = acc_b[k] * alpha + e * v.y;
        }
    }
    if lane == 0u {
        run_max[run] = m;
    }
    workgroupBarrier();
    var big_m = run_max[0];
    for (var r = 1u; r < RUNS; r++) {
        big_m = max(big_m, run_max[r]);
    }
    // A run that saw no key keeps m = lowest and adds nothing.
    let weight = select(vec4<f32>(0.0), exp(m - big_m), m > lowest);
    for (var r = 0u; r < RUNS; r++) {
        if run == r {
            for (var k = 0u; k < PER_LANE; k++) {
                let u = lane + k * SUBGROUP_MIN;
                if u < units {
                    let a = acc_a[k] * weight;
                    let b = acc_b[k] * weight;
                    sums[2u * u] = select(sums[2u * u] + a, a, r == 0u);
                    sums[2u * u + 1u] = select(sums[2u * u + 1u] + b, b, r == 0u);
                }
            }
            if lane == 0u {
                sum_l = select(sum_l + l * weight, l * weight, r == 0u);
            }
        }
        workgroupBarrier();
    }
    let total_l = sum_l;
    let whole = p.n_chunks == 1u;
    if tid < hb && !whole {
        let po = ((head0 + tid) * p.n_chunks + chunk) * (d + 2u);
        partial[po] = big_m[tid];
        partial[po + 1u] = total_l[tid];
    }
    for (var i = tid; i < d; i += WG) {
        let pair = sums[i];
        for (var h = 0u; h < hb; h++) {
            if whole {
                out[(head0 + h) * d + i] = pair[h] / total_l[h];
            } else {
                partial[((head0 + h) * p.n_chunks + chunk) * (d + 2u) + 2u + i] = pair[h];
            }
        }
    }
}
