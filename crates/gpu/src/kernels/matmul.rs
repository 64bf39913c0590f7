//! Host side of the `matmul_<type>` kernels (prefill): `Y (T, rows) = X (T, cols) @ W^T` with `W` read in
//! its GGUF encoding (rows in [`crate::layout`]'s order), tiles of 64 rows x 64 tokens per workgroup
//! (`shaders/lib/matmul.wgsl`).

use crate::kernels::params::{kernel_params, KernelParams};

/// Rows and tokens per workgroup (`TILE` in `shaders/lib/matmul.wgsl`).
pub const TILE: usize = 64;

kernel_params! {
    /// The kernels' parameter block; mirrors `Params` in `shaders/lib/matmul.wgsl` (64 bytes).
    pub struct MatmulParams {
        /// Output width (this part's rows).
        rows: u32,
        /// Input width, a multiple of 4.
        cols: u32,
        /// Tokens `T` (with a token list, its count is read on the GPU instead).
        n_tokens: u32,
        /// Bytes of one encoded row.
        row_bytes: u32,
        /// Byte offset of row 0 in the weight buffer.
        w_base: u32,
        /// X row 0 starts here, in vec4s.
        x_off: u32,
        /// vec4s from one X row to the next.
        x_stride: u32,
        /// Y row 0 starts here, in values.
        y_off: u32,
        /// Values from one Y row to the next.
        y_stride: u32,
        /// 0: `Y = X W^T`; 1: `Y += X W^T`; 5 to 11: `Y = act(X W^T)`, the activation of that
        /// [`crate::kernels::matvec::MatvecMode`] (`shaders/lib/activation.wgsl`).
        mode: u32,
        /// [`TokenList`] as u32.
        list: u32,
        /// Token list: where its count is.
        count_at: u32,
        /// Token list: where its token ids start.
        ids_at: u32,
        /// Token list: where its router weights (f32 bits) start.
        weights_at: u32,
        /// The activations with a bias: row `r`'s is `bias[bias_at + r]` in the list binding (without a
        /// token list), `bias_at` the part's first row.
        bias_at: u32,
        /// `matmul_swiglu`: bytes from the gate's rows to the up projection's in the weight buffer.
        pair_bytes: u32,
    }
}
const _: () = assert!(std::mem::size_of::<MatmulParams>() == 64);

/// How a MoE expert's product finds its tokens (see `shaders/lib/matmul.wgsl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenList {
    /// Every token, in order.
    None = 0,
    /// Token `n` of the list reads X row `ids[n]` and writes Y row `n`.
    Gather = 1,
    /// Token `n` reads X row `n` and adds `weights[n]` times its product into Y row `ids[n]`.
    Scatter = 2,
}

/// Where expert `e`'s list lies in a `moe_lists` buffer for `experts` experts and chunks of `t` tokens:
/// `(count_at, ids_at, weights_at)` (see `shaders/moe_route.wgsl`).
pub fn list_offsets(e: usize, experts: usize, t: usize) -> (u32, u32, u32) {
    (e as u32, (experts + e * t) as u32, (experts + experts * t + e * t) as u32)
}

/// Workgroups for `rows` outputs of `t` tokens.
pub fn workgroups(rows: usize, t: usize) -> [u32; 3] {
    [rows.div_ceil(TILE) as u32, t.div_ceil(TILE) as u32, 1]
}

/// The same for `matmul_swiglu`, whose tiles cover half as many rows of Y (`rows`: Y's).
pub fn swiglu_workgroups(rows: usize, t: usize) -> [u32; 3] {
    workgroups(2 * rows, t)
}
