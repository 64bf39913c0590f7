// The MoE router's choice for one token: softmax over the experts' logits, then the top_k experts by
// probability (ties to the lower index), their probabilities kept as weights, not renormalised (Jamba and
// Mixtral as llama.cpp runs them). Writes route = [ids (top_k), weights as f32 bits (top_k)], which the
// expert matvecs read, so only the chosen experts' weights are ever touched.
// A single thread: experts are few (16 in Jamba) and this is one step among dozens.
// CPU twin: the routing part of archrace_cpu::model::mixers::ffn.

struct Params {
    n_experts: u32,
    top_k: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;     // (n_experts)
@group(0) @binding(2) var<storage, read_write> route: array<u32>; // (2 top_k)

@compute @workgroup_size(1)
fn moe_route() {
    var m = -0x1.fffffep+127f;
    for (var e = 0u; e < p.n_experts; e++) {
        m = max(m, logits[e]);
    }
    var sum = 0.0;
    for (var e = 0u; e < p.n_experts; e++) {
        sum += exp(logits[e] - m);
    }
    var taken = array<u32, 8>(); // bit sets of chosen experts, up to 256 experts
    for (var k = 0u; k < p.top_k; k++) {
        var best = 0u;
        var best_p = -1.0;
        for (var e = 0u; e < p.n_experts; e++) {
            let pe = exp(logits[e] - m) / sum;
            if (taken[e / 32u] & (1u << (e % 32u))) == 0u && pe > best_p {
                best = e;
                best_p = pe;
            }
        }
        taken[best / 32u] |= 1u << (best % 32u);
        route[k] = best;
        route[p.top_k + k] = bitcast<u32>(best_p);
    }
}
