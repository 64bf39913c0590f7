// Sampling with temperature on the GPU, the CPU sampler's procedure step for step (CPU twin:
// archrace_model::sample::Sampler::sample): repetition penalty on the recent tokens; the top_k
// candidates by logit (ties to the lower id, in f32::total_cmp's order, as the CPU sorts); top-p and
// min-p on the probabilities before temperature; then the one uniform draw u (the host's SplitMix64
// stream, one draw per token, as the CPU sampler's) picks from the temperature-scaled weights. One
// workgroup. A NaN or infinite logit writes NON_FINITE instead of a token (lib/reduce.wgsl), which the
// host reports. Reductions: lib/reduce.wgsl.
//
// The candidates come from a radix select, so the vocabulary is read a fixed number of times whatever
// top_k is: four passes over the logits' order keys, 8 bits each from the top, count the keys under the
// prefix chosen so far per digit (a histogram in workgroup memory) and keep the digit where the k-th
// largest key falls. That key's ties go to the lowest ids: when the top k take only some of them, a
// second select (over n - 1 - id, so the largest is the lowest id) finds the last id taken. One more pass
// gathers the k candidates and a rank sort orders them. Each thread visits UNROLL ids a loop step, so a
// vocabulary of MAX_VOCAB (4M) takes under 38,000 loop back-edges per thread (llvmpipe caps 65,535).

const WG: u32 = 256u;
const MAX_TOP_K: u32 = 64u;
const GROUPS: u32 = 16u; // digits are found in 16 groups of 16
const UNROLL: u32 = 4u; // ids a thread visits a loop step, written out (no loop of their own)
// Threads count into COPIES histograms (thread t into copy t % COPIES), so neighbouring threads adding to
// one crowded digit hit different counters. Copies sit COPY_STRIDE = 256 + 1 words apart, so a digit's
// copies fall in different banks of workgroup memory (32 banks of 4 bytes on NVIDIA and AMD GPUs).
const COPIES: u32 = 8u;
const COPY_STRIDE: u32 = 257u;

struct SampleParams {
    n: u32,
    out_index: u32,
    top_k: u32,    // 1..=MAX_TOP_K
    n_recent: u32, // distinct recent tokens the penalty applies to
    temperature: f32,
    top_p: f32,
    min_p: f32,
    repeat_penalty: f32,
    u: f32,        // uniform draw in [0, 1)
}

@group(0) @binding(0) var<storage, read> sp: SampleParams;
@group(0) @binding(1) var<storage, read_write> logits_rw: array<f32>;
@group(0) @binding(2) var<storage, read> recent: array<u32>;
@group(0) @binding(3) var<storage, read_write> sampled: array<u32>;

var<workgroup> hist: array<atomic<u32>, COPIES * COPY_STRIDE>; // (COPIES, 257): members per digit, in parts
var<workgroup> digits: array<u32, WG>;                   // (256): a pass's members per digit
var<workgroup> group_sum: array<atomic<u32>, GROUPS>;    // (16): members per 16 consecutive digits
var<workgroup> chosen: vec3<u32>;              // a pass's digit, the members above it, the members in it
var<workgroup> ties_split: u32;              // 1 when the top k take only some of the k-th key's ties
var<workgroup> n_cand: atomic<u32>;
var<workgroup> cand_v: array<f32, MAX_TOP_K>; // the k candidates as gathered
var<workgroup> cand_i: array<u32, MAX_TOP_K>;
var<workgroup> top_v: array<f32, MAX_TOP_K>;  // the same, logit descending, id ascending
var<workgroup> top_i: array<u32, MAX_TOP_K>;

// A key whose unsigned order is f32::total_cmp's order (so -0 before +0): sign bit set for positives,
// every bit flipped for negatives.
fn order_key(v: f32) -> u32 {
    let b = bitcast<u32>(v);
    return select(b | 0x80000000u, ~b, b >= 0x80000000u);
}

// 1 for a NaN or infinite logit at id i, 0 for a finite one or past the vocabulary.
fn bad_at(i: u32) -> f32 {
    return select(0.0, 1.0, i < sp.n && non_finite(logits_rw[min(i, sp.n - 1u)]));
}

const NO_DIGIT: u32 = 256u;

