// The matvec kernels' input as it is: `block_dot` reads x itself, and there is nothing to prepare.
// Its twin lib/x_norm.wgsl normalises x first; a matvec source takes one or the other
// (archrace_gpu::Kernel::source_for), so both define the same names.

fn xin(i: u32) -> vec4<f32> {
    return x[i];
}

fn stage_x(inv: Invocation) {}
