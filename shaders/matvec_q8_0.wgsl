// Q8_0 (ggml block_q8_0: f16 d, 32 x i8; weight j = qs[j] * d), split in the GPU row layout
// (crates/gpu/src/layout.rs): a row of n blocks holds n x 32 bytes of quants, then n f16 scales.
const BLOCK: u32 = 32u;

fn q8_scale(row: u32, b: u32, blocks: u32) -> f32 {
    return load_f16(row + 32u * blocks + 2u * b);
}

fn block_dot(row: u32, b: u32, blocks: u32, xv: u32) -> f32 {
    let q = (row >> 2u) + 8u * b; // the block's 32 quants: two 16-byte loads
    let lo = quad(q);
    let hi = quad(q + 4u);
    let s = dot(i8x4(lo.x), xin(xv)) + dot(i8x4(lo.y), xin(xv + 1u)) + dot(i8x4(lo.z), xin(xv + 2u))
        + dot(i8x4(lo.w), xin(xv + 3u)) + dot(i8x4(hi.x), xin(xv + 4u)) + dot(i8x4(hi.y), xin(xv + 5u))
        + dot(i8x4(hi.z), xin(xv + 6u)) + dot(i8x4(hi.w), xin(xv + 7u));
    return q8_scale(row, b, blocks) * s;
}

// Weights 4g .. 4g + 3 (g < 8).
fn dequant4(row: u32, b: u32, blocks: u32, g: u32) -> vec4<f32> {
    return q8_scale(row, b, blocks) * i8x4(word((row >> 2u) + 8u * b + g));
}
