// Sampling with temperature on the GPU, the CPU sampler's procedure step for step (CPU twin:
// archrace_model::sample::Sampler::sample): repetition penalty on the recent tokens; the top_k
// candidates by logit (ties to the lower id), found by top_k passes that each take the best candidate
// after the previous one; top-p and min-p on the probabilities before temperature; then the one uniform
// draw u (the host's SplitMix64 stream, one draw per token, as the CPU sampler's) picks from the
// temperature-scaled weights. One workgroup; thread 0 does the short sequential part in the CPU's order.
// A NaN or infinite logit writes NON_FINITE instead of a token (lib/reduce.wgsl), which the host reports.
// Reductions: lib/reduce.wgsl.

const WG: u32 = 256u;
const MAX_TOP_K: u32 = 64u;

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

var<workgroup> cand_v: array<f32, MAX_TOP_K>;
var<workgroup> cand_i: array<u32, MAX_TOP_K>;

// Whether (v, i) comes after (pv, pi) in the order logit descending, id ascending.
fn after(v: f32, i: u32, pv: f32, pi: u32) -> bool {
    return v < pv || (v == pv && i > pi);
}

@compute @workgroup_size(WG)
fn sample_top_k(@builtin(local_invocation_index) tid: u32) {
    var bad = 0.0;
    for (var i = tid; i < sp.n; i += WG) {
        bad += select(0.0, 1.0, non_finite(logits_rw[i]));
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
    var pv = 0x1.fffffep+127f;
    var pi = 0u;
    var first = true;
    for (var t = 0u; t < sp.top_k; t++) {
        var v = -0x1.fffffep+127f;
        var idx = NONE;
        for (var i = tid; i < sp.n; i += WG) {
            let l = logits_rw[i];
            if (first || after(l, i, pv, pi)) && (idx == NONE || l > v) {
                v = l;
                idx = i;
            }
        }
        let best = workgroup_argmax(tid, Best(v, idx));
        pv = best.v;
        pi = best.i;
        first = false;
        if tid == 0u {
            cand_v[t] = pv;
            cand_i[t] = pi;
        }
    }
    if tid != 0u {
        return;
    }
    var k = min(sp.top_k, sp.n);
    let top = cand_v[0];
    var sum = 0.0;
    for (var t = 0u; t < k; t++) {
        sum += exp(cand_v[t] - top);
    }
    if sp.top_p < 1.0 {
        var acc = 0.0;
        for (var t = 0u; t < k; t++) {
            acc += exp(cand_v[t] - top) / sum;
            if acc >= sp.top_p {
                k = t + 1u;
                break;
            }
        }
    }
    if sp.min_p > 0.0 {
        var keep = 0u;
        for (var t = 0u; t < k; t++) {
            if exp(cand_v[t] - top) / exp(cand_v[0] - top) < sp.min_p {
                break;
            }
            keep = t + 1u;
        }
        k = max(keep, 1u);
    }
    var total = 0.0;
    for (var t = 0u; t < k; t++) {
        total += exp((cand_v[t] - top) / sp.temperature);
    }
    let goal = sp.u * total;
    var acc = 0.0;
    var choice = cand_i[k - 1u];
    for (var t = 0u; t < k; t++) {
        acc += exp((cand_v[t] - top) / sp.temperature);
        if acc > goal {
            choice = cand_i[t];
            break;
        }
    }
    sampled[sp.out_index] = select(choice, NON_FINITE, non_finite_logits > 0.0);
}
