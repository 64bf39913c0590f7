// F32 weights, four at a time.
const BLOCK: u32 = 4u;
const BLOCK_BYTES: u32 = 16u;

fn block_dot(base: u32, xv: u32) -> f32 {
    let i = base >> 2u; // rows of a multiple of 4 floats are word-aligned
    return dot(vec4<f32>(bitcast<f32>(w[i]), bitcast<f32>(w[i + 1u]), bitcast<f32>(w[i + 2u]), bitcast<f32>(w[i + 3u])), x[xv]);
}

// Weights 4g .. 4g + 3 of the block at `base` (the matmul kernels' tile loader).
fn dequant4(base: u32, g: u32) -> vec4<f32> {
    let i = (base >> 2u) + 4u * g;
    return vec4<f32>(bitcast<f32>(w[i]), bitcast<f32>(w[i + 1u]), bitcast<f32>(w[i + 2u]), bitcast<f32>(w[i + 3u]));
}