// The digit at `shift` of id i's key if it is a member whose key has `prefix` under `mask`, else NO_DIGIT.
// Members: every id, keyed by its logit; with by_id, the ids whose logit key is `tie`, keyed n - 1 - id.
fn member_digit(i: u32, by_id: bool, tie: u32, prefix: u32, mask: u32, shift: u32) -> u32 {
    if i >= sp.n {
        return NO_DIGIT;
    }
    var key = order_key(logits_rw[i]);
    if by_id {
        if key != tie {
            return NO_DIGIT;
        }
        key = sp.n - 1u - i;
    }
    return select(NO_DIGIT, (key >> shift) & 0xffu, (key & mask) == prefix);
}

// Counts ids i, i + WG, i + 2 WG and i + 3 WG into their digits with one atomic add per distinct digit
// among them. Logits crowd into a few digits (the first pass's digit is the sign and the exponent's top
// 7 bits, which most logits of a vocabulary share), so this takes most of the adds off the busy counter.
// Each distinct digit is added at its first appearance, with how many of the four have it, into the
// histogram copy that starts at hist[copy].
fn count_digits(copy: u32, i: u32, by_id: bool, tie: u32, prefix: u32, mask: u32, shift: u32) {
    let d0 = member_digit(i, by_id, tie, prefix, mask, shift);
    let d1 = member_digit(i + WG, by_id, tie, prefix, mask, shift);
    let d2 = member_digit(i + 2u * WG, by_id, tie, prefix, mask, shift);
    let d3 = member_digit(i + 3u * WG, by_id, tie, prefix, mask, shift);
    if d0 != NO_DIGIT {
        atomicAdd(&hist[copy + d0], 1u + u32(d1 == d0) + u32(d2 == d0) + u32(d3 == d0));
    }
    if d1 != NO_DIGIT && d1 != d0 {
        atomicAdd(&hist[copy + d1], 1u + u32(d2 == d1) + u32(d3 == d1));
    }
    if d2 != NO_DIGIT && d2 != d0 && d2 != d1 {
        atomicAdd(&hist[copy + d2], 1u + u32(d3 == d2));
    }
    if d3 != NO_DIGIT && d3 != d0 && d3 != d1 && d3 != d2 {
        atomicAdd(&hist[copy + d3], 1u);
    }
}

// Radix select over the members (member_digit): the key of rank `rank` from the largest (1: the largest),
// 8 bits a pass from bit `top` (a multiple of 8) down. Returns that key, its rank among the members equal
// to it, and how many members equal it. Every thread calls it together and gets the same result.
fn select_rank(tid: u32, rank_in: u32, by_id: bool, tie: u32, top: u32) -> vec3<u32> {
    var prefix = 0u;
    var mask = 0u;
    var rank = rank_in;
    var equal = 0u;
    for (var s = i32(top); s >= 0; s -= 8) {
        let shift = u32(s);
        for (var c = 0u; c < COPIES; c++) {
            atomicStore(&hist[c * COPY_STRIDE + tid], 0u);
        }
        if tid < GROUPS {
            atomicStore(&group_sum[tid], 0u);
        }
        workgroupBarrier();
        let copy = (tid % COPIES) * COPY_STRIDE;
        for (var i = tid; i < sp.n; i += UNROLL * WG) {
            count_digits(copy, i, by_id, tie, prefix, mask, shift);
        }
        workgroupBarrier();
        // Each thread folds its digit's copies and adds it to its group of 16 digits.
        var count = 0u;
        for (var c = 0u; c < COPIES; c++) {
            count += atomicLoad(&hist[c * COPY_STRIDE + tid]);
        }
        digits[tid] = count;
        atomicAdd(&group_sum[tid / GROUPS], count);
        workgroupBarrier();
        // The digit where the members at or above it first reach `rank`, from the top: one thread walks
        // down the group sums and then down the digits of the group it stopped in.
        if tid == 0u {
            var above = 0u; // members in the digits above the one looked at
            var g = GROUPS - 1u;
            while g > 0u && above + atomicLoad(&group_sum[g]) < rank {
                above += atomicLoad(&group_sum[g]);
                g -= 1u;
            }
            var d = g * GROUPS + GROUPS - 1u;
            while d > g * GROUPS && above + digits[d] < rank {
                above += digits[d];
                d -= 1u;
            }
            chosen = vec3<u32>(d, above, digits[d]);
        }
        workgroupBarrier();
        // No thread reads hist or group_sum again this pass, so the next pass may clear them at once;
        // `digits` and `chosen` are rewritten only after its first barrier.
        let c = chosen;
        equal = c.z;
        rank -= c.y;
        prefix |= c.x << shift;
        mask |= 0xffu << shift;
    }
    return vec3<u32>(prefix, rank, equal);
}

