// matvec_q8_0: y (rows) = W (rows, cols) @ x (cols), with W in GGUF Q8_0 blocks read in place.
//
// A Q8_0 block is 34 bytes (ggml `block_q8_0`): f16 scale d, then 32 x i8 quants; weight j = qs[j] * d.
// Rows are stored one after another, cols / 32 blocks each, so blocks start at any even byte offset:
// the kernel reads the packed bytes through `load_word`, which handles offsets that are not 4-aligned.
// CPU twin: archrace_cpu::ops::matvec_q8_0.
//
// One workgroup per row; its threads take the row's blocks in turn and reduce their partial sums in
// workgroup memory. Rows beyond 65535 spill into the y dimension of the dispatch.

const WG: u32 = 64u;

struct Params {
    rows: u32,           // output length
    cols: u32,           // input length, a multiple of 32
    blocks_per_row: u32, // cols / 32
    groups_x: u32,       // workgroups along x in the dispatch: row = wg.x + wg.y * groups_x
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;       // (rows * blocks_per_row * 34 bytes), padded to whole words + 1
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>; // (cols / 4)
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (rows)

var<workgroup> partial: array<f32, WG>;

// The 4 bytes starting at byte offset `byte` of `w`, little-endian, for any offset.
fn load_word(byte: u32) -> u32 {
    let i = byte >> 2u;
    let shift = (byte & 3u) * 8u;
    if shift == 0u {
        return w[i];
    }
    return (w[i] >> shift) | (w[i + 1u] << (32u - shift));
}

// The four signed bytes of a word, lowest first.
fn unpack_i8x4(v: u32) -> vec4<f32> {
    return vec4<f32>(vec4<i32>(
        i32(v << 24u) >> 24u,
        i32(v << 16u) >> 24u,
        i32(v << 8u) >> 24u,
        i32(v) >> 24u,
    ));
}

@compute @workgroup_size(WG)
fn matvec_q8_0(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let row = wg.x + wg.y * p.groups_x;
    if row >= p.rows {
        return; // uniform across the workgroup: every thread of it has the same row
    }
    var acc = 0.0;
    for (var b = tid; b < p.blocks_per_row; b += WG) {
        let base = (row * p.blocks_per_row + b) * 34u;
        let d = unpack2x16float(load_word(base)).x;
        var s = 0.0;
        for (var k = 0u; k < 8u; k++) {
            let q = unpack_i8x4(load_word(base + 2u + 4u * k));
            s += dot(q, x[b * 8u + k]);
        }
        acc += d * s;
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
