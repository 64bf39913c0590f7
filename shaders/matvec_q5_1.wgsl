// Q5_1 blocks (ggml block_q5_1, 24 bytes): f16 d, f16 m, u32 qh, 16 bytes of low nibbles; weight = q * d + m.
const BLOCK: u32 = 32u;
const BLOCK_BYTES: u32 = 24u;

fn block_dot(base: u32, xv: u32) -> f32 {
    let qh = load_word(base + 4u);
    var s = 0.0;
    var sx = 0.0;
    for (var m = 0u; m < 4u; m++) {
        let q = load_word(base + 8u + 4u * m);
        let xl = x[xv + m];
        let xh = x[xv + 4u + m];
        s += dot(lo4(q) + 16.0 * bits4(qh, 4u * m), xl) + dot(hi4(q) + 16.0 * bits4(qh, 16u + 4u * m), xh);
        sx += dot(xl + xh, vec4<f32>(1.0));
    }
    return load_f16(base) * s + load_f16(base + 2u) * sx;
}

// Weights 4g .. 4g + 3 (g < 8) of the block at `base` (the matmul kernels' tile loader).
fn dequant4(base: u32, g: u32) -> vec4<f32> {
    let qh = load_word(base + 4u);
    let q = load_word(base + 8u + 4u * (g % 4u));
    let nib = select(lo4(q), hi4(q), g >= 4u);
    return load_f16(base) * (nib + 16.0 * bits4(qh, 4u * g)) + load_f16(base + 2u);
}
