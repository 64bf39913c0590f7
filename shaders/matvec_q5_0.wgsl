// Q5_0 blocks (ggml block_q5_0, 22 bytes): f16 d, u32 qh (fifth bits: bit j for element j, bit j + 16
// for element j + 16), 16 bytes of low nibbles; weight = (q - 16) * d.
const BLOCK: u32 = 32u;
const BLOCK_BYTES: u32 = 22u;

// The fifth bits of elements 4m .. 4m + 3 (counting from `first`), as 0 or 16.
fn high_bits(qh: u32, first: u32) -> vec4<f32> {
    return vec4<f32>((vec4<u32>(qh) >> (vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(1u)) * 16.0;
}

fn block_dot(base: u32, xv: u32) -> f32 {
    let qh = load_word(base + 2u);
    var s = 0.0;
    for (var m = 0u; m < 4u; m++) {
        let q = load_word(base + 6u + 4u * m);
        s += dot(lo4(q) + high_bits(qh, 4u * m) - 16.0, x[xv + m]);
        s += dot(hi4(q) + high_bits(qh, 16u + 4u * m) - 16.0, x[xv + 4u + m]);
    }
    return load_f16(base) * s;
}
