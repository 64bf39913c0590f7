// Q4_0 blocks (ggml block_q4_0, 18 bytes): f16 d, 16 bytes of nibbles; element j is the low nibble of
// byte j, element j + 16 its high nibble; weight = (q - 8) * d.
const BLOCK: u32 = 32u;
const BLOCK_BYTES: u32 = 18u;

fn block_dot(base: u32, xv: u32) -> f32 {
    var s = 0.0;
    for (var m = 0u; m < 4u; m++) {
        let q = load_word(base + 2u + 4u * m);
        s += dot(lo4(q) - 8.0, x[xv + m]) + dot(hi4(q) - 8.0, x[xv + 4u + m]);
    }
    return load_f16(base) * s;
}

// Weights 4g .. 4g + 3 (g < 8) of the block at `base` (the matmul kernels' tile loader): groups 0..4 are
// the low nibbles of bytes 0..16, groups 4..8 their high nibbles.
fn dequant4(base: u32, g: u32) -> vec4<f32> {
    let q = load_word(base + 2u + 4u * (g % 4u));
    let nib = select(lo4(q), hi4(q), g >= 4u);
    return load_f16(base) * (nib - 8.0);
}
