// The matrix-vector body shared by every weight encoding: y (rows) = W (rows, cols) @ x (cols).
// The encoding's file defines BLOCK (weights per block, a multiple of 4) and `block_dot(row, b, blocks,
// xv)`: the dot product of block b of the row at byte `row` (a row of `blocks` blocks, in the GPU row
// layout of crates/gpu/src/layout.rs) with x[xv * 4 ..][..BLOCK].
// A workgroup takes WG / row_threads row groups; each group's row_threads threads (a power of two) take
// its blocks in turn and add their sums with `row_sum` (lib/row_sum.wgsl, in workgroup memory, or its
// twin lib/row_sum_subgroup.wgsl where the device has subgroups; either follows this file). A row group
// is a pair of adjacent rows (in `matvec_swiglu`, a gate row and its up row), the encoding's
// `block_dot2(row, second, b, blocks, xv)` computing block b of both (the rows at bytes `row` and
// `row + second`) from one read of x: a quantized row's bytes are a fraction of its x's (Q4_0: 18
// bytes of weights against 128 of x per block), and reading x for each row alone streamed x from cache
// several times over for each byte of weights. lib/block_dot2.wgsl gives `block_dot2` to the encodings whose
// `block_dot` is straight-line code; the K-quants, whose blocks loop, define their own.
// Workgroups beyond the per-dimension dispatch limit spill into y: group = wg.x + wg.y * groups_x.
// The result is written, added (a residual connection fused into the product) or added times a router
// weight (a MoE expert's share). For MoE, the weight rows are those of the expert the router chose.
// `matvec_swiglu` is the SwiGLU feed-forward's first half in one dispatch (Shazeer 2020, eq. 6): each row
// is also read pair_bytes further on (the up projection, uploaded right after the gate), and
// y = SiLU(gate x) * (up x) is written; for MoE, every chosen expert's (one per z). `matvec_routed` is
// MoE's second half: every chosen expert's down product, weighted by the router and summed into y.
// (A mode of `matvec` did the same, but its extra branch and reduction made every plain product ~30%
// slower on lavapipe, so it has its own entry point.)
// Two entry points that bind more than 0-4 are pieces of their own, joined after this body for their kernels
// only: `matvec_conv` (lib/matvec_conv.wgsl, Mamba's in-projection with its conv step) and `matvec_rope`
// (lib/matvec_rope.wgsl, attention's q/k/v product with RoPE and the KV cache append).
// `matvec`, `matvec_swiglu`, `matvec_conv` and `matvec_rope` read x through `xin` after `stage_x`: x as it
// is (lib/x_direct.wgsl), or, in their normed twins, x through the model's RMSNorm, computed by each
// workgroup (lib/x_norm.wgsl), so the norm before them costs no dispatch of its own.
// `matvec_multi` is several products of one encoding in one dispatch (RWKV-7's r, k and v, or its four
// LoRA halves): y's rows are split into segments, each its own matrix (own byte base in w, own row
// length), its own x offset and its own activation, from a table in the `route` binding (see
// `matvec_multi`).
// CPU twins: archrace_cpu::ops::matmul::matmul (dequantize a row as llama.cpp does, then dot),
// archrace_cpu::ops::moe::gate_up_swiglu and archrace_cpu::ops::matmul::matvec_multi; `matvec_conv` is
// `matvec` then `mamba_conv`'s step (archrace_cpu::ops::mamba::mamba_conv); `matvec_rope` is `matvec`
// then archrace_cpu::ops::rope::rope_kv; a normed twin is
// archrace_cpu::ops::norm::rms_norm, then its plain kernel's twin.

const WG: u32 = 64u;
const NO_SLOT: u32 = 0xffffffffu;

