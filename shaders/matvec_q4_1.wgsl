// Q4_1 blocks (ggml block_q4_1, 20 bytes): f16 d, f16 m, 16 bytes of nibbles; weight = q * d + m.
const BLOCK: u32 = 32u;
const BLOCK_BYTES: u32 = 20u;

fn block_dot(base: u32, xv: u32) -> f32 {
    var s = 0.0;
    var sx = 0.0;
    for (var m = 0u; m < 4u; m++) {
        let q = load_word(base + 4u + 4u * m);
        let xl = x[xv + m];
        let xh = x[xv + 4u + m];
        s += dot(lo4(q), xl) + dot(hi4(q), xh);
        sx += dot(xl + xh, vec4<f32>(1.0));
    }
    return load_f16(base) * s + load_f16(base + 2u) * sx;
}

// Weights 4g .. 4g + 3 (g < 8) of the block at `base` (the matmul kernels' tile loader).
fn dequant4(base: u32, g: u32) -> vec4<f32> {
    let q = load_word(base + 4u + 4u * (g % 4u));
    let nib = select(lo4(q), hi4(q), g >= 4u);
    return load_f16(base) * nib + load_f16(base + 2u);
}
