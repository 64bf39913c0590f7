// The MoE router's choice for one token: softmax over the experts' logits, then the top_k experts by
// probability (ties to the lower index), their probabilities kept as weights, not renormalised (Jamba and
// Mixtral as llama.cpp runs them). Writes route = [ids (top_k), weights as f32 bits (top_k)], which the
// expert matvecs read, so only the chosen experts' weights are ever touched.
// Each expert's rank is the number of experts before it in that order; the top_k ranks write their slot.
// One workgroup per token (T of them in a prefill chunk: token t reads logits[t * n_experts ..] and writes
// route[t * 2 top_k ..]), a thread per expert (strided): no arrays and no sequential selection.
// `moe_lists` (prefill) turns T routes into one token list per expert for the gathering and scattering
// expert matmuls (lib/matmul.wgsl): lists = [count (n_experts)], [ids (n_experts, T)], [weights as f32
// bits (n_experts, T)], tokens in order. One thread per expert.
// CPU twin: the routing part of archrace_cpu::model::mixers::ffn.

struct Params {
    n_experts: u32,
    top_k: u32,
    n_tokens: u32, // moe_lists: T
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;     // (T, n_experts)
@group(0) @binding(2) var<storage, read_write> route: array<u32>; // (T, 2 top_k)
@group(0) @binding(3) var<storage, read_write> lists: array<u32>; // moe_lists: (n_experts (1 + 2 T))

@compute @workgroup_size(64)
fn moe_route(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let lo = wg.x * p.n_experts;
    let ro = wg.x * 2u * p.top_k;
    var m = -0x1.fffffep+127f;
    for (var e = 0u; e < p.n_experts; e++) {
        m = max(m, logits[lo + e]);
    }
    var sum = 0.0;
    for (var e = 0u; e < p.n_experts; e++) {
        sum += exp(logits[lo + e] - m);
    }
    for (var e = tid; e < p.n_experts; e += 64u) {
        let pe = exp(logits[lo + e] - m) / sum;
        var rank = 0u;
        for (var f = 0u; f < p.n_experts; f++) {
            let pf = exp(logits[lo + f] - m) / sum;
            if pf > pe || (pf == pe && f < e) {
                rank += 1u;
            }
        }
        if rank < p.top_k {
            route[ro + rank] = e;
            route[ro + p.top_k + rank] = bitcast<u32>(pe);
        }
    }
}

@compute @workgroup_size(64)
fn moe_lists(@builtin(global_invocation_id) gid: vec3<u32>) {
    let e = gid.x;
    if e >= p.n_experts {
        return;
    }
    let t_max = p.n_tokens;
    let ids = p.n_experts + e * t_max;
    let weights = p.n_experts + p.n_experts * t_max + e * t_max;
    var count = 0u;
    for (var t = 0u; t < t_max; t++) {
        for (var s = 0u; s < p.top_k; s++) {
            if route[t * 2u * p.top_k + s] == e {
                lists[ids + count] = t;
                lists[weights + count] = route[t * 2u * p.top_k + p.top_k + s];
                count += 1u;
            }
        }
    }
    lists[e] = count;
}
