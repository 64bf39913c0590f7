// Mamba's causal conv step for one token of channel c (Gu & Dao 2023, section 3.4 and algorithm 2: a
// depthwise conv of width K over the channel's last K inputs, then SiLU), shared by `mamba_conv`
// (mamba.wgsl) and `matvec_conv` (lib/matvec_conv.wgsl). Both declare `consts`, which starts with the conv
// weights (Di, K) then bias (Di), and `conv_state`, the window of past inputs (K - 1, Di); this shifts the
// window by x_new and returns SiLU(conv). CPU twin: archrace_cpu::ops::mamba::mamba_conv.
fn conv_step(c: u32, di: u32, k: u32, x_new: f32) -> f32 {
    var acc = consts[di * k + c]; // bias
    for (var j = 0u; j + 1u < k; j++) {
        acc += conv_state[j * di + c] * consts[c * k + j];
    }
    acc += x_new * consts[c * k + k - 1u];
    for (var j = 0u; j + 2u < k; j++) {
        conv_state[j * di + c] = conv_state[(j + 1u) * di + c];
    }
    if k >= 2u { // a kernel of 1 keeps no past inputs
        conv_state[(k - 2u) * di + c] = x_new;
    }
    return acc / (1.0 + exp(-acc));
}