// Gathers id i if it is among the top k: a key above the k-th, or equal to it with an id up to `last`.
fn gather(i: u32, tie: u32, last: u32) {
    if i >= sp.n {
        return;
    }
    let l = logits_rw[i];
    let key = order_key(l);
    if key > tie || (key == tie && i <= last) {
        let slot = atomicAdd(&n_cand, 1u);
        if slot < MAX_TOP_K {
            cand_v[slot] = l;
            cand_i[slot] = i;
        }
    }
}

@compute @workgroup_size(WG)
fn sample_top_k(@builtin(local_invocation_index) tid: u32) {
    var bad = 0.0;
    for (var i = tid; i < sp.n; i += UNROLL * WG) {
        bad += bad_at(i) + bad_at(i + WG) + bad_at(i + 2u * WG) + bad_at(i + 3u * WG);
    }
    let non_finite_logits = workgroup_sum(tid, bad);
    for (var j = tid; j < sp.n_recent; j += WG) {
        let id = recent[j];
        if id < sp.n {
            let l = logits_rw[id];
            logits_rw[id] = select(l * sp.repeat_penalty, l / sp.repeat_penalty, l > 0.0);
        }
    }
    storageBarrier();
    workgroupBarrier();
    let k = min(sp.top_k, sp.n);
    // (key, how many of its ties the top k take, how many ties it has)
    let kth = select_rank(tid, k, false, 0u, 24u);
    var last = sp.n - 1u; // the highest id among the k-th key's ties that the top k take
    if tid == 0u {
        ties_split = select(0u, 1u, kth.z > kth.y);
        atomicStore(&n_cand, 0u);
    }
    if workgroupUniformLoad(&ties_split) != 0u {
        let top = firstLeadingBit(max(sp.n - 1u, 1u)) / 8u * 8u;
        last = sp.n - 1u - select_rank(tid, kth.y, true, kth.x, top).x;
    }
    for (var i = tid; i < sp.n; i += UNROLL * WG) {
        gather(i, kth.x, last);
        gather(i + WG, kth.x, last);
        gather(i + 2u * WG, kth.x, last);
        gather(i + 3u * WG, kth.x, last);
    }
    workgroupBarrier();
    // Rank sort of the k candidates: each goes after those with a larger key or an equal key and lower id.
    if tid < k {
        let kv = order_key(cand_v[tid]);
        let ki = cand_i[tid];
        var r = 0u;
        for (var j = 0u; j < k; j++) {
            let kj = order_key(cand_v[j]);
            r += select(0u, 1u, kj > kv || (kj == kv && cand_i[j] < ki));
        }
        top_v[r] = cand_v[tid];
        top_i[r] = ki;
    }
    workgroupBarrier();
    if tid != 0u {
        return;
    }
    var kept = k;
    let top = top_v[0];
    var sum = 0.0;
    for (var t = 0u; t < kept; t++) {
        sum += exp(top_v[t] - top);
    }
    if sp.top_p < 1.0 {
        var acc = 0.0;
        for (var t = 0u; t < kept; t++) {
            acc += exp(top_v[t] - top) / sum;
            if acc >= sp.top_p {
                kept = t + 1u;
                break;
            }
        }
    }
    if sp.min_p > 0.0 {
        var keep = 0u;
        for (var t = 0u; t < kept; t++) {
            if exp(top_v[t] - top) / exp(top_v[0] - top) < sp.min_p {
                break;
            }
            keep = t + 1u;
        }
        kept = max(keep, 1u);
    }
    var total = 0.0;
    for (var t = 0u; t < kept; t++) {
        total += exp((top_v[t] - top) / sp.temperature);
    }
    let goal = sp.u * total;
    var acc = 0.0;
    var choice = top_i[kept - 1u];
    for (var t = 0u; t < kept; t++) {
        acc += exp((top_v[t] - top) / sp.temperature);
        if acc > goal {
            choice = top_i[t];
            break;
        }
    }
    sampled[sp.out_index] = select(choice, NON_FINITE, non_finite_logits > 0.0);
}
