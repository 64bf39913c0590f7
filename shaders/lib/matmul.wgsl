// The matrix-matrix body shared by every weight encoding, for prefill: Y (T, rows) = X (T, cols) @ W^T,
// W (rows, cols) read in its encoding (in the GPU row layout, crates/gpu/src/layout.rs). The encoding's
// file defines BLOCK and `dequant4(row, b, blocks, g)`: weights 4g .. 4g + 3 of block b of the row at
// byte `row` (a row of `blocks` blocks).
// A workgroup computes a tile of TILE rows x TILE tokens (32 or 64), TR rows (a multiple of 4) x TT tokens
// per thread in registers (all three prepended: archrace_gpu::kernels::matmul::MatmulTile; 64 and 4 x 4 on
// a GPU, 256 threads; 64 and 16 x 16 on a software adapter, 16 threads, whose CPU threads pay for each
// workgroup-memory read lane by lane, so there each read serves more products). Per step of 32 columns it
// decodes the tile's weights once into workgroup memory (each weight read once per tile, not once per
// token) and stages the tokens' activations beside them.
// Workgroup memory has 32 banks of 4 bytes on NVIDIA and AMD GPUs, and a 16-byte load is served 8
// threads at a time: 8 neighbouring threads read one weight row (one address, a broadcast) and 8
// different tokens, which xt_at places in 8 different bank groups.
// MoE (gather/scatter): with a token list (`list` = 1 or 2), the tokens are those routed to one expert:
// list[count_at] of them, ids at list[ids_at + n], router weights (f32 bits) at list[weights_at + n].
// list 1 gathers: token n reads X row ids[n] and writes Y row n (compact); list 2 scatters: token n reads
// X row n (compact) and adds weights[n] * its product into Y row ids[n].
// SwiGLU (PAIRED, prepended true for matmul_swiglu): Y (T, rows) = SiLU(X G^T) * (X U^T), G's rows at
// w_base and U's `pair_bytes` after them. The tile's rows alternate: tile row 2k is G's row k, 2k + 1 U's,
// so a thread's TR rows (an even number) hold whole pairs and it writes SiLU(g) u itself; a tile covers
// TILE / 2 rows of Y.
// CPU twin: archrace_cpu::ops::matmul::matmul (dequantize a row as llama.cpp does, then dot); SwiGLU's
// is the `silu(g) * u` step of archrace_cpu::model::mixers::ffn.

const KG: u32 = 8u;    // vec4 groups of columns per step (32 weights); a power of two >= 8 (xt_at)
const TOKEN_THREADS: u32 = TILE / TT; // threads across a tile's tokens (on a GPU at least 8: xt_at)
const THREADS: u32 = (TILE / TR) * TOKEN_THREADS;

