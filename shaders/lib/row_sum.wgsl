// Sums of a row's partial dot products across the rt threads that share the row (rt a power of two at
// most WG; a row's threads are rt consecutive invocations, lane = tid % rt), in workgroup memory: a tree
// of log2(rt) halving steps, each behind a barrier. Portable: every adapter runs it.
// `lib/row_sum_subgroup.wgsl` is its twin for adapters with subgroups; a kernel's source takes one or the
// other (archrace_gpu::Kernel::source_for), so both define the same names.
// Every thread of the workgroup calls these together (they contain barriers); the row's lane 0 gets the
// row's sum (the other lanes a part of it, here).

// What the sums need to know of the invocation (the subgroup twin's is the same). The workgroup id stays
// outside it, a parameter of its own: the browsers' uniformity analysis counts a struct holding the
// local index as non-uniform as a whole, and kernels branch (and return) on the workgroup id.
struct Invocation {
    @builtin(local_invocation_index) tid: u32,
}

var<workgroup> partial: array<f32, WG>;
var<workgroup> partial2: array<vec2<f32>, WG>;

fn row_sum(inv: Invocation, lane: u32, rt: u32, acc: f32) -> f32 {
    partial[inv.tid] = acc;
    workgroupBarrier();
    for (var stride = rt / 2u; stride > 0u; stride >>= 1u) {
        if lane < stride {
            partial[inv.tid] += partial[inv.tid + stride];
        }
        workgroupBarrier();
    }
    return partial[inv.tid]; // its own slot: no later call's write races with the read
}

// Two sums at once (SwiGLU's gate and up).
fn row_sum2(inv: Invocation, lane: u32, rt: u32, acc: vec2<f32>) -> vec2<f32> {
    partial2[inv.tid] = acc;
    workgroupBarrier();
    for (var stride = rt / 2u; stride > 0u; stride >>= 1u) {
        if lane < stride {
            partial2[inv.tid] += partial2[inv.tid + stride];
        }
        workgroupBarrier();
    }
    return partial2[inv.tid];
}
