// `block_dot2` for the encodings whose files define only `block_dot` (lib/matvec.wgsl's contract): block
// b of the rows at bytes `row` and `row + second` against the same x. Their `block_dot` is straight-line
// code, so the two calls' reads of x are one after inlining. (The K-quants define `block_dot2` themselves,
// reading x once inside their loops over chunks.)
fn block_dot2(row: u32, second: u32, b: u32, blocks: u32, xv: u32) -> vec2<f32> {
    return vec2<f32>(block_dot(row, b, blocks, xv), block_dot(row + second, b, blocks, xv));
}
