// Element-wise steps of the RWKV blocks, one op per dispatch, over n values:
// out[out_off + i] = f(a[a_off + i], b[b_off + i], c[c_off + i], out[out_off + i]); over a prefill
// chunk's T rows, a per-channel constant b or c (a bias, a decay base) repeats every b_period / c_period
// values (0: no repeat). Threads along x, spilling into y (row values per row of the dispatch).
// The activations (ops 0 to 3, 5, 8, 9) are applied by the products as they write (lib/activation.wgsl:
// the matvec's modes, matmul_act), which follow this table; the runtime dispatches this kernel for the rest.
// Ops and their CPU twins (archrace_cpu::ops::pointwise::pointwise, same op numbers):
//   0 tanh(a)                       LoRA hidden activation (RWKV-6 ddlerp and decay, RWKV-7 decay)
//   1 sigmoid(a + b)                RWKV-7 in-context learning rate a = sigmoid(a0 + LoRA)
//   2 exp(-e^-0.5 sigmoid(a + b))   RWKV-7 decay w (Goose, section 4)
//   3 exp(-exp(a + b))              RWKV-6 decay w (Eagle and Finch, eq. 18)
//   4 a + b
//   5 max(a, 0)^2                   channel-mix squared ReLU
//   6 out + (b - out) sigmoid(a + c) RWKV-7 value residual toward layer 0's v
//   7 out + a sigmoid(b)            RWKV-6 channel-mix, gated, added to the residual stream
//   8 silu(a)                       RWKV-6 gate
//   9 sigmoid(a)                    RWKV-7 gate LoRA hidden activation
//  10 out + a b                     RWKV-6 ddlerp: x_j += sx * m_j
//  11 a                             copy (RWKV-7's v of layer 0)
//  12 gelu(a)                       GELU, tanh form as ggml computes it (Hendrycks & Gimpel 2016)

struct Params {
    n: u32,
    op: u32,
    a_off: u32,
    b_off: u32,
    c_off: u32,
    out_off: u32,
    b_period: u32,
    c_period: u32,
    row: u32,
}

@group(0) @binding(0) var<storage, read> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> c: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

fn sigmoid(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

@compute @workgroup_size(64)
fn pointwise(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x + gid.y * p.row;
    if i >= p.n {
        return;
    }
    let x = a[p.a_off + i];
    let o = p.out_off + i;
    var bi = i;
    if p.b_period != 0u {
        bi = i % p.b_period;
    }
    var ci = i;
    if p.c_period != 0u {
        ci = i % p.c_period;
    }
    switch p.op {
        case 0u: { out[o] = tanh(x); }
        case 1u: { out[o] = sigmoid(x + b[p.b_off + bi]); }
        case 2u: { out[o] = exp(-0.606531 * sigmoid(x + b[p.b_off + bi])); }
        case 3u: { out[o] = exp(-exp(x + b[p.b_off + bi])); }
        case 4u: { out[o] = x + b[p.b_off + bi]; }
        case 5u: { let r = max(x, 0.0); out[o] = r * r; }
        case 6u: { out[o] += (b[p.b_off + bi] - out[o]) * sigmoid(x + c[p.c_off + ci]); }
        case 7u: { out[o] += x * sigmoid(b[p.b_off + bi]); }
        case 8u: { out[o] = x / (1.0 + exp(-x)); }
        case 9u: { out[o] = sigmoid(x); }
        case 10u: { out[o] += x * b[p.b_off + bi]; }
        case 12u: { out[o] = 0.5 * x * (1.0 + tanh(0.7978845608 * (x + 0.044715 * x * x * x))); }
        default: { out[o] = x; }
    }
}
