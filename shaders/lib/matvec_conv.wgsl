// `matvec_conv`, an entry point of the matvec body (lib/matvec.wgsl, whose Params and bindings 0-4 it
// uses), in a piece of its own: only its kernels (archrace_gpu::Kernel::MatvecConv and its normed twin)
// declare bindings 5-7 as Mamba's conv buffers: its conv weights (Di, K) then bias (Di), the conv window
// (K - 1, Di), its output (Di). The conv step itself is lib/conv_step.wgsl's, joined after this piece.
@group(0) @binding(5) var<storage, read> consts: array<f32>;
@group(0) @binding(6) var<storage, read_write> conv_state: array<f32>;
@group(0) @binding(7) var<storage, read_write> conv_out: array<f32>;

// Mamba's in-projection with its causal conv step fused in (decode, one token): y = W x as `matvec`
// writes it (x then z, Gu & Dao 2023, algorithm 2), and for each x channel c < Di the conv over the
// window and the new x, then SiLU, into conv_out[c], the window shifted, as `mamba_conv` (shaders/
// mamba.wgsl) does it: the same conv_step.
@compute @workgroup_size(WG)
fn matvec_conv(@builtin(workgroup_id) wg: vec3<u32>, inv: Invocation) {
    stage_x(inv);
    let rt = p.row_threads;
    let lane = inv.tid % rt;
    let row = 2u * row_group(wg, inv.tid); // the pair's first row
    let valid = row < p.rows; // not uniform, as in matvec
    let both = row + 1u < p.rows; // an odd row count leaves the last pair one row
    let at = p.w_base + row * p.row_bytes;
    var acc = vec2<f32>(0.0);
    if valid {
        acc = rows_dot2(at, second_row(both), p.blocks_per_row, p.x_off, lane, rt);
    }
    let v = row_sum2(inv, lane, rt, acc);
    if lane != 0u || !valid {
        return;
    }
    put_conv(row, v.x);
    if both {
        put_conv(row + 1u, v.y);
    }
}

// `matvec_conv`'s output for one row: the product, and for an x channel its conv step.
fn put_conv(row: u32, v: f32) {
    y[p.y_off + row] = v;
    let c = p.y_off + row; // the channel: y is xz from its start (a split matrix's part starts at y_off)
    if c < p.conv_inner {
        conv_out[c] = conv_step(c, p.conv_inner, p.conv_k, v);
    }
}
