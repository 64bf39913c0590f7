// F16 weights packed two per word (no shader-f16 needed), four at a time.
const BLOCK: u32 = 4u;

fn block_dot(row: u32, b: u32, blocks: u32, xv: u32) -> f32 {
    let i = (row >> 2u) + 2u * b;
    return dot(vec4<f32>(unpack2x16float(word(i)), unpack2x16float(word(i + 1u))), xin(xv));
}

fn dequant4(row: u32, b: u32, blocks: u32, g: u32) -> vec4<f32> {
    let i = (row >> 2u) + 2u * b;
    return vec4<f32>(unpack2x16float(word(i)), unpack2x16float(word(i + 1u)));
}
