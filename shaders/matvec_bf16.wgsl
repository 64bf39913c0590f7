// BF16 weights packed two per word: a bf16 is the top half of an f32.
const BLOCK: u32 = 4u;
const BLOCK_BYTES: u32 = 8u;

fn bf16x2(v: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(v << 16u), bitcast<f32>(v & 0xffff0000u));
}

fn block_dot(base: u32, xv: u32) -> f32 {
    let i = base >> 2u;
    return dot(vec4<f32>(bf16x2(w[i]), bf16x2(w[i + 1u])), x[xv]);
}

// Weights 4g .. 4g + 3 of the block at `base` (the matmul kernels' tile loader).
fn dequant4(base: u32, g: u32) -> vec4<f32> {
    let i = (base >> 2u) + 2u * g;
    return vec4<f32>(bf16x2(w[i]), bf16x2(w[i + 1u]));
}