struct Params {
    rows: u32,       // output width (this part's rows)
    cols: u32,       // input width, a multiple of 4 (and of BLOCK for quantized encodings)
    n_tokens: u32,   // T (ignored with a token list: its count)
    row_bytes: u32,  // bytes of one encoded row
    w_base: u32,     // byte offset of row 0 in w
    x_off: u32,      // X row 0 starts at x[x_off] (vec4s)
    x_stride: u32,   // vec4s from one X row to the next
    y_off: u32,      // Y row 0 starts at y[y_off] (values)
    y_stride: u32,   // values from one Y row to the next
    mode: u32,       // 0: Y = XW^T; 1: Y += XW^T (a residual connection); 5..11: Y = act(XW^T) (activation)
    list: u32,       // 0: none; 1: gather X rows; 2: scatter-add into Y rows
    count_at: u32,   // list: index of the token count
    ids_at: u32,     // list: first token id
    weights_at: u32, // list: first router weight
    bias_at: u32,    // modes 9..11 (no list): row r's bias is list[bias_at + r] (f32 bits)
    pair_bytes: u32, // PAIRED: bytes from G's rows to U's
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> w: array<vec4<u32>>; // encoded rows (layout.rs), padded
@group(0) @binding(2) var<storage, read> x: array<vec4<f32>>; // X
@group(0) @binding(3) var<storage, read_write> y: array<f32>; // Y
@group(0) @binding(4) var<storage, read> list: array<u32>;    // MoE token lists, the biases, or anything

// The activations' per-row bias (lib/activation.wgsl), `r` the part's row.
fn act_bias(r: u32) -> f32 {
    return bitcast<f32>(list[p.bias_at + r]);
}

// The encodings' `block_dot` reads its input through this (it is compiled here too, though unused).
fn xin(i: u32) -> vec4<f32> {
    return x[i];
}

var<workgroup> wt: array<vec4<f32>, TILE * KG>; // (TILE rows, KG)
var<workgroup> xt: array<vec4<f32>, TILE * KG>; // (TILE tokens, KG), each row's KG slots permuted (xt_at)

// Tile rows of the whole product (each row of Y is two tile rows when PAIRED).
fn tile_rows() -> u32 {
    return select(p.rows, 2u * p.rows, PAIRED);
}

// Byte offset of tile row `r`'s weights (r < tile_rows()).
fn weight_row(r: u32) -> u32 {
    if PAIRED {
        return p.w_base + (r % 2u) * p.pair_bytes + (r / 2u) * p.row_bytes;
    }
    return p.w_base + r * p.row_bytes;
}

// Where group g (< KG) of the tile's token t sits in xt: row t, slot g XOR (t % 8). Threads tt .. tt + 7
// (TOKEN_THREADS >= 8 on a GPU) read tokens tt .. tt + 7 at the same g; unpermuted, their rows, KG = 8
// vec4s (128 bytes) apart, would all start in bank 0, and the 8 loads would be served one after another.
fn xt_at(t: u32, g: u32) -> u32 {
    return t * KG + (g ^ (t % 8u));
}

@compute @workgroup_size(THREADS)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) tid: u32) {
    let row0 = wg.x * TILE;
    let tok0 = wg.y * TILE;
    var n_tokens = p.n_tokens;
    if p.list != 0u {
        n_tokens = list[p.count_at];
    }
    if tok0 >= n_tokens {
        return; // uniform: the whole tile is past the last token
    }
    let tr = tid / TOKEN_THREADS; // rows tr TR .. + TR of the tile
    let tt = tid % TOKEN_THREADS; // tokens tt + TOKEN_THREADS j, j < TT (neighbouring threads, tokens)
    let groups = p.cols / 4u;
    // acc[j TR / 4 + h][i]: token tt + TOKEN_THREADS j, row tr TR + 4 h + i
    var acc: array<vec4<f32>, TT * TR / 4u>;
    for (var g0 = 0u; g0 < groups; g0 += KG) {
        for (var e = tid; e < TILE * KG; e += THREADS) {
            let r = e / KG;
            let g = g0 + e % KG;
            var wv = vec4<f32>(0.0);
            if row0 + r < tile_rows() && g < groups {
                let k = 4u * g;
                wv = dequant4(weight_row(row0 + r), k / BLOCK, p.cols / BLOCK, (k % BLOCK) / 4u);
            }
            wt[e] = wv;
            let t = tok0 + r;
            var xv = vec4<f32>(0.0);
            if t < n_tokens && g < groups {
                var src = t;
                if p.list == 1u {
                    src = list[p.ids_at + t];
                }
                xv = x[p.x_off + src * p.x_stride + g];
            }
            xt[xt_at(r, e % KG)] = xv;
        }
        workgroupBarrier();
        for (var g = 0u; g < KG; g++) {
            var wr: array<vec4<f32>, TR>; // the thread's rows' weights at g
            for (var i = 0u; i < TR; i++) {
                wr[i] = wt[(tr * TR + i) * KG + g];
            }
            for (var j = 0u; j < TT; j++) {
                let xv = xt[xt_at(tt + TOKEN_THREADS * j, g)];
                for (var h = 0u; h < TR / 4u; h++) {
                    let r4 = 4u * h;
                    let d01 = vec2<f32>(dot(wr[r4], xv), dot(wr[r4 + 1u], xv));
                    let d23 = vec2<f32>(dot(wr[r4 + 2u], xv), dot(wr[r4 + 3u], xv));
                    acc[j * TR / 4u + h] += vec4<f32>(d01, d23);
                }
            }
        }
        workgroupBarrier();
    }
    for (var j = 0u; j < TT; j++) {
        let t = tok0 + tt + TOKEN_THREADS * j;
        if t >= n_tokens {
            continue;
        }
        var dst = t;
        var scale = 1.0;
        if p.list == 2u {
            dst = list[p.ids_at + t];
            scale = bitcast<f32>(list[p.weights_at + t]);
        }
        if PAIRED {
            for (var i = 0u; i < TR; i += 2u) {
                let r = row0 + tr * TR + i; // G's row r / 2, and U's after it
                if r < tile_rows() {
                    let g = acc[j * TR / 4u + i / 4u][i % 4u];
                    let u = acc[j * TR / 4u + i / 4u][i % 4u + 1u];
                    y[p.y_off + dst * p.y_stride + r / 2u] = g / (1.0 + exp(-g)) * u;
                }
            }
            continue;
        }
        for (var i = 0u; i < TR; i++) {
            let r = row0 + tr * TR + i;
            if r < p.rows {
                let out = p.y_off + dst * p.y_stride + r;
                let v = acc[j * TR / 4u + i / 4u][i % 4u];
                if p.mode == 1u || p.list == 2u {
                    y[out] += scale * v;
                } else {
                    y[out] = activation(p.mode, v, r);
                }
            }
        }
    }
}
