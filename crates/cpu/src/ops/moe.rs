//! MoE routing and the SwiGLU gate: the CPU twins of `moe_route` and `moe_norm_route`
//! (`shaders/moe_route.wgsl`), `swiglu`
//! (`shaders/swiglu.wgsl`), `matvec_swiglu` and `matvec_routed` (`shaders/lib/matvec.wgsl`).

use super::act::{silu, softmax};
use super::matmul::matmul;
use super::norm::{layer_norm, rms_norm};
use archrace_model::{Norm, Tensor};

/// The router's choice: softmax over the experts' logits, then the `top_k` most probable experts (ties
/// to the lower index) with their probabilities, not renormalised (Jamba and Mixtral as llama.cpp runs
/// them).
pub fn moe_route(logits: &[f32], top_k: usize) -> Vec<(usize, f32)> {
    let mut probs = logits.to_vec();
    softmax(&mut probs);
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    order[..top_k].iter().map(|&e| (e, probs[e])).collect()
}

/// A decode step's MoE front in one (the twin of `moe_norm_route`): the layer's norm of the residual row
/// `x (E)` with weights `w` and bias `b` (LayerNorm only) into `h (E)`, the router's logits `router (experts,
/// E) h`, and [`moe_route`]'s choice. Returns `h` and the route.
pub fn moe_norm_route(
    x: &[f32],
    norm: Norm,
    (w, b): (&[f32], &[f32]),
    router: &[f32],
    top_k: usize,
) -> (Vec<f32>, Vec<(usize, f32)>) {
    let h = match norm {
        Norm::Rms { eps } => rms_norm(x, w, eps),
        Norm::Layer { eps } => layer_norm(x, w, b, eps),
    };
    let logits: Vec<f32> =
        router.chunks_exact(x.len()).map(|row| row.iter().zip(&h).map(|(r, v)| r * v).sum()).collect();
    let route = moe_route(&logits, top_k);
    (h, route)
}

/// `SiLU(gate) * up`, element-wise (Shazeer 2020, eq. 6).
pub fn swiglu(gate: &[f32], up: &[f32]) -> Vec<f32> {
    gate.iter().zip(up).map(|(&g, &u)| silu(g) * u).collect()
}

/// `SiLU(gate x) * (up x)` for `t` tokens `x (T, E)` into `(T, hidden)`: the SwiGLU feed-forward's first
/// half, which a decode step runs as one matvec dispatch reading both matrices.
pub fn gate_up_swiglu(gate: &Tensor, up: &Tensor, x: &[f32], t: usize) -> Vec<f32> {
    swiglu(&matmul(gate, x, t), &matmul(up, x, t))
}

/// One token's MoE output `(E)`: `sum_s p_s (Down_{e_s} act_s)` over the chosen experts `route`
/// (`(expert, weight)` pairs, in slot order) and their activations `acts (top_k, hidden)`, which a decode
/// step runs as one `matvec_routed` dispatch.
pub fn routed_down(down_exps: &Tensor, route: &[(usize, f32)], acts: &[f32], n_embd: usize) -> Vec<f32> {
    let hidden = acts.len() / route.len().max(1);
    let mut y = vec![0.0f32; n_embd];
    for (s, &(e, p)) in route.iter().enumerate() {
        let d = matmul(&down_exps.row_range(e * n_embd, n_embd), &acts[s * hidden..(s + 1) * hidden], 1);
        for (o, v) in y.iter_mut().zip(&d) {
            *o += p * v;
        }
    }
    y
}
