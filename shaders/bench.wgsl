// Reference kernels for `archrace bench`: `copy` moves n vec4s (the adapter's own read+write
// bandwidth, which the matvec kernels are measured against) and `noop` does nothing (the fixed cost of a
// dispatch, which a decode step's overhead is measured against). No CPU twin computes anything here;
// `copy`'s output is checked against its input.

struct Params {
    n: u32, // vec4s
    groups_x: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> src: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> dst: array<vec4<f32>>;

@compute @workgroup_size(256)
fn copy(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * p.groups_x * 256u;
    if i < p.n {
        dst[i] = src[i];
    }
}

@compute @workgroup_size(64)
fn noop() {
    _ = p.n;
}
