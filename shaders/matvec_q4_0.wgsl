// Q4_0 (ggml block_q4_0: f16 d, 16 bytes of nibbles; element j is the low nibble of byte j, element
// j + 16 its high nibble; weight = (q - 8) * d), split in the GPU row layout (crates/gpu/src/layout.rs): a
// row of n blocks holds n x 16 bytes of nibbles, then n f16 scales.
const BLOCK: u32 = 32u;

fn block_dot(row: u32, b: u32, blocks: u32, xv: u32) -> f32 {
    let q = quad((row >> 2u) + 4u * b); // the block's 32 nibbles: one 16-byte load
    var s = 0.0;
    for (var m = 0u; m < 4u; m++) {
        s += dot(lo4(q[m], 8.0), xin(xv + m)) + dot(hi4(q[m], 8.0), xin(xv + 4u + m));
    }
    return load_f16(row + 16u * blocks + 2u * b) * s;
}

// Weights 4g .. 4g + 3 (g < 8): groups 0..4 are the low nibbles of words 0..4, groups 4..8 their high
// nibbles.
fn dequant4(row: u32, b: u32, blocks: u32, g: u32) -> vec4<f32> {
    let q = word((row >> 2u) + 4u * b + g % 4u);
    return load_f16(row + 16u * blocks + 2u * b) * ints_f32(select(lo4u(q), hi4u(q), g >= 4u), 8.0);
}
