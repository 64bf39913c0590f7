// Greedy sampling on the GPU: the index of the largest logit (ties to the lower index), written to
// tokens[out_index], so a decode step reads back 4 bytes and the next step's embedding reads it in place.
// One workgroup. A NaN or infinite logit writes NON_FINITE instead (lib/reduce.wgsl), which the host
// reports as an error. CPU twin: archrace_model::sample::argmax. Reductions: lib/reduce.wgsl.

const WG: u32 = 256u;

struct Params {
    n: u32,
    out_index: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> tokens: array<u32>;

@compute @workgroup_size(WG)
fn argmax(@builtin(local_invocation_index) tid: u32) {
    var v = -0x1.fffffep+127f;
    var idx = NONE;
    var bad = 0.0;
    for (var i = tid; i < p.n; i += WG) {
        let l = logits[i];
        bad += select(0.0, 1.0, non_finite(l));
        if l > v || idx == NONE {
            v = l;
            idx = i;
        }
    }
    let best = workgroup_argmax(tid, Best(v, idx));
    let non_finite_logits = workgroup_sum(tid, bad);
    if tid == 0u {
        tokens[p.out_index] = select(best.i, NON_FINITE, non_finite_logits > 0.0);
    }
}

