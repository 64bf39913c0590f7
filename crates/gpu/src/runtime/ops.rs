//! The kernels every part of a model records through: norms, products (one token: `matvec`; a chunk:
//! `matmul`), each over every part of a split matrix. A mixer or feed-forward records its kernels with an
//! [`Ops`] (the model's spec and the device's workgroup limit), so it needs nothing else of the model.

use super::forward::u;
use super::prefill::{Product, ProductOut};
use super::recorder::Recorder;
use super::weights::{GpuMatrix, GpuNorm};
use crate::kernels::matmul::{list_offsets, MatmulParams, MatmulTile, TokenList};
use crate::kernels::matvec::{MatvecLimits, MatvecMode, MatvecParams, NORM_MAX_COLS};
use crate::kernels::params::NormParams;
use crate::shaders::Wkv7Shape;
use crate::Kernel;
use archrace_model::{ModelSpec, Norm};

/// What recording a model's kernels needs besides the buffers.
#[derive(Clone, Copy)]
pub(super) struct Ops<'a> {
    /// The model.
    pub spec: &'a ModelSpec,
    /// The device's limit of workgroups per dimension (larger grids spill into y).
    pub max_groups: u32,
    /// Most threads per matvec row group on this device ([`MatvecLimits`]).
    pub max_row_threads: usize,
    /// Whether a product after the model's norm may take the norm itself (the normed matvec twins, see
    /// [`Ops::fuses_norm`]); off, every norm is its own dispatch (for tests and comparisons).
    pub fuse_norms: bool,
    /// The attention decode twin steps take over an f16 cache (`attn_partial_runs`), or `None` for
    /// `attn_partial` ([`super::GpuModel::set_attention_runs`]).
    pub attn_runs: Option<Kernel>,
    /// The attention prefill twin chunks take over an f16 cache (`attn_prefill_lanes`), or `None` for
    /// `attn_prefill` ([`super::GpuModel::set_attention_lanes`]).
    pub attn_lanes: Option<Kernel>,
    /// The device's loop cap ([`crate::GpuContext::loop_limit`]).
    pub loop_limit: Option<usize>,
    /// How `wkv7` shares out a head's state rows on this device ([`crate::shaders::wkv7_shape`]).
    pub wkv7: Wkv7Shape,
    /// The `matmul` tile this device's kernels were compiled for ([`MatmulTile::of`]).
    pub matmul_tile: MatmulTile,
}

/// Whether `spec`'s norm can be taken by a product over rows of `cols` values (its normed twin): an
/// RMSNorm, and rows that fit the twins' workgroup memory.
pub(super) fn norm_fusable(spec: &ModelSpec, cols: usize) -> bool {
    matches!(spec.norm, Norm::Rms { .. }) && cols <= NORM_MAX_COLS
}

/// A decode step's normed input: the residual stream `x`, its norm `norm`, and the scratch `h` the norm
/// is written to when it takes a dispatch of its own.
#[derive(Clone, Copy)]
pub(super) struct NormedInput<'a> {
    pub x: &'a wgpu::Buffer,
    pub norm: &'a GpuNorm,
    pub h: &'a wgpu::Buffer,
}

