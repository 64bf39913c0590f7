// Reductions across one workgroup of WG threads (the kernel declares `const WG`, a power of two). Every
// thread of the workgroup must call them together (they contain barriers), and every thread gets the
// result. Tree reductions in workgroup memory: log2(WG) halving steps, each behind a barrier. The twin
// for devices with subgroups is lib/reduce_subgroup.wgsl; both follow lib/reduce_shared.wgsl.

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

// The candidate with the largest value over the workgroup, ties to the lower index (NONE when no thread
// has one).
fn workgroup_argmax(tid: u32, mine: Best) -> Best {
    red_v[tid] = mine.v;
    red_i[tid] = mine.i;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if tid < stride {
            let b = better(Best(red_v[tid], red_i[tid]), Best(red_v[tid + stride], red_i[tid + stride]));
            red_v[tid] = b.v;
            red_i[tid] = b.i;
        }
        workgroupBarrier();
    }
    let best = Best(red_v[0], red_i[0]);
    workgroupBarrier();
    return best;
}

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
