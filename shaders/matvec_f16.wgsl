// F16 weights packed two per word (no shader-f16 needed), four at a time.
const BLOCK: u32 = 4u;
const BLOCK_BYTES: u32 = 8u;

fn block_dot(base: u32, xv: u32) -> f32 {
    let i = base >> 2u;
    return dot(vec4<f32>(unpack2x16float(w[i]), unpack2x16float(w[i + 1u])), x[xv]);
}

// Weights 4g .. 4g + 3 of the block at `base` (the matmul kernels' tile loader).
fn dequant4(base: u32, g: u32) -> vec4<f32> {
    let i = (base >> 2u) + 2u * g;
    return vec4<f32>(unpack2x16float(w[i]), unpack2x16float(w[i + 1u]));
}
