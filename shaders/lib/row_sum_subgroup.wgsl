// The twin of `lib/row_sum.wgsl` for devices with subgroups: a row's rt threads add their partial sums
// with subgroup shuffles (a butterfly: after the step with offset o, each lane holds the sum over its
// aligned run of 2o lanes), with no workgroup memory and no barrier when a row fits in SUBGROUP_MIN
// lanes. A wider row adds its runs' sums through workgroup memory behind one barrier.
// SUBGROUP_MIN (a power of two, at most WG) is the device's smallest subgroup size, put at the top of the
// source by the runtime (archrace_gpu::Kernel::source_for): a constant, so every branch on it is uniform
// for the compilers' uniformity analysis (Tint counts @builtin(subgroup_size) as non-uniform, and a
// barrier after a branch on it is an error). The shuffles stay inside aligned runs of SUBGROUP_MIN lanes,
// which lie inside one subgroup as long as subgroups are consecutive, aligned runs of
// local_invocation_index of at least that size: the runtime checks that on the device before it chooses
// this twin (archrace_gpu::subgroups).

struct Invocation {
    @builtin(local_invocation_index) tid: u32,
}

var<workgroup> partial: array<f32, WG>;
var<workgroup> partial2: array<vec2<f32>, WG>;

fn row_sum(inv: Invocation, lane: u32, rt: u32, acc: f32) -> f32 {
    var v = acc;
    for (var o = min(rt, SUBGROUP_MIN) / 2u; o > 0u; o >>= 1u) {
        v += subgroupShuffleXor(v, o);
    }
    if rt <= SUBGROUP_MIN {
        return v;
    }
    // The row spans rt / SUBGROUP_MIN runs: each run's first lane posts its sum, every lane adds them.
    if inv.tid % SUBGROUP_MIN == 0u {
        partial[inv.tid / SUBGROUP_MIN] = v;
    }
    workgroupBarrier();
    let runs = rt / SUBGROUP_MIN;
    let first = (inv.tid / rt) * runs;
    var s = 0.0;
    for (var i = 0u; i < runs; i++) {
        s += partial[first + i];
    }
    workgroupBarrier(); // everyone has read `partial` before a later call writes it
    return s;
}

fn row_sum2(inv: Invocation, lane: u32, rt: u32, acc: vec2<f32>) -> vec2<f32> {
    var v = acc;
    for (var o = min(rt, SUBGROUP_MIN) / 2u; o > 0u; o >>= 1u) {
        v += subgroupShuffleXor(v, o);
    }
    if rt <= SUBGROUP_MIN {
        return v;
    }
    if inv.tid % SUBGROUP_MIN == 0u {
        partial2[inv.tid / SUBGROUP_MIN] = v;
    }
    workgroupBarrier();
    let runs = rt / SUBGROUP_MIN;
    let first = (inv.tid / rt) * runs;
    var s = vec2<f32>(0.0);
    for (var i = 0u; i < runs; i++) {
        s += partial2[first + i];
    }
    workgroupBarrier();
    return s;
}
