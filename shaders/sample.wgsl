// Greedy sampling on the GPU: the index of the largest logit (ties to the lower index), written to
// tokens[out_index], so a decode step reads back 4 bytes and the next step's embedding reads it in place.
// One workgroup. CPU twin: archrace_model::sample::argmax.

const WG: u32 = 256u;

struct Params {
    n: u32,
    out_index: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> tokens: array<u32>;

var<workgroup> best_v: array<f32, WG>;
var<workgroup> best_i: array<u32, WG>;

@compute @workgroup_size(WG)
fn argmax(@builtin(local_invocation_index) tid: u32) {
    var v = -0x1.fffffep+127f;
    var idx = 0xffffffffu;
    for (var i = tid; i < p.n; i += WG) {
        let l = logits[i];
        if l > v || idx == 0xffffffffu {
            v = l;
            idx = i;
        }
    }
    best_v[tid] = v;
    best_i[tid] = idx;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if tid < stride {
            let ov = best_v[tid + stride];
            let oi = best_i[tid + stride];
            if oi != 0xffffffffu && (ov > best_v[tid] || (ov == best_v[tid] && oi < best_i[tid]) || best_i[tid] == 0xffffffffu) {
                best_v[tid] = ov;
                best_i[tid] = oi;
            }
        }
        workgroupBarrier();
    }
    if tid == 0u {
        tokens[p.out_index] = best_i[0];
    }
}

