// Reductions across one workgroup of WG threads (the kernel declares `const WG`, a power of two). Every
// thread of the workgroup must call them together (they contain barriers), and every thread gets the
// result. Tree reductions: log2(WG) halving steps, each behind a barrier.

var<workgroup> red_v: array<f32, WG>;
var<workgroup> red_i: array<u32, WG>;

// What the sampling kernels write instead of a token when a logit is a NaN or an infinity (the host
// turns it into a typed error).
const NON_FINITE: u32 = 0xfffffffeu;

// Whether `v` is a NaN or an infinity, tested on its bits (exponent all ones): a shader compiler may
// assume floats are finite and fold `v != v` away.
fn non_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) == 0x7f800000u;
}

// Sum of `v` over the workgroup.
fn workgroup_sum(tid: u32, v: f32) -> f32 {
    red_v[tid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if tid < stride {
            red_v[tid] += red_v[tid + stride];
        }
        workgroupBarrier();
    }
    let total = red_v[0];
    workgroupBarrier(); // everyone has read red_v[0] before the next reduction reuses it
    return total;
}

// Maximum of `v` over the workgroup.
fn workgroup_max(tid: u32, v: f32) -> f32 {
    red_v[tid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if tid < stride {
            red_v[tid] = max(red_v[tid], red_v[tid + stride]);
        }
        workgroupBarrier();
    }
    let m = red_v[0];
    workgroupBarrier();
    return m;
}

// A value and its index; index NONE is no candidate.
struct Best {
    v: f32,
    i: u32,
}

const NONE: u32 = 0xffffffffu;

// The candidate with the largest value over the workgroup, ties to the lower index (NONE when no thread
// has one).
fn workgroup_argmax(tid: u32, mine: Best) -> Best {
    red_v[tid] = mine.v;
    red_i[tid] = mine.i;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if tid < stride {
            let ov = red_v[tid + stride];
            let oi = red_i[tid + stride];
            if oi != NONE && (red_i[tid] == NONE || ov > red_v[tid] || (ov == red_v[tid] && oi < red_i[tid])) {
                red_v[tid] = ov;
                red_i[tid] = oi;
            }
        }
        workgroupBarrier();
    }
    let best = Best(red_v[0], red_i[0]);
    workgroupBarrier();
    return best;
}

var<workgroup> red_v4: array<vec4<f32>, WG>;

// Sum of `v` over the workgroup, four lanes at once (four queries' softmax sums in attention prefill).
fn workgroup_sum4(tid: u32, v: vec4<f32>) -> vec4<f32> {
    red_v4[tid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if tid < stride {
            red_v4[tid] += red_v4[tid + stride];
        }
        workgroupBarrier();
    }
    let total = red_v4[0];
    workgroupBarrier();
    return total;
}

// Lane-wise maximum of `v` over the workgroup.
fn workgroup_max4(tid: u32, v: vec4<f32>) -> vec4<f32> {
    red_v4[tid] = v;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if tid < stride {
            red_v4[tid] = max(red_v4[tid], red_v4[tid + stride]);
        }
        workgroupBarrier();
    }
    let m = red_v4[0];
    workgroupBarrier();
    return m;
}
