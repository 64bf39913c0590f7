//! Host side of the `matmul_<type>` kernels (prefill): `Y (T, rows) = X (T, cols) @ W^T` with `W` read in
//! its GGUF encoding (rows in [`crate::layout`]'s order), a tile of rows x tokens per workgroup
//! (`shaders/lib/matmul.wgsl`; [`MatmulTile`]).

use crate::kernels::params::{kernel_params, KernelParams};
use crate::ShaderTarget;
use serde::Serialize;

/// The shape of a `matmul` workgroup (`TILE`, `TR` and `TT` in `shaders/lib/matmul.wgsl`): a tile of `tile`
/// rows x `tile` tokens, `rows` x `tokens` of it per thread in registers, so `(tile / rows) (tile / tokens)`
/// threads. A device takes [`MatmulTile::of`]; `archrace bench --matmul-tiles` times a prefill with each of
/// [`MATMUL_TILES`] (`ContextOptions::matmul_tile`), to choose it on a real GPU from figures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct MatmulTile {
    /// Rows and tokens per workgroup: 32 or 64 (two tiles of 64 x 32 columns of f32 fill the 16 KiB of
    /// workgroup memory WebGPU guarantees).
    pub tile: u32,
    /// Rows per thread: a multiple of 4 (whole vec4s of sums; whole gate/up pairs in `matmul_swiglu`).
    pub rows: u32,
    /// Tokens per thread.
    pub tokens: u32,
}

/// A GPU's tile: 64 x 64, 4 x 4 a thread (256 threads).
pub const GPU_MATMUL_TILE: MatmulTile = MatmulTile { tile: 64, rows: 4, tokens: 4 };

/// A software adapter's: 64 x 64, 16 x 16 a thread (16 threads). Their CPU threads read workgroup memory
/// lane by lane, so those reads cost more than the products they serve: per step of 4 columns a thread
/// reads `rows + tokens` vec4s for `rows tokens` products. Lavapipe, a 512-token prefill of the demo models
/// (Q4_0), alternated runs, `matmul`'s time against 4 x 4's: 8 x 8 0.65-0.70, 16 x 8 0.55-0.60, 16 x 16
/// about 0.45; 32 x 16 and 16 x 32 (8 threads, 512 sums a thread) gained 0-20% more.
pub const SOFTWARE_MATMUL_TILE: MatmulTile = MatmulTile { tile: 64, rows: 16, tokens: 16 };

/// The shapes `archrace bench --matmul-tiles` compares on a device: the GPU default, more sums a thread
/// (fewer threads: more registers, fewer workgroup-memory reads a product), and 32 x 32 tiles (four times
/// the workgroups: a GPU with more cores than a small model's 64 x 64 tiles fill).
pub const MATMUL_TILES: [MatmulTile; 6] = [
    GPU_MATMUL_TILE,
    MatmulTile { tile: 64, rows: 8, tokens: 4 },
    MatmulTile { tile: 64, rows: 4, tokens: 8 },
    MatmulTile { tile: 64, rows: 8, tokens: 8 },
    MatmulTile { tile: 32, rows: 4, tokens: 4 },
    MatmulTile { tile: 32, rows: 4, tokens: 2 },
];

impl MatmulTile {
    /// The tile a device takes: the one its context was asked for, else a software adapter's or a GPU's.
    pub fn of(target: ShaderTarget) -> Self {
        match (target.matmul_tile, target.software) {
            (Some(tile), _) => tile,
            (None, true) => SOFTWARE_MATMUL_TILE,
            (None, false) => GPU_MATMUL_TILE,
        }
    }

    /// Threads a workgroup.
    pub fn threads(self) -> u32 {
        (self.tile / self.rows) * (self.tile / self.tokens)
    }

    /// Whether the kernel takes this shape: a tile of 32 or 64, divided evenly, rows a multiple of 4, and
    /// at most 256 threads (WebGPU's guaranteed workgroup size).
    pub fn is_valid(self) -> bool {
        matches!(self.tile, 32 | 64)
            && self.rows.is_multiple_of(4)
            && self.tokens > 0
            && self.tile.is_multiple_of(self.rows)
            && self.tile.is_multiple_of(self.tokens)
            && self.threads() <= 256
    }

    /// Workgroups for `rows` outputs of `t` tokens.
    pub fn workgroups(self, rows: usize, t: usize) -> [u32; 3] {
        let tile = self.tile as usize;
        [rows.div_ceil(tile) as u32, t.div_ceil(tile) as u32, 1]
    }

    /// The same for `matmul_swiglu`, whose tiles cover half as many rows of Y (`rows`: Y's).
    pub fn swiglu_workgroups(self, rows: usize, t: usize) -> [u32; 3] {
        self.workgroups(2 * rows, t)
    }

    /// The WGSL constants that set it, before `lib/matmul.wgsl`.
    pub(crate) fn source(self) -> String {
        format!("const TILE: u32 = {}u;\nconst TR: u32 = {}u;\nconst TT: u32 = {}u;", self.tile, self.rows, self.tokens)
    }
}

impl std::fmt::Display for MatmulTile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{0}x{0}/{1}x{2}", self.tile, self.rows, self.tokens)
    }
}

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
