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
// `moe_norm_route` (decode) is the feed-forward's whole front in one dispatch: the layer's norm of the
// residual row x into h (which the experts' products then read), the router's product h W_r^T (f32
// weights), and moe_route's softmax and top-k, one workgroup per token.
// CPU twins: archrace_cpu::ops::moe::{moe_route, moe_norm_route}.

const WG: u32 = 256u; // moe_norm_route's threads (lib/reduce.wgsl)
const MAX_EXPERTS: u32 = 256u;

struct Params {
    n_experts: u32,
    top_k: u32,
    n_tokens: u32, // moe_lists: T
    n_embd: u32,   // moe_norm_route: E
    kind: u32,     // moe_norm_route: the norm, 0 RMSNorm, 1 LayerNorm (as norm.wgsl)
    eps: f32,      // moe_norm_route: the norm's epsilon
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;     // (T, n_experts)
@group(0) @binding(2) var<storage, read_write> route: array<u32>; // (T, 2 top_k)
@group(0) @binding(3) var<storage, read_write> lists: array<u32>; // moe_lists: (n_experts (1 + 2 T))
@group(0) @binding(4) var<storage, read> x: array<f32>;              // moe_norm_route: residual (T, E)
@group(0) @binding(5) var<storage, read> norm_w: array<f32>;         // (E)
@group(0) @binding(6) var<storage, read> norm_b: array<f32>;         // (E), LayerNorm only
@group(0) @binding(7) var<storage, read> router: array<f32>;         // (n_experts, E)
@group(0) @binding(8) var<storage, read_write> h: array<f32>;        // (T, E): the normed rows

var<workgroup> probs: array<f32, MAX_EXPERTS>; // moe_norm_route: one token's logits, then probabilities

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

// The normed value of column i of the row at x[row ..], given its mean (0 for RMSNorm) and scale.
fn normed(row: u32, i: u32, mean: f32, scale: f32) -> f32 {
    var v = (x[row + i] - mean) * scale * norm_w[i];
    if p.kind == 1u {
        v += norm_b[i];
    }
    return v;
}

@compute @workgroup_size(WG)
fn moe_norm_route(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let e = p.n_embd;
    let row = wg.x * e;
    // The norm, as norm.wgsl's (lib/row_norm.wgsl).
    let stats = row_norm_stats(tid, row, e, p.kind == 1u, p.eps);
    let mean = stats.x;
    let scale = stats.y;
    for (var i = tid; i < e; i += WG) {
        h[row + i] = normed(row, i, mean, scale);
    }
    // The router's logits: tpe threads per expert (a power of two), each a strided share of the columns,
    // summed in red_v; rounds of WG / tpe experts.
    let tpe = 1u << firstLeadingBit(max(1u, WG / max(1u, p.n_experts)));
    let lane = tid % tpe;
    let per_round = WG / tpe;
    for (var first = 0u; first < p.n_experts; first += per_round) {
        let ex = first + tid / tpe;
        var acc = 0.0;
        if ex < p.n_experts {
            for (var i = lane; i < e; i += tpe) {
                acc += router[ex * e + i] * normed(row, i, mean, scale);
            }
        }
        red_v[tid] = acc;
        workgroupBarrier();
        for (var stride = tpe / 2u; stride > 0u; stride >>= 1u) {
            if lane < stride {
                red_v[tid] += red_v[tid + stride];
            }
            workgroupBarrier();
        }
        if lane == 0u && ex < p.n_experts {
            probs[ex] = red_v[tid];
        }
        workgroupBarrier();
    }
    // Softmax and top-k as moe_route: every thread finds the maximum and the sum, then each expert's rank.
    var m = -0x1.fffffep+127f;
    for (var i = 0u; i < p.n_experts; i++) {
        m = max(m, probs[i]);
    }
    var sum = 0.0;
    for (var i = 0u; i < p.n_experts; i++) {
        sum += exp(probs[i] - m);
    }
    workgroupBarrier(); // every thread has read the logits before they become probabilities
    for (var i = tid; i < p.n_experts; i += WG) {
        probs[i] = exp(probs[i] - m) / sum;
    }
    workgroupBarrier();
    let ro = wg.x * 2u * p.top_k;
    for (var i = tid; i < p.n_experts; i += WG) {
        let pe = probs[i];
        var rank = 0u;
        for (var f = 0u; f < p.n_experts; f++) {
            let pf = probs[f];
            if pf > pe || (pf == pe && f < i) {
                rank += 1u;
            }
        }
        if rank < p.top_k {
            route[ro + rank] = i;
            route[ro + p.top_k + rank] = bitcast<u32>(pe);
        }
    }
}
