// The MoE router's choice for one token: softmax over the experts' logits, then the top_k experts by
// probability (ties to the lower index), their probabilities kept as weights, not renormalised (Jamba and
// Mixtral as llama.cpp runs them). Writes route = [ids (top_k), weights as f32 bits (top_k)], which the
// expert matvecs read, so only the chosen experts' weights are ever touched.
// Each expert's rank is the number of experts before it in that order; the top_k ranks write their slot.
// One workgroup, a thread per expert (strided): no arrays and no sequential selection.
// CPU twin: the routing part of archrace_cpu::model::mixers::ffn.

struct Params {
    n_experts: u32,
    top_k: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;     // (n_experts)
@group(0) @binding(2) var<storage, read_write> route: array<u32>; // (2 top_k)

@compute @workgroup_size(64)
fn moe_route(@builtin(local_invocation_index) tid: u32) {
    var m = -0x1.fffffep+127f;
    for (var e = 0u; e < p.n_experts; e++) {
        m = max(m, logits[e]);
    }
    var sum = 0.0;
    for (var e = 0u; e < p.n_experts; e++) {
        sum += exp(logits[e] - m);
    }
    for (var e = tid; e < p.n_experts; e += 64u) {
        let pe = exp(logits[e] - m) / sum;
        var rank = 0u;
        for (var f = 0u; f < p.n_experts; f++) {
            let pf = exp(logits[f] - m) / sum;
            if pf > pe || (pf == pe && f < e) {
                rank += 1u;
            }
        }
        if rank < p.top_k {
            route[rank] = e;
            route[p.top_k + rank] = bitcast<u32>(pe);
        }
    }
}
