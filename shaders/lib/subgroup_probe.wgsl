// The device check behind lib/row_sum_subgroup.wgsl (archrace_gpu::subgroups::probe): one workgroup of
// WG threads writes each thread's subgroup lane and subgroup size, and a butterfly of shuffles over
// each subgroup (the sum of tid + 1 over the subgroup), so the host can see that subgroups are
// consecutive, aligned runs of local_invocation_index and that subgroupShuffleXor adds what it should.
// Not a model kernel: it runs once per device, before any kernel is compiled.

const WG: u32 = 64u;

@group(0) @binding(0) var<storage, read_write> out: array<u32>; // (WG, 3): lane, size, butterfly sum

@compute @workgroup_size(WG)
fn subgroup_probe(
    @builtin(local_invocation_index) tid: u32,
    @builtin(subgroup_invocation_id) sg_lane: u32,
    @builtin(subgroup_size) sg_size: u32,
) {
    var v = tid + 1u;
    for (var o = min(WG, sg_size) / 2u; o > 0u; o >>= 1u) {
        v += subgroupShuffleXor(v, o);
    }
    out[3u * tid] = sg_lane;
    out[3u * tid + 1u] = sg_size;
    out[3u * tid + 2u] = v;
}
