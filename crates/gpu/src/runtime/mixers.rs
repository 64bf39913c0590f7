//! The attention and Mamba mixers and the dense and MoE feed-forwards of one decode step, recorded kernel
//! for kernel as their CPU twins in `archrace_cpu::model::mixers` compute them (RWKV's are in `rwkv.rs`).
//! Each reads the normed input from `h` and adds its output into the residual stream `x`.

use super::forward::{rope_pairs, u};
use super::recorder::Recorder;
use super::state::{GpuState, KvCache, Scratch, ATTN_CHUNK};
use super::weights::{AttentionGpu, GpuFfn, GpuMatrix, MambaGpu};
use crate::kernels::matvec::{MatvecMode, MatvecParams};
use crate::kernels::params::{AttnParams, MambaParams, MoeParams, RopeKvParams, SwigluParams};
use crate::{GpuModel, Kernel};
use archrace_model::{KvType, MambaSpec};

/// `t` tokens' q, k and v in `qkv` `(T, (H + 2 H_kv) D)` made ready for attention in one dispatch
/// (`shaders/rope_kv.wgsl`): RoPE on q into `q` `(T, H D)` and on k, k and v appended to `cache` at token
/// `pos0` in its type. The layer's RoPE table starts at pair `table_off`; a token's is `table_stride`
/// pairs after the one before.
#[allow(clippy::too_many_arguments)]
pub(super) fn rope_kv(
    rec: &mut Recorder,
    a: &AttentionGpu,
    cache: &KvCache,
    (qkv, q): (&wgpu::Buffer, &wgpu::Buffer),
    (table, table_off, table_stride): (&wgpu::Buffer, usize, usize),
    pos0: usize,
    t: usize,
) {
    let (h, hkv, d) = (a.spec.n_head, a.spec.n_head_kv, a.spec.head_dim);
    let n_rot = a.spec.rope.map_or(0, |r| r.n_rot);
    let params = RopeKvParams {
        n_head: u(h),
        n_head_kv: u(hkv),
        head_dim: u(d),
        n_rot: u(n_rot),
        table_off: u(table_off),
        table_stride: u(table_stride),
        dst_off: u(pos0 * cache.row),
        f16: u(usize::from(cache.kv_type == KvType::F16)),
        n_tokens: u(t),
        src_stride: u((h + 2 * hkv) * d),
    };
    let buffers = [(1, qkv), (2, q), (3, table), (4, &cache.k), (5, &cache.v)];
    rec.dispatch(Kernel::RopeKv, &params, &buffers, [u(((h + 2 * hkv) * d / 2).div_ceil(64)), u(t), 1]);
}

/// `mamba_conv` and `mamba_scan`'s parameters for `t` tokens, whose dt, B, C rows `(R + 2N)` are packed.
pub(super) fn mamba_params(spec: &MambaSpec, t: usize) -> MambaParams {
    let (n, r) = (spec.d_state, spec.dt_rank);
    MambaParams {
        d_inner: u(spec.d_inner),
        d_conv: u(spec.d_conv),
        d_state: u(n),
        b_off: u(r),
        c_off: u(r + n),
        n_tokens: u(t),
        dbc_stride: u(r + 2 * n),
    }
}

