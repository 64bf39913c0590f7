// Q4_K super-blocks (ggml block_q4_K, 144 bytes): f16 d, f16 dmin, 12 bytes of packed 6-bit scales and
// mins for 8 sub-blocks of 32, then 128 bytes of nibbles. Chunk c (0..4) holds sub-blocks 2c (low
// nibbles) and 2c + 1 (high nibbles); weight = d * sc * q - dmin * m.
// Kept as in the GGUF file (crates/gpu/src/layout.rs): 144-byte blocks keep every word aligned.
const BLOCK: u32 = 256u;
const BLOCK_BYTES: u32 = 144u;

fn block_dot(row: u32, b: u32, blocks: u32, xv: u32) -> f32 {
    let base = row + b * BLOCK_BYTES;
    let d = load_f16(base);
    let dmin = load_f16(base + 2u);
    var total = 0.0;
    for (var c = 0u; c < 4u; c++) {
        let sm1 = scale_min_k4(base + 4u, 2u * c);
        let sm2 = scale_min_k4(base + 4u, 2u * c + 1u);
        var s1 = 0.0;
        var s2 = 0.0;
        var x1 = 0.0;
        var x2 = 0.0;
        let at = (base + 16u + 32u * c) >> 2u; // the chunk's 32 bytes
        for (var m = 0u; m < 8u; m++) {
            let q = word(at + m);
            let xl = xin(xv + 16u * c + m);
            let xh = xin(xv + 16u * c + 8u + m);
            s1 += dot(lo4(q), xl);
            s2 += dot(hi4(q), xh);
            x1 += dot(xl, vec4<f32>(1.0));
            x2 += dot(xh, vec4<f32>(1.0));
        }
        total += d * sm1.x * s1 - dmin * sm1.y * x1 + d * sm2.x * s2 - dmin * sm2.y * x2;
    }
    return total;
}

// Weights 4g .. 4g + 3 (g < 64) of super-block b (the matmul kernels' tile loader): chunk
// c = g / 16; its groups 0..8 are the low nibbles of word m (sub-block 2c), groups 8..16 the high ones
// (sub-block 2c + 1).
fn dequant4(row: u32, b: u32, blocks: u32, g: u32) -> vec4<f32> {
    let base = row + b * BLOCK_BYTES;
    let c = g / 16u;
    let high = (g % 16u) >= 8u;
    let m = g % 8u;
    let sm = scale_min_k4(base + 4u, 2u * c + select(0u, 1u, high));
    let q = load_word(base + 16u + 32u * c + 4u * m);
    let nib = select(lo4(q), hi4(q), high);
    return load_f16(base) * sm.x * nib - load_f16(base + 2u) * sm.y;
}
