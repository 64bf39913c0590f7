// The twin of lib/reduce.wgsl for devices with subgroups: each aligned run of SUBGROUP_MIN lanes combines
// its values with subgroup shuffles (a butterfly: after the step with offset o, every lane holds the
// result over its aligned run of 2o lanes), each run's first lane posts its result, and after one barrier
// every thread combines the WG / SUBGROUP_MIN posts in the same order: two barriers instead of
// log2(WG) + 2. Every thread gets the same bits, as from the tree.
// SUBGROUP_MIN (a power of two, at most 64, so at most WG) is put at the top of the source by the runtime
// (archrace_gpu::Kernel::source_for), which has checked that subgroups are consecutive, aligned runs of
// local_invocation_index of at least that size (archrace_gpu::subgroups); lib/row_sum_subgroup.wgsl says
// why it is a constant.

const RUNS: u32 = WG / SUBGROUP_MIN;

// Sum of `v` over the workgroup.
fn workgroup_sum(tid: u32, v: f32) -> f32 {
    var s = v;
    for (var o = SUBGROUP_MIN / 2u; o > 0u; o >>= 1u) {
        s += subgroupShuffleXor(s, o);
    }
    if tid % SUBGROUP_MIN == 0u {
        red_v[tid / SUBGROUP_MIN] = s;
    }
    workgroupBarrier();
    var total = 0.0;
    for (var r = 0u; r < RUNS; r++) {
        total += red_v[r];
    }
    workgroupBarrier(); // everyone has read red_v before the next reduction reuses it
    return total;
}

// Maximum of `v` over the workgroup.
fn workgroup_max(tid: u32, v: f32) -> f32 {
    var m = v;
    for (var o = SUBGROUP_MIN / 2u; o > 0u; o >>= 1u) {
        m = max(m, subgroupShuffleXor(m, o));
    }
    if tid % SUBGROUP_MIN == 0u {
        red_v[tid / SUBGROUP_MIN] = m;
    }
    workgroupBarrier();
    var all = red_v[0];
    for (var r = 1u; r < RUNS; r++) {
        all = max(all, red_v[r]);
    }
    workgroupBarrier();
    return all;
}

// The candidate with the largest value over the workgroup, ties to the lower index (NONE when no thread
// has one).
fn workgroup_argmax(tid: u32, mine: Best) -> Best {
    var best = mine;
    for (var o = SUBGROUP_MIN / 2u; o > 0u; o >>= 1u) {
        best = better(best, Best(subgroupShuffleXor(best.v, o), subgroupShuffleXor(best.i, o)));
    }
    if tid % SUBGROUP_MIN == 0u {
        red_v[tid / SUBGROUP_MIN] = best.v;
        red_i[tid / SUBGROUP_MIN] = best.i;
    }
    workgroupBarrier();
    var all = Best(red_v[0], red_i[0]);
    for (var r = 1u; r < RUNS; r++) {
        all = better(all, Best(red_v[r], red_i[r]));
    }
    workgroupBarrier();
    return all;
}

// Sum of `v` over the workgroup, four lanes at once (four queries' softmax sums in attention prefill).
fn workgroup_sum4(tid: u32, v: vec4<f32>) -> vec4<f32> {
    var s = v;
    for (var o = SUBGROUP_MIN / 2u; o > 0u; o >>= 1u) {
        s += subgroupShuffleXor(s, o);
    }
    if tid % SUBGROUP_MIN == 0u {
        red_v4[tid / SUBGROUP_MIN] = s;
    }
    workgroupBarrier();
    var total = vec4<f32>(0.0);
    for (var r = 0u; r < RUNS; r++) {
        total += red_v4[r];
    }
    workgroupBarrier();
    return total;
}

// Lane-wise maximum of `v` over the workgroup.
fn workgroup_max4(tid: u32, v: vec4<f32>) -> vec4<f32> {
    var m = v;
    for (var o = SUBGROUP_MIN / 2u; o > 0u; o >>= 1u) {
        m = max(m, subgroupShuffleXor(m, o));
    }
    if tid % SUBGROUP_MIN == 0u {
        red_v4[tid / SUBGROUP_MIN] = m;
    }
    workgroupBarrier();
    var all = red_v4[0];
    for (var r = 1u; r < RUNS; r++) {
        all = max(all, red_v4[r]);
    }
    workgroupBarrier();
    return all;
}
