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
