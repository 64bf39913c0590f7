// Q4_1 (ggml block_q4_1: f16 d, f16 m, 16 bytes of nibbles; weight = q * d + m), split in the GPU row
// layout (crates/gpu/src/layout.rs): a row of n blocks holds n x 16 bytes of nibbles, then n (d, m) words.
const BLOCK: u32 = 32u;

// (d, m) of block b.
fn q4_1_dm(row: u32, b: u32, blocks: u32) -> vec2<f32> {
    return unpack2x16float(word((row >> 2u) + 4u * blocks + b));
}

fn block_dot(row: u32, b: u32, blocks: u32, xv: u32) -> f32 {
    let q = quad((row >> 2u) + 4u * b);
    var s = 0.0;
    var sx = 0.0;
    for (var m = 0u; m < 4u; m++) {
        let xl = xin(xv + m);
        let xh = xin(xv + 4u + m);
        s += dot(lo4(q[m], 0.0), xl) + dot(hi4(q[m], 0.0), xh);
        sx += dot(xl + xh, vec4<f32>(1.0));
    }
    let dm = q4_1_dm(row, b, blocks);
    return dm.x * s + dm.y * sx;
}

fn dequant4(row: u32, b: u32, blocks: u32, g: u32) -> vec4<f32> {
    let q = word((row >> 2u) + 4u * b + g % 4u);
    let nib = ints_f32(select(lo4u(q), hi4u(q), g >= 4u), 0.0);
    let dm = q4_1_dm(row, b, blocks);
    return dm.x * nib + dm.y;
}
