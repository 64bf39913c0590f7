// Embedding gather: out (cols) = row `token` of W, decoded by the encoding's own `block_dot` (defined in
// the file before this one) against a one-hot x, so every encoding's gather uses the very block decoder
// the matvec kernels are verified with. One thread per output value along x, one token along y: token
// tokens[tok_index + y] goes to out[y * cols ..].
// CPU twin: archrace_gguf::dequantize of one row (the CPU forward's embedding lookup).

struct Params {
    cols: u32,      // row length, a multiple of BLOCK
    row_bytes: u32, // bytes of one encoded row (its GPU layout's)
    first_row: u32, // this buffer holds rows first_row .. first_row + rows (a table split over buffers);
    rows: u32,      // a token outside them is another dispatch's
    tok_index: u32, // which entry of `tokens` to read
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>; // encoded rows (layout.rs), padded
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>; // (tokens, cols)

var<private> x: array<vec4<f32>, BLOCK / 4u>;

// The one-hot x, as the encodings' `block_dot` reads its input.
fn xin(i: u32) -> vec4<f32> {
    return x[i];
}

@compute @workgroup_size(64)
fn embed(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    if j >= p.cols {
        return;
    }
    let token = tokens[p.tok_index + gid.y];
    if token < p.first_row || token >= p.first_row + p.rows {
        return;
    }
    let i = j % BLOCK;
    for (var k = 0u; k < BLOCK / 4u; k++) {
        x[k] = vec4<f32>(0.0);
    }
    x[i / 4u][i % 4u] = 1.0;
    out[gid.y * p.cols + j] = block_dot((token - p.first_row) * p.row_bytes, j / BLOCK, p.cols / BLOCK, 0u);
}
