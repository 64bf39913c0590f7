// The matrix-vector body shared by every weight encoding: y (rows) = W (rows, cols) @ x (cols).
// The encoding's file defines BLOCK (weights per block, a multiple of 4), BLOCK_BYTES and
// `block_dot(base, xv)`: the dot product of the block at byte `base` with x[xv * 4 ..][..BLOCK].
// One workgroup per row; its threads take the row's blocks in turn and reduce in workgroup memory.
// Rows beyond the per-dimension dispatch limit spill into y: row = wg.x + wg.y * groups_x.
// CPU twin: archrace_cpu::ops::matmul::matmul (dequantize a row as llama.cpp does, then dot).

const WG: u32 = 64u;

struct Params {
    rows: u32,           // output length
    cols: u32,           // input length, a multiple of BLOCK
    blocks_per_row: u32, // cols / BLOCK
    groups_x: u32,       // workgroups along x in the dispatch
    row_bytes: u32,      // bytes of one encoded row
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;       // (rows * row_bytes), padded to whole words + 1
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>; // (cols / 4)
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (rows)

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(WG)
fn matvec(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let row = wg.x + wg.y * p.groups_x;
    if row >= p.rows {
        return; // uniform across the workgroup
    }
    var acc = 0.0;
    for (var b = tid; b < p.blocks_per_row; b += WG) {
        acc += block_dot(row * p.row_bytes + b * BLOCK_BYTES, b * (BLOCK / 4u));
    }
    partial[tid] = acc;
    workgroupBarrier();
    for (var stride = WG / 2u; stride > 0u; stride >>= 1u) {
        if tid < stride {
            partial[tid] += partial[tid + stride];
        }
        workgroupBarrier();
    }
    if tid == 0u {
        y[row] = partial[0];
    }
}
