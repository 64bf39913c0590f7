// BF16 weights packed two per word: a bf16 is the top half of an f32.
const BLOCK: u32 = 4u;

fn bf16x2(v: u32) -> vec2<f32> {
    return vec2<f32>(bitcast<f32>(v << 16u), bitcast<f32>(v & 0xffff0000u));
}

fn block_dot(row: u32, b: u32, blocks: u32, xv: u32) -> f32 {
    let i = (row >> 2u) + 2u * b;
    return dot(vec4<f32>(bf16x2(word(i)), bf16x2(word(i + 1u))), xin(xv));
}

fn dequant4(row: u32, b: u32, blocks: u32, g: u32) -> vec4<f32> {
    let i = (row >> 2u) + 2u * b;
    return vec4<f32>(bf16x2(word(i)), bf16x2(word(i + 1u)));
}
