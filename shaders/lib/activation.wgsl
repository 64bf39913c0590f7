// The activations a product applies as it writes its output (RWKV's LoRA and channel-mix activations, as
// shaders/pointwise.wgsl computes them, op numbers in its list): the matvec's modes 5 to 11 for a decode
// token (lib/matvec.wgsl), the matmul's for a prefill chunk (lib/matmul.wgsl), numbered as
// archrace_gpu::kernels::matvec::MatvecMode. Each body defines `act_bias(row)`, the per-row bias the
// activations of modes 9 to 11 add, read from a binding the product does not otherwise use.

fn sigmoid(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

fn activation(mode: u32, v: f32, row: u32) -> f32 {
    switch mode {
        case 5u: { return tanh(v); }                                              // pointwise op 0
        case 6u: { return sigmoid(v); }                                           // op 9
        case 7u: { let r = max(v, 0.0); return r * r; }                           // op 5
        case 8u: { return v / (1.0 + exp(-v)); }                                  // op 8
        case 9u: { return sigmoid(v + act_bias(row)); }                           // op 1
        case 10u: { return exp(-0.606531 * sigmoid(v + act_bias(row))); }        // op 2
        case 11u: { return exp(-exp(v + act_bias(row))); }                        // op 3
        default: { return v; } // 0: as computed (matvec_multi's plain segments)
    }
}