impl Ops<'_> {
    /// The model's norm of one row of `len` values, `x[x_off..]` into `y[y_off..]`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn norm(
        &self,
        rec: &mut Recorder,
        n: &GpuNorm,
        x: &wgpu::Buffer,
        x_off: usize,
        y: &wgpu::Buffer,
        y_off: usize,
        len: usize,
    ) {
        self.norm_dispatch(rec, n, (x, x_off), (y, y_off), len, 1);
    }

    /// [`Self::norm`] of `rows` packed rows of `len` values (a prefill chunk's tokens).
    pub(super) fn norm_rows(
        &self,
        rec: &mut Recorder,
        n: &GpuNorm,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        len: usize,
        rows: usize,
    ) {
        self.norm_dispatch(rec, n, (x, 0), (y, 0), len, rows);
    }

    /// The model's norm as the kernels' `kind` (0 RMSNorm, 1 LayerNorm) and its epsilon.
    pub(super) fn norm_kind(&self) -> (u32, f32) {
        match self.spec.norm {
            Norm::Rms { eps } => (0, eps),
            Norm::Layer { eps } => (1, eps),
        }
    }

    fn norm_dispatch(
        &self,
        rec: &mut Recorder,
        n: &GpuNorm,
        (x, x_off): (&wgpu::Buffer, usize),
        (y, y_off): (&wgpu::Buffer, usize),
        len: usize,
        rows: usize,
    ) {
        let (kind, eps) = self.norm_kind();
        let bias = n.bias.as_ref().unwrap_or(&n.weight);
        let params = NormParams {
            n: u(len),
            rows: u(rows),
            in_off: u(x_off),
            out_off: u(y_off),
            kind,
            eps,
            in_stride: u(len),
            out_stride: u(len),
            ..Default::default()
        };
        rec.dispatch(Kernel::Norm, &params, &[(1, x), (2, &n.weight), (3, bias), (4, y)], [u(rows), 1, 1]);
    }

    /// The device's bounds on a matvec dispatch.
    pub(super) fn matvec_limits(&self) -> MatvecLimits {
        MatvecLimits { max_per_dim: self.max_groups, max_row_threads: self.max_row_threads }
    }

    /// Whether a product over rows of `cols` values takes `n` of its input itself, in its normed twin
    /// (`shaders/lib/x_norm.wgsl`): RMSNorm (no bias), rows of at most [`NORM_MAX_COLS`] values.
    pub(super) fn fuses_norm(&self, n: &GpuNorm, cols: usize) -> bool {
        self.fuse_norms && n.bias.is_none() && norm_fusable(self.spec, cols)
    }

    /// The norm of `input.x` into `input.h` in a dispatch of its own (where no product takes it).
    pub(super) fn norm_apart<'b>(&self, rec: &mut Recorder, input: NormedInput<'b>) -> &'b wgpu::Buffer {
        self.norm(rec, input.norm, input.x, 0, input.h, 0, self.spec.n_embd);
        input.h
    }

    /// `y[y_off..] = W norm(x)` (mode [`MatvecMode::Write`]) or `SiLU(gate norm(x)) * (up norm(x))` (mode
    /// [`MatvecMode::Swiglu`], `up`'s rows `pair` bytes after `gate`'s): one normed dispatch per part of
    /// `m` where [`Ops::fuses_norm`], else the norm into `input.h` and the plain product.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn matvec_normed(
        &self,
        rec: &mut Recorder,
        input: NormedInput<'_>,
        m: &GpuMatrix,
        (y, y_off): (&wgpu::Buffer, usize),
        mode: MatvecMode,
        pair_bytes: usize,
        route: &wgpu::Buffer,
    ) {
        if self.fuses_norm(input.norm, m.cols) {
            self.matvec_dispatch_normed(
                rec,
                m,
                (input.x, 0),
                (y, y_off),
                mode,
                pair_bytes,
                None,
                route,
                Some(input.norm),
            );
        } else {
            let h = self.norm_apart(rec, input);
            self.matvec_dispatch(rec, m, (h, 0), (y, y_off), mode, pair_bytes, None, route);
        }
    }

    /// Jamba's RMS norms of the dt `(R)`, B `(N)` and C `(N)` fields of `t` x-projection rows `(T, R + 2N)`,
    /// each field with its own weights (laid out as a row from `norms[at..]`), from `x` into `y`: one
    /// dispatch.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn dt_b_c_norms(
        &self,
        rec: &mut Recorder,
        (norms, at): (&wgpu::Buffer, usize),
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        (r, n): (usize, usize),
        t: usize,
    ) {
        let eps = self.spec.norm.eps();
        let row = r + 2 * n;
        let params = NormParams {
            n: u(r),
            rows: u(t),
            eps,
            in_stride: u(row),
            out_stride: u(row),
            n1: u(n),
            n2: u(n),
            w_off: u(at),
            ..Default::default()
        };
        rec.dispatch(Kernel::Norm, &params, &[(1, x), (2, norms), (3, norms), (4, y)], [u(t), 3, 1]);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn matvec(
        &self,
        rec: &mut Recorder,
        m: &GpuMatrix,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        y_off: usize,
        mode: MatvecMode,
        moe: Option<(u32, u32)>,
        route: &wgpu::Buffer,
    ) {
        self.matvec_from(rec, m, x, 0, y, y_off, mode, moe, route);
    }

    /// [`Self::matvec`] reading x from `x[x_off..]` (`x_off` a multiple of 4).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn matvec_from(
        &self,
        rec: &mut Recorder,
        m: &GpuMatrix,
        x: &wgpu::Buffer,
        x_off: usize,
        y: &wgpu::Buffer,
        y_off: usize,
        mode: MatvecMode,
        moe: Option<(u32, u32)>,
        route: &wgpu::Buffer,
    ) {
        self.matvec_dispatch(rec, m, (x, x_off), (y, y_off), mode, 0, moe, route);
    }

    /// `y = SiLU(gate x) * (up x)` in one dispatch, `up`'s rows `pair` bytes after `gate`'s in its buffer
    /// ([`GpuMatrix::followed_by`]).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn matvec_paired(
        &self,
        rec: &mut Recorder,
        gate: &GpuMatrix,
        pair: usize,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        moe: Option<(u32, u32)>,
        route: &wgpu::Buffer,
    ) {
        self.matvec_dispatch(rec, gate, (x, 0), (y, 0), MatvecMode::Swiglu, pair, moe, route);
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn matvec_dispatch(
        &self,
        rec: &mut Recorder,
        m: &GpuMatrix,
        x: (&wgpu::Buffer, usize),
        y: (&wgpu::Buffer, usize),
        mode: MatvecMode,
        pair_bytes: usize,
        moe: Option<(u32, u32)>,
        route: &wgpu::Buffer,
    ) {
        self.matvec_dispatch_normed(rec, m, x, y, mode, pair_bytes, moe, route, None);
    }

    /// [`Self::matvec_dispatch`]; with `norm`, the normed twin, which reads the raw residual stream in `x`
    /// and the norm's weights in place of `route` (a normed product routes no expert).
    #[allow(clippy::too_many_arguments)]
    fn matvec_dispatch_normed(
        &self,
        rec: &mut Recorder,
        m: &GpuMatrix,
        (x, x_off): (&wgpu::Buffer, usize),
        (y, y_off): (&wgpu::Buffer, usize),
        mode: MatvecMode,
        pair_bytes: usize,
        moe: Option<(u32, u32)>,
        route: &wgpu::Buffer,
        norm: Option<&GpuNorm>,
    ) {
        debug_assert!(x_off.is_multiple_of(4), "x offsets are in whole vec4s");
        debug_assert!(norm.is_none() || moe.is_none(), "a normed product routes no expert");
        let row_bytes = m.row_bytes();
        for part in &m.parts {
            // A MoE part holds whole experts; a plain part, some of the rows.
            let rows = if moe.is_some() { m.rows } else { part.rows };
            let mut p = MatvecParams::new(m.ty, rows, m.cols);
            p.w_base = u(part.base);
            p.x_off = u(x_off / 4);
            p.y_off = u(y_off + if moe.is_some() { 0 } else { part.first_row });
            p.mode = mode as u32;
            p.pair_bytes = u(pair_bytes);
            p.norm_eps = self.spec.norm.eps();
            if let Some((slot, top_k)) = moe {
                p.slot = slot;
                p.top_k = top_k;
                p.expert_bytes = u(row_bytes * m.rows);
                p.expert_first = u(part.first_row / m.rows);
                p.expert_count = u(part.rows / m.rows);
            }
            let (kernel, route) = match norm {
                Some(n) => (mode.normed_kernel(m.ty).expect("a mode with a normed twin"), &n.weight),
                None => (mode.kernel(m.ty), route),
            };
            let (gx, gy) = p.fit(kernel, self.matvec_limits());
            // MoE gate/up: every chosen expert in one dispatch, one per z.
            let gz = match (mode, moe) {
                (MatvecMode::Swiglu, Some((_, top_k))) => top_k,
                _ => 1,
            };
            let buffers = [(1, &part.buf), (2, x), (3, y), (4, route)];
            rec.dispatch(kernel, &p, &buffers, [gx, gy, gz]);
        }
    }

    /// `Y = X W^T` (or `Y +=`) over `t` tokens, one dispatch per part of `m`; with `list`, over the tokens
    /// a MoE expert's list names (see [`TokenList`]), `(mode, expert, experts, lists buffer)`.
    pub(super) fn matmul(
        &self,
        rec: &mut Recorder,
        m: &GpuMatrix,
        t: usize,
        p: Product<'_>,
        list: Option<(TokenList, usize, usize, &wgpu::Buffer)>,
    ) {
        debug_assert!(p.x_off.is_multiple_of(4) && p.x_stride.is_multiple_of(4), "X rows start at whole vec4s");
        let row_bytes = m.row_bytes();
        let (kernel, mode, pair_bytes) = match p.out {
            ProductOut::Write => (Kernel::Matmul(m.ty), MatvecMode::Write, 0),
            ProductOut::Add => (Kernel::Matmul(m.ty), MatvecMode::Add, 0),
            ProductOut::Activated(mode, _) => (Kernel::MatmulAct(m.ty), mode, 0),
            ProductOut::Swiglu(pair) => (Kernel::MatmulSwiglu(m.ty), MatvecMode::Swiglu, pair),
        };
        for part in &m.parts {
            let mut params = MatmulParams {
                rows: u(part.rows),
                cols: u(m.cols),
                n_tokens: u(t),
                row_bytes: u(row_bytes),
                w_base: u(part.base),
                x_off: u(p.x_off / 4),
                x_stride: u(p.x_stride / 4),
                y_off: u(p.y_off + part.first_row),
                y_stride: u(p.y_stride),
                mode: mode as u32,
                bias_at: u(part.first_row),
                pair_bytes: u(pair_bytes),
                ..Default::default()
            };
            let route = match (list, p.out) {
                (Some((mode, expert, experts, lists)), _) => {
                    debug_assert!(
                        matches!(p.out, ProductOut::Write | ProductOut::Swiglu(_)),
                        "a token list's product writes plainly or as SwiGLU"
                    );
                    (params.count_at, params.ids_at, params.weights_at) = list_offsets(expert, experts, t);
                    params.list = mode as u32;
                    lists
                }
                (None, ProductOut::Activated(_, Some(bias))) => bias,
                (None, _) => &part.buf,
            };
            let buffers = [(1, &part.buf), (2, p.x), (3, p.y), (4, route)];
            let grid = match kernel {
                Kernel::MatmulSwiglu(_) => self.matmul_tile.swiglu_workgroups(part.rows, t),
                _ => self.matmul_tile.workgroups(part.rows, t),
            };
            rec.dispatch(kernel, &params, &buffers, grid);
        }
    }
}
