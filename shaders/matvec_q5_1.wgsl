// Q5_1 (ggml block_q5_1: f16 d, f16 m, u32 qh, 16 bytes of low nibbles; weight = q * d + m), split in the
// GPU row layout (crates/gpu/src/layout.rs): a row of n blocks holds n x 16 bytes of nibbles, then n qh
// words, then n (d, m) words.
const BLOCK: u32 = 32u;

fn block_dot(row: u32, b: u32, blocks: u32, xv: u32) -> f32 {
    let q = quad((row >> 2u) + 4u * b);
    let qh = word((row >> 2u) + 4u * blocks + b);
    var s = 0.0;
    var sx = 0.0;
    for (var m = 0u; m < 4u; m++) {
        let xl = xin(xv + m);
        let xh = xin(xv + 4u + m);
        s += dot(ints_f32(lo4u(q[m]) | bits4(qh, 4u * m), 0.0), xl);
        s += dot(ints_f32(hi4u(q[m]) | bits4(qh, 16u + 4u * m), 0.0), xh);
        sx += dot(xl + xh, vec4<f32>(1.0));
    }
    let dm = unpack2x16float(word((row >> 2u) + 5u * blocks + b));
    return dm.x * s + dm.y * sx;
}

fn dequant4(row: u32, b: u32, blocks: u32, g: u32) -> vec4<f32> {
    let qh = word((row >> 2u) + 4u * blocks + b);
    let q = word((row >> 2u) + 4u * b + g % 4u);
    let nib = select(lo4u(q), hi4u(q), g >= 4u);
    let dm = unpack2x16float(word((row >> 2u) + 5u * blocks + b));
    return dm.x * ints_f32(nib | bits4(qh, 4u * g), 0.0) + dm.y;
}
