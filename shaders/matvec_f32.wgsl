// F32 weights, four at a time in one 16-byte load: a row of a multiple of 4 floats is a multiple of 16
// bytes, so every row, expert and stacked tensor of F32 starts 16-byte aligned.
// Each encoding's file gives the shared bodies (lib/matvec.wgsl, lib/matmul.wgsl, lib/embed.wgsl) BLOCK
// (weights per block) and two readers of block b of the row at byte `row`, in the GPU row layout
// (crates/gpu/src/layout.rs; a row of `blocks` blocks): `block_dot` (its dot product with the input's
// values xv * 4 .. xv * 4 + BLOCK, read as vec4s through `xin`, which the body's module defines: x
// itself, or x normed in workgroup memory, lib/x_direct.wgsl and lib/x_norm.wgsl) and `dequant4` (its
// weights 4g .. 4g + 3, the matmul tile loader's).
const BLOCK: u32 = 4u;

fn block_dot(row: u32, b: u32, blocks: u32, xv: u32) -> f32 {
    return dot(bitcast<vec4<f32>>(w[(row >> 4u) + b]), xin(xv));
}

fn dequant4(row: u32, b: u32, blocks: u32, g: u32) -> vec4<f32> {
    return bitcast<vec4<f32>>(w[(row >> 4u) + b]);
}
