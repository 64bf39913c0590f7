// Q5_0 blocks (ggml block_q5_0, 22 bytes): f16 d, u32 qh (fifth bits: bit j for element j, bit j + 16
// for element j + 16), 16 bytes of low nibbles; weight = (q - 16) * d.
const BLOCK: u32 = 32u;
const BLOCK_BYTES: u32 = 22u;

fn block_dot(base: u32, xv: u32) -> f32 {
    let qh = load_word(base + 2u);
    var s = 0.0;
    for (var m = 0u; m < 4u; m++) {
        let q = load_word(base + 6u + 4u * m);
        s += dot(lo4(q) + 16.0 * bits4(qh, 4u * m) - 16.0, x[xv + m]);
        s += dot(hi4(q) + 16.0 * bits4(qh, 16u + 4u * m) - 16.0, x[xv + 4u + m]);
    }
    return load_f16(base) * s;
}

// Weights 4g .. 4g + 3 (g < 8) of the block at `base` (the matmul kernels' tile loader): element j's
// fifth bit is bit j of qh.
fn dequant4(base: u32, g: u32) -> vec4<f32> {
    let qh = load_word(base + 2u);
    let q = load_word(base + 6u + 4u * (g % 4u));
    let nib = select(lo4(q), hi4(q), g >= 4u);
    return load_f16(base) * (nib + 16.0 * bits4(qh, 4u * g) - 16.0);
}
