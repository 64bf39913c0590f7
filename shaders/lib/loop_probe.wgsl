// The device check behind archrace_gpu::GpuContext::loop_limit (archrace_gpu::runtime::loop_budget::
// loop_probe): one invocation counts the iterations of two nested loops of outer x inner trips, the way a
// kernel's loops over a chunk or a context would run, and writes the count. A driver that caps an
// invocation's loop back-edges (llvmpipe: 65,535, all loops together) writes fewer than outer x inner.
// Not a model kernel: tests run it.

@group(0) @binding(0) var<storage, read> trips: array<u32>;      // (2): outer, inner
@group(0) @binding(1) var<storage, read_write> count: array<u32>; // (1)

@compute @workgroup_size(1)
fn loop_probe() {
    var n = 0u;
    for (var i = 0u; i < trips[0]; i++) {
        for (var j = 0u; j < trips[1]; j++) {
            n += 1u;
        }
    }
    count[0] = n;
}
