// `matvec_rope`: attention's q, k and v products for one decode token with `rope_kv`'s work (shaders/
// rope_kv.wgsl) as their epilogue, so q and k leave the product rotated and k and v go straight into the
// KV cache, and rope_kv costs no dispatch. The rows of q, k and v are numbered as one matrix's (q's H D
// rows, then k's H_kv D, then v's H_kv D); a dispatch computes `rows` of them from row `qkv_row`: all
// three where they are one matrix, or one of them (q, k and v in different encodings):
// - RoPE, ggml's "normal" mode (RoFormer, Su et al. 2021, eq. 34): rows (2i, 2i+1) of the first n_rot
//   dims of each q and k head rotate by theta_i, (cos theta_i, sin theta_i) read from the host's table
//   (rope_table, at the layer's table_off), as rope_kv reads it;
// - q into y[y_off ..] (H D); k and v at values kv_off .. of k_cache and v_cache (H_kv D), in the
//   cache's element type: f16 pairs packed into one u32 word, or f32 as its bits.
// Each row group (row_threads threads) computes a pair of adjacent rows (2j, 2j + 1), as `matvec_swiglu`
// computes a gate row and its up row, so the pair a rotation and an f16 word need is in one thread at the
// end. D is even (the host checks), so a pair never straddles heads or q, k and v. One part: the whole
// matrix is in w. A piece of the matvec body (lib/matvec.wgsl): only its kernels (archrace_gpu::Kernel::
// MatvecRope and its normed twin) declare bindings 5-7 as the table and the cache.
// CPU twin: archrace_cpu::ops::matmul::matmul, then archrace_cpu::ops::rope::rope_kv.

@group(0) @binding(5) var<storage, read> rope_table: array<vec2<f32>>; // per layer: (n_rot / 2) cos, sin
@group(0) @binding(6) var<storage, read_write> k_cache: array<u32>;   // (capacity, H_kv D) in its type
@group(0) @binding(7) var<storage, read_write> v_cache: array<u32>;

@compute @workgroup_size(WG)
fn matvec_rope(@builtin(workgroup_id) wg: vec3<u32>, inv: Invocation) {
    stage_x(inv);
    let rt = p.row_threads;
    let lane = inv.tid % rt;
    let local = 2u * row_group(wg, inv.tid); // the pair's first row here
    let valid = local < p.rows; // not uniform, as in matvec
    let at = p.w_base + local * p.row_bytes;
    let row = p.qkv_row + local; // ... of q, k and v
    var acc = vec2<f32>(0.0);
    if valid {
        acc = rows_dot2(at, p.row_bytes, p.blocks_per_row, p.x_off, lane, rt);
    }
    var v = row_sum2(inv, lane, rt, acc); // rows (row, row + 1)
    if lane != 0u || !valid {
        return;
    }
    // Which of q (0), k (1), v (2), and the row within it.
    let part = select(select(2u, 1u, row < p.q_rows + p.kv_rows), 0u, row < p.q_rows);
    let r = row - select(select(p.q_rows + p.kv_rows, p.q_rows, part == 1u), 0u, part == 0u);
    let dim = r % p.head_dim; // even: 2i of its head
    if part < 2u && dim < p.n_rot {
        let cs = rope_table[p.table_off + dim / 2u];
        v = vec2<f32>(v.x * cs.x - v.y * cs.y, v.x * cs.y + v.y * cs.x);
    }
    if part == 0u {
        y[p.y_off + r] = v.x;
        y[p.y_off + r + 1u] = v.y;
        return;
    }
    let to = p.kv_off + r;
    if p.kv_f16 == 1u {
        let word = pack2x16float(v);
        if part == 1u { k_cache[to / 2u] = word; } else { v_cache[to / 2u] = word; }
    } else {
        let words = bitcast<vec2<u32>>(v);
        if part == 1u {
            k_cache[to] = words.x;
            k_cache[to + 1u] = words.y;
        } else {
            v_cache[to] = words.x;
            v_cache[to + 1u] = words.y;
        }
    }
}
