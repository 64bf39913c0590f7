// Q8_0 blocks (ggml block_q8_0, 34 bytes): f16 d, then 32 x i8; weight j = qs[j] * d.
const BLOCK: u32 = 32u;
const BLOCK_BYTES: u32 = 34u;

fn block_dot(base: u32, xv: u32) -> f32 {
    var s = 0.0;
    for (var k = 0u; k < 8u; k++) {
        s += dot(i8x4(load_word(base + 2u + 4u * k)), x[xv + k]);
    }
    return load_f16(base) * s;
}

// Weights 4g .. 4g + 3 (g < 8) of the block at `base` (the matmul kernels' tile loader).
fn dequant4(base: u32, g: u32) -> vec4<f32> {
    return load_f16(base) * i8x4(load_word(base + 2u + 4u * g));
}
