// Q5_0 (ggml block_q5_0: f16 d, u32 qh (fifth bits: bit j for element j, bit j + 16 for element j + 16),
// 16 bytes of low nibbles; weight = (q - 16) * d), split in the GPU row layout (crates/gpu/src/layout.rs):
// a row of n blocks holds n x 16 bytes of nibbles, then n qh words, then n f16 scales.
const BLOCK: u32 = 32u;

fn block_dot(row: u32, b: u32, blocks: u32, xv: u32) -> f32 {
    let q = quad((row >> 2u) + 4u * b);
    let qh = word((row >> 2u) + 4u * blocks + b);
    var s = 0.0;
    for (var m = 0u; m < 4u; m++) {
        s += dot(ints_f32(lo4u(q[m]) | bits4(qh, 4u * m), 16.0), xin(xv + m));
        s += dot(ints_f32(hi4u(q[m]) | bits4(qh, 16u + 4u * m), 16.0), xin(xv + 4u + m));
    }
    return load_f16(row + 20u * blocks + 2u * b) * s;
}

// Weights 4g .. 4g + 3 (g < 8): element j's fifth bit is bit j of qh.
fn dequant4(row: u32, b: u32, blocks: u32, g: u32) -> vec4<f32> {
    let qh = word((row >> 2u) + 4u * blocks + b);
    let q = word((row >> 2u) + 4u * b + g % 4u);
    let nib = select(lo4u(q), hi4u(q), g >= 4u);
    return load_f16(row + 20u * blocks + 2u * b) * ints_f32(nib | bits4(qh, 4u * g), 16.0);
}