impl GpuModel {
    /// Self-attention of layer `index` for the token at `state.pos` (Vaswani et al. 2017, eq. 1): q, k, v
    /// projections (one product when they share a buffer), RoPE on q and k (Su et al. 2021, eq. 34) with k
    /// and v appended to the cache in one dispatch, attention over the cache in chunks (partial softmax per
    /// chunk, then combined), output projection.
    pub(super) fn attention(
        &self,
        rec: &mut Recorder,
        state: &GpuState,
        index: usize,
        a: &AttentionGpu,
        cache: &KvCache,
    ) {
        let sc = &state.scratch;
        let (h, hkv, d) = (a.spec.n_head, a.spec.n_head_kv, a.spec.head_dim);
        match &a.qkv {
            Some(qkv) => self.matvec(rec, qkv, &sc.h, &sc.qkv, 0, MatvecMode::Write, None, &sc.route),
            None => {
                for (m, off) in [(&a.q, 0), (&a.k, h * d), (&a.v, (h + hkv) * d)] {
                    self.matvec(rec, m, &sc.h, &sc.qkv, off, MatvecMode::Write, None, &sc.route);
                }
            }
        }
        let table_off = index * rope_pairs(&self.spec);
        rope_kv(rec, a, cache, (&sc.qkv, &sc.q), (&sc.rope_table, table_off, 0), state.pos, 1);
        let n_keys = state.pos + 1;
        let chunks = n_keys.div_ceil(ATTN_CHUNK);
        let f16 = u(usize::from(cache.kv_type == KvType::F16));
        let params = AttnParams {
            n_head: u(h),
            n_head_kv: u(hkv),
            head_dim: u(d),
            n_keys: u(n_keys),
            n_chunks: u(chunks),
            scale: 1.0 / (d as f32).sqrt(),
            kv_f16: f16,
            ..Default::default()
        };
        // One chunk (up to ATTN_CHUNK keys) is normalised by attn_partial itself: no combine dispatch.
        rec.dispatch(
            Kernel::AttnPartial,
            &params,
            &[(1, &sc.q), (2, &cache.k), (3, &cache.v), (4, &sc.partial), (5, &sc.attn)],
            [u(chunks), u(h), 1],
        );
        if chunks > 1 {
            rec.dispatch(Kernel::AttnCombine, &params, &[(4, &sc.partial), (5, &sc.attn)], [u(h), 1, 1]);
        }
        self.matvec(rec, &a.o, &sc.attn, &sc.x, 0, MatvecMode::Add, None, &sc.route);
    }

    /// Mamba's selective SSM for one token (Gu & Dao 2023, algorithm 2): in projection to x and z, causal
    /// conv1d step, x projection to dt, B and C (RMS-normed in Jamba), dt projection, scan step, output
    /// projection.
    pub(super) fn mamba(
        &self,
        rec: &mut Recorder,
        sc: &Scratch,
        m: &MambaGpu,
        conv: &wgpu::Buffer,
        ssm: &wgpu::Buffer,
    ) {
        let (di, n, r) = (m.spec.d_inner, m.spec.d_state, m.spec.dt_rank);
        let params = mamba_params(&m.spec, 1);
        let groups = [u(di.div_ceil(64)), 1, 1];
        self.in_proj_conv(rec, sc, m, conv);
        self.matvec(rec, &m.x_proj, &sc.xc, &sc.xdbc, 0, MatvecMode::Write, None, &sc.route);
        let dbc = match &m.dt_b_c_norms {
            Some(norms) => {
                // Jamba (Lieber et al. 2024, section 3): RMS norms on dt, B and C, one dispatch.
                self.dt_b_c_norms(rec, norms, &sc.xdbc, &sc.dbc, (r, n), 1);
                &sc.dbc
            }
            None => &sc.xdbc,
        };
        self.matvec(rec, &m.dt_proj, dbc, &sc.dt, 0, MatvecMode::Write, None, &sc.route);
        rec.dispatch(
            Kernel::MambaScan,
            &params,
            &[(1, &sc.xz), (2, &m.consts), (4, &sc.xc), (5, &sc.dt), (6, dbc), (7, ssm), (8, &sc.y)],
            groups,
        );
        self.matvec(rec, &m.out_proj, &sc.y, &sc.x, 0, MatvecMode::Add, None, &sc.route);
    }