struct Params {
    rows: u32,           // output length
    cols: u32,           // input length, a multiple of BLOCK
    blocks_per_row: u32, // cols / BLOCK
    groups_x: u32,       // workgroups along x in the dispatch
    row_bytes: u32,      // bytes of one encoded row
    w_base: u32,         // byte offset of row 0 in w
    y_off: u32,          // y[y_off + row] receives the result
    mode: u32,           // 0: y = Wx; 1: y += Wx; 2: y += route weight[slot] * Wx; 5..: y = act(Wx) (see activation)
    slot: u32,           // MoE: expert slot in `route` (the expert's rows start at id * expert_bytes); or NO_SLOT
    top_k: u32,          // MoE: experts per token (route holds top_k ids, then top_k weights)
    expert_bytes: u32,   // MoE: bytes of one expert's matrix
    x_off: u32,          // x starts at x[x_off] (in vec4s)
    expert_first: u32,   // MoE: this buffer holds experts expert_first.. expert_first + expert_count
    expert_count: u32,   //      (a tensor split over buffers); other experts are another dispatch's
    row_threads: u32,    // threads per row: a power of two, at most WG
    pair_bytes: u32,     // matvec_swiglu: bytes from a gate row to its up row
    conv_inner: u32,     // matvec_conv: Mamba's Di (rows 0 .. Di are x, convolved; the rest z)
    conv_k: u32,         // matvec_conv: the conv kernel width K
    segments: u32,       // matvec_multi: segments in the table
    norm_eps: f32,       // the normed twins (lib/x_norm.wgsl): the RMSNorm's epsilon
    q_rows: u32,         // matvec_rope: H D (q's rows; k's H_kv D follow, then v's)
    kv_rows: u32,        // matvec_rope: H_kv D
    head_dim: u32,       // matvec_rope: D (even)
    n_rot: u32,          // matvec_rope: dims rotated per head (0: no RoPE)
    table_off: u32,      // matvec_rope: the layer's first (cos, sin) pair in the RoPE table
    kv_off: u32,         // matvec_rope: first cache value written (pos H_kv D)
    kv_f16: u32,         // matvec_rope: 1: the cache holds f16 pairs; 0: f32
    qkv_row: u32,        // matvec_rope: this matrix's first row among q's, k's and v's (0, H D or (H + H_kv) D)
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>; // encoded rows (layout.rs), padded
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>; // (x_off + cols / 4)
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // (y_off + rows)
@group(0) @binding(4) var<storage, read> route: array<u32>;   // (2 top_k): expert ids, then f32 weights

// Where route slot `slot`'s expert starts in w (x: bytes from w_base), and whether this buffer holds it
// (y: 0 when it is in another part's dispatch). Uniform across the workgroup (it depends on no thread),
// so returning on it keeps the barriers in uniform control flow (Tint checks this; naga does not). No
// slot: offset 0, held.
fn expert_at(slot: u32) -> vec2<u32> {
    if slot == NO_SLOT {
        return vec2<u32>(0u, 1u);
    }
    let expert = route[slot];
    if expert < p.expert_first || expert >= p.expert_first + p.expert_count {
        return vec2<u32>(0u, 0u);
    }
    return vec2<u32>((expert - p.expert_first) * p.expert_bytes, 1u);
}

// The bias of row `row` for the activations that take one (lib/activation.wgsl): from `route`, which
// non-MoE products do not otherwise read.
fn act_bias(row: u32) -> f32 {
    return bitcast<f32>(route[row]);
}

// The row group this thread works on (a pair of rows; see above): WG / row_threads groups per
// workgroup, row_threads consecutive threads each; workgroups beyond the per-dimension dispatch limit
// spill into y.
fn row_group(wg: vec3<u32>, tid: u32) -> u32 {
    return (wg.x + wg.y * p.groups_x) * (WG / p.row_threads) + tid / p.row_threads;
}

// This thread's share of the dot products with x of two rows `second` bytes apart (a row group: adjacent
// rows, or SwiGLU's gate and up rows), each block of x read once for both: blocks lane, lane + rt, .. of
// the rows of `blocks` blocks at bytes `at` and `at + second`, against x from vec4 x0 (each entry point
// adds the shares with `row_sum2`).
fn rows_dot2(at: u32, second: u32, blocks: u32, x0: u32, lane: u32, rt: u32) -> vec2<f32> {
    var acc = vec2<f32>(0.0);
    for (var b = lane; b < blocks; b += rt) {
        acc += block_dot2(at, second, b, blocks, x0 + b * (BLOCK / 4u));
    }
    return acc;
}

@compute @workgroup_size(WG)
fn matvec(@builtin(workgroup_id) wg: vec3<u32>, inv: Invocation) {
    stage_x(inv);
    let rt = p.row_threads;
    let lane = inv.tid % rt;
    let row = 2u * row_group(wg, inv.tid); // the pair's first row
    let valid = row < p.rows; // not uniform: the last workgroup's rows may run out, so no early return
    let both = row + 1u < p.rows; // an odd row count leaves the last pair one row
    let expert = expert_at(p.slot);
    if expert.y == 0u {
        return; // uniform: the chosen expert's rows are in another part
    }
    let at = p.w_base + row * p.row_bytes + expert.x;
    var acc = vec2<f32>(0.0);
    if valid {
        acc = rows_dot2(at, second_row(both), p.blocks_per_row, p.x_off, lane, rt);
    }
    let v = row_sum2(inv, lane, rt, acc);
    if lane == 0u && valid {
        put(row, v.x);
        if both {
            put(row + 1u, v.y);
        }
    }
}

// The byte offset `rows_dot2` takes to a pair's second row: the next row, or where an odd row count
// leaves the last pair one row, 0 (the row again; its second sum is not written).
fn second_row(both: bool) -> u32 {
    return select(0u, p.row_bytes, both);
}

// `matvec`'s output for one row, by mode.
fn put(row: u32, v: f32) {
    let out = p.y_off + row;
    switch p.mode {
        case 0u: { y[out] = v; }
        case 1u: { y[out] += v; }
        case 2u: { y[out] += bitcast<f32>(route[p.top_k + p.slot]) * v; }
        default: { y[out] = activation(p.mode, v, row); }
    }
}

@compute @workgroup_size(WG)
fn matvec_swiglu(@builtin(workgroup_id) wg: vec3<u32>, inv: Invocation) {
    stage_x(inv);
    let rt = p.row_threads;
    let lane = inv.tid % rt;
    let row = row_group(wg, inv.tid);
    let valid = row < p.rows; // not uniform, as in matvec
    // MoE: every chosen expert in one dispatch, slot p.slot + wg.z into y's rows from wg.z * rows.
    let expert = expert_at(select(NO_SLOT, p.slot + wg.z, p.slot != NO_SLOT));
    if expert.y == 0u {
        return; // uniform: the chosen expert's rows are in another part
    }
    let at = p.w_base + row * p.row_bytes + expert.x;
    var acc = vec2<f32>(0.0); // (gate x, up x)
    if valid {
        acc = rows_dot2(at, p.pair_bytes, p.blocks_per_row, p.x_off, lane, rt);
    }
    let sums = row_sum2(inv, lane, rt, acc);
    if lane == 0u && valid {
        let g = sums.x;
        y[p.y_off + wg.z * p.rows + row] = g / (1.0 + exp(-g)) * sums.y;
    }
}

// MoE's down projection for every chosen expert at once: y += sum over slots s < top_k of
// weight_s * (W_{expert_s} x_s), x_s the slot's activations at x[x_off + s cols / 4 ..]. One workgroup
// sums a pair of rows over the slots, so no two write a row; each block of a slot's x serves both rows.
@compute @workgroup_size(WG)
fn matvec_routed(@builtin(workgroup_id) wg: vec3<u32>, inv: Invocation) {
    let rt = p.row_threads;
    let lane = inv.tid % rt;
    let row = 2u * row_group(wg, inv.tid); // the pair's first row
    let valid = row < p.rows; // not uniform, as in matvec
    let both = row + 1u < p.rows; // an odd row count leaves the last pair one row
    var acc = vec2<f32>(0.0);
    for (var s = 0u; s < p.top_k; s++) {
        let expert = expert_at(s);
        if expert.y == 0u {
            continue; // uniform: the expert is in another part's dispatch
        }
        let at = p.w_base + row * p.row_bytes + expert.x;
        let x0 = p.x_off + s * (p.cols / 4u);
        if valid {
            let dot = rows_dot2(at, second_row(both), p.blocks_per_row, x0, lane, rt);
            acc += bitcast<f32>(route[p.top_k + s]) * dot;
        }
    }
    let sum = row_sum2(inv, lane, rt, acc);
    if lane == 0u && valid {
        y[p.y_off + row] += sum.x;
        if both {
            y[p.y_off + row + 1u] += sum.y;
        }
    }
}

// matvec_multi's table in `route`: p.segments records of SEGMENT words, then the biases (f32 bits).
// A record: the segment's end row in y (exclusive, counted from y_off; segments follow one another),
// blocks per row, bytes per row, byte base of its first row in w, x offset (vec4s), activation mode (0 or
// 5.., as `activation`), where its biases start in `route` (bias of row r: route[bias_at + r], the row
// counted within the segment; only read by modes that take one), and its end counted in whole pairs of
// rows (each segment's rows rounded up to even, so no pair of rows straddles two segments; p.rows counts
// rows so too).
const SEGMENT: u32 = 8u;

@compute @workgroup_size(WG)
fn matvec_multi(@builtin(workgroup_id) wg: vec3<u32>, inv: Invocation) {
    let rt = p.row_threads;
    let lane = inv.tid % rt;
    let paired = 2u * row_group(wg, inv.tid); // the pair's first row, counted in whole pairs
    var seg = 0u;
    var first = 0u; // the segment's first row in y
    var first_paired = 0u; // and counted in whole pairs
    for (var s = 0u; s + 1u < p.segments; s++) {
        if paired >= route[s * SEGMENT + 7u] {
            seg = s + 1u;
            first = route[s * SEGMENT];
            first_paired = route[s * SEGMENT + 7u];
        }
    }
    let at = seg * SEGMENT;
    let local = paired - first_paired; // the pair's first row within the segment
    let rows = route[at] - first;
    let valid = local < rows; // not uniform, as in matvec (past the last segment: never)
    let both = local + 1u < rows; // an odd segment leaves its last pair one row
    let row_bytes = route[at + 2u];
    let row_at = route[at + 3u] + local * row_bytes;
    var acc = vec2<f32>(0.0);
    if valid {
        acc = rows_dot2(row_at, select(0u, row_bytes, both), route[at + 1u], route[at + 4u], lane, rt);
    }
    let v = row_sum2(inv, lane, rt, acc);
    if lane == 0u && valid {
        let mode = route[at + 5u];
        let bias_at = route[at + 6u] + local;
        y[p.y_off + first + local] = activation(mode, v.x, bias_at);
        if both {
            y[p.y_off + first + local + 1u] = activation(mode, v.y, bias_at + 1u);
        }
    }
}
