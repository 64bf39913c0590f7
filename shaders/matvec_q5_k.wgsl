// Q5_K super-blocks (ggml block_q5_K, 176 bytes): f16 d, f16 dmin, 12 bytes of 6-bit scales and mins,
// 32 bytes qh (bit 2c / 2c + 1 of byte l: fifth bit of weight l of chunk c's low / high half), 128 bytes of
// low nibbles; weight = d * sc * q - dmin * m.
// Kept as in the GGUF file (crates/gpu/src/layout.rs): 176-byte blocks keep every word aligned.
const BLOCK: u32 = 256u;
const BLOCK_BYTES: u32 = 176u;

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
        let at = base >> 2u; // the chunk's 32 bytes of nibbles at byte 48 + 32c, the fifth bits at 16
        for (var m = 0u; m < 8u; m++) {
            let q = word(at + 12u + 8u * c + m);
            let qh = u8x4(word(at + 4u + m));
            let h1 = vec4<f32>((qh >> vec4<u32>(2u * c)) & vec4<u32>(1u)) * 16.0;
            let h2 = vec4<f32>((qh >> vec4<u32>(2u * c + 1u)) & vec4<u32>(1u)) * 16.0;
            let xl = xin(xv + 16u * c + m);
            let xh = xin(xv + 16u * c + 8u + m);
            s1 += dot(lo4(q) + h1, xl);
            s2 += dot(hi4(q) + h2, xh);
            x1 += dot(xl, vec4<f32>(1.0));
            x2 += dot(xh, vec4<f32>(1.0));
        }
        total += d * sm1.x * s1 - dmin * sm1.y * x1 + d * sm2.x * s2 - dmin * sm2.y * x2;
    }
    return total;
}

// Weights 4g .. 4g + 3 (g < 64) of super-block b (the matmul kernels' tile loader), laid out
// as in Q4_K, with fifth bits 2c (low half) and 2c + 1 (high half) of the qh bytes 4m .. 4m + 3.
fn dequant4(row: u32, b: u32, blocks: u32, g: u32) -> vec4<f32> {
    let base = row + b * BLOCK_BYTES;
    let c = g / 16u;
    let hi = select(0u, 1u, (g % 16u) >= 8u);
    let m = g % 8u;
    let sm = scale_min_k4(base + 4u, 2u * c + hi);
    let q = load_word(base + 48u + 32u * c + 4u * m);
    let qh = u8x4(load_word(base + 16u + 4u * m));
    let h = vec4<f32>((qh >> vec4<u32>(2u * c + hi)) & vec4<u32>(1u)) * 16.0;
    let nib = select(lo4(q), hi4(q), hi == 1u);
    return load_f16(base) * sm.x * (nib + h) - load_f16(base + 2u) * sm.y;
}