    /// Mamba's in-projection of `h` into `xz` with the conv step of its x channels into `xc` and the conv
    /// window: one `matvec_conv` dispatch per part of the matrix.
    fn in_proj_conv(&self, rec: &mut Recorder, sc: &Scratch, m: &MambaGpu, conv: &wgpu::Buffer) {
        let w = &m.in_proj;
        for part in &w.parts {
            let mut p = MatvecParams::new(w.ty, part.rows, w.cols, self.max_groups);
            p.w_base = u(part.base);
            p.y_off = u(part.first_row);
            p.mode = MatvecMode::Conv as u32;
            p.conv_inner = u(m.spec.d_inner);
            p.conv_k = u(m.spec.d_conv);
            let (gx, gy) = p.workgroups(self.max_groups);
            let buffers = [(1, &part.buf), (2, &sc.h), (3, &sc.xz), (5, &m.consts), (6, conv), (7, &sc.xc)];
            rec.dispatch(MatvecMode::Conv.kernel(w.ty), &p, &buffers, [gx, gy, 1]);
        }
    }

    /// The dense SwiGLU feed-forward (Shazeer 2020, eq. 6), or a mixture of SwiGLU experts: the router's
    /// softmax and top-k on the GPU (weights not renormalised, Jamba / Mixtral routing as llama.cpp runs
    /// it), then each chosen expert's rows, found through `route`; no other expert is read.
    pub(super) fn ffn(&self, rec: &mut Recorder, state: &GpuState, ffn: &GpuFfn) {
        let sc = &state.scratch;
        match ffn {
            GpuFfn::None => {}
            GpuFfn::ChannelMix { .. } => {
                unreachable!("channel-mix carries token-shift state: the layer loop calls channel_mix")
            }
            GpuFfn::Dense { gate, up, down } => {
                self.swiglu(rec, gate, up, None, state);
                self.matvec(rec, down, &sc.act, &sc.x, 0, MatvecMode::Add, None, &sc.route);
            }
            GpuFfn::Moe { router, gate, up, down, experts, top_k } => {
                self.matvec(rec, router, &sc.h, &sc.router, 0, MatvecMode::Write, None, &sc.route);
                rec.dispatch(
                    Kernel::MoeRoute,
                    &MoeParams { n_experts: u(*experts), top_k: u(*top_k), n_tokens: 1 },
                    &[(1, &sc.router), (2, &sc.route)],
                    [1, 1, 1],
                );
                if let Some(pair) = gate.followed_by(up) {
                    // Every chosen expert's gate and up in one dispatch into act (top_k, hidden), then
                    // every down product, weighted and summed into x, in another.
                    let all = Some((0, u(*top_k)));
                    self.matvec_paired(rec, gate, pair, &sc.h, &sc.act, all, &sc.route);
                    self.matvec_dispatch(rec, down, (&sc.act, 0), (&sc.x, 0), MatvecMode::RoutedSum, 0, all, &sc.route);
                    return;
                }
                for slot in 0..*top_k {
                    let moe = Some((u(slot), u(*top_k)));
                    self.swiglu(rec, gate, up, moe, state);
                    self.matvec(rec, down, &sc.act, &sc.x, 0, MatvecMode::AddRouted, moe, &sc.route);
                }
            }
        }
    }

    /// `act = SiLU(gate h) * (up h)`, for one expert when `moe` names a route slot: one dispatch when up
    /// was uploaded right after gate, else the two products and the gate.
    fn swiglu(&self, rec: &mut Recorder, gate: &GpuMatrix, up: &GpuMatrix, moe: Option<(u32, u32)>, state: &GpuState) {
        let sc = &state.scratch;
        if let Some(pair) = gate.followed_by(up) {
            self.matvec_paired(rec, gate, pair, &sc.h, &sc.act, moe, &sc.route);
            return;
        }
        self.matvec(rec, gate, &sc.h, &sc.gate, 0, MatvecMode::Write, moe, &sc.route);
        self.matvec(rec, up, &sc.h, &sc.up, 0, MatvecMode::Write, moe, &sc.route);
        let n = gate.rows;
        rec.dispatch(
            Kernel::Swiglu,
            &SwigluParams { n: u(n), row: 0 },
            &[(1, &sc.gate), (2, &sc.up), (3, &sc.act)],
            [u(n.div_ceil(64)), 1, 1],
        );
    }
}
