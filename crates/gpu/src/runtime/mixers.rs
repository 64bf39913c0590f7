//! The attention and Mamba mixers and the dense and MoE feed-forwards, each recorded by its own weights
//! type: `record` for one decode step, `record_chunk` for a prefill chunk of `t` tokens, kernel for kernel
//! as their CPU twins in `archrace_cpu::model::mixers` compute them (RWKV's are in `rwkv.rs`). Each takes
//! its input through the layer's norm (in a decode step, the first product computes the norm itself where
//! it can: [`Ops::matvec_normed`]; a chunk reads it from `h`) and adds its output into the residual stream
//! `x`.

use super::forward::{rope_pairs, u};
use super::loop_budget;
use super::ops::{NormedInput, Ops};
use super::prefill::{attn_prefill_grid, attn_prefill_passes, PrefillScratch, Product, ProductOut, ATTN_LANES_QUERIES};
use super::recorder::Recorder;
use super::state::{attn_chunk, attn_head_groups, KvCache, Scratch};
use super::weights::{AttentionGpu, GpuFfn, GpuMatrix, GpuNorm, MambaGpu};
use crate::kernels::matmul::TokenList;
use crate::kernels::matvec::{groups, MatvecMode, MatvecParams};
use crate::kernels::params::{AttnParams, MambaParams, MoeParams, RopeKvParams, SwigluParams};
use crate::Kernel;
use archrace_gguf::GgmlType;
use archrace_model::{KvType, MambaSpec};

/// `t` tokens' q, k and v in `qkv` `(T, (H + 2 H_kv) D)` made ready for attention in one dispatch
/// (`shaders/rope_kv.wgsl`): RoPE on q into `q` `(T, H D)` and on k, k and v appended to `cache` at token
/// `pos0` in its type. The layer's RoPE table starts at pair `table_off`; a token's is `table_stride`
/// pairs after the one before.
#[allow(clippy::too_many_arguments)]
fn rope_kv(
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
    // A thread per pair of adjacent values of q, of k and of v (a part of odd length ends in a single one).
    let pairs = (h * d).div_ceil(2) + 2 * (hkv * d).div_ceil(2);
    rec.dispatch(Kernel::RopeKv, &params, &buffers, [u(pairs.div_ceil(64)), u(t), 1]);
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
        dt_rank: u(r),
        ..Default::default()
    }
}

impl AttentionGpu {
    /// The q/k/v products of the normed input for the token at `pos` with `rope_kv`'s work as their
    /// epilogue, one dispatch per matrix of `products` ([`AttentionGpu::rope_products`]; `matvec_rope`,
    /// or its normed twin where [`Ops::fuses_norm`]): RoPE on q and k (the layer's table from pair
    /// `table_off`), q into `q` `(H D)`, k and v appended to `cache`.
    #[allow(clippy::too_many_arguments)]
    fn qkv_rope_kv(
        &self,
        ops: &Ops<'_>,
        rec: &mut Recorder,
        input: NormedInput<'_>,
        products: &[(&GpuMatrix, usize)],
        (q, table, table_off): (&wgpu::Buffer, &wgpu::Buffer, usize),
        cache: &KvCache,
        pos: usize,
    ) {
        let (h, hkv, d) = (self.spec.n_head, self.spec.n_head_kv, self.spec.head_dim);
        let fused = ops.fuses_norm(input.norm, self.q.cols);
        // Apart, the norm is computed once for all the products.
        let x = if fused { input.x } else { ops.norm_apart(rec, input) };
        for &(m, qkv_row) in products {
            let part = &m.parts[0];
            debug_assert!(m.rows.is_multiple_of(2), "matvec_rope takes rows in pairs (D is even)");
            let mut p = MatvecParams::new(m.ty, m.rows, m.cols);
            p.mode = MatvecMode::Rope as u32;
            p.w_base = u(part.base);
            p.norm_eps = ops.spec.norm.eps();
            p.q_rows = u(h * d);
            p.kv_rows = u(hkv * d);
            p.head_dim = u(d);
            p.n_rot = u(self.spec.rope.map_or(0, |r| r.n_rot));
            p.table_off = u(table_off);
            p.kv_off = u(pos * cache.row);
            p.kv_f16 = u(usize::from(cache.kv_type == KvType::F16));
            p.qkv_row = u(qkv_row);
            let kernel = match fused {
                true => MatvecMode::Rope.normed_kernel(m.ty).expect("matvec_rope has a normed twin"),
                false => MatvecMode::Rope.kernel(m.ty),
            };
            let (gx, gy) = p.fit(kernel, ops.matvec_limits());
            let buffers = [(1, &part.buf), (2, x), (3, q), (5, table), (6, &cache.k), (7, &cache.v)];
            if fused {
                rec.dispatch(kernel, &p, &[&buffers[..], &[(4, &input.norm.weight)]].concat(), [gx, gy, 1]);
            } else {
                rec.dispatch(kernel, &p, &buffers, [gx, gy, 1]);
            }
        }
    }

    /// Self-attention of layer `index` for the token at `pos` (Vaswani et al. 2017, eq. 1): q, k, v
    /// projections of the normed input, RoPE on q and k (Su et al. 2021, eq. 34) and k and v appended to
    /// the cache, in the products where [`AttentionGpu::rope_products`] (one for q, k and v in one buffer,
    /// else one each; their normed twins take the norm too), else the products and then `rope_kv`;
    /// attention over the cache in chunks of the length `attn_chunk` gives for `groups` workgroups of at most
    /// `max_chunk` keys, each serving the query heads that share a KV head (partial softmax per chunk, then
    /// combined), output projection.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record(
        &self,
        ops: &Ops<'_>,
        rec: &mut Recorder,
        sc: &Scratch,
        input: NormedInput<'_>,
        (pos, index, (groups, max_chunk)): (usize, usize, (usize, usize)),
        cache: &KvCache,
    ) {
        let (h, hkv, d) = (self.spec.n_head, self.spec.n_head_kv, self.spec.head_dim);
        let table_off = index * rope_pairs(ops.spec);
        if let Some(products) = self.rope_products() {
            self.qkv_rope_kv(ops, rec, input, &products, (&sc.q, &sc.rope_table, table_off), cache, pos);
        } else {
            match &self.qkv {
                Some(qkv) => ops.matvec_normed(rec, input, qkv, (&sc.qkv, 0), MatvecMode::Write, 0, &sc.route),
                None => {
                    let normed = ops.norm_apart(rec, input);
                    for (m, off) in [(&self.q, 0), (&self.k, h * d), (&self.v, (h + hkv) * d)] {
                        ops.matvec(rec, m, normed, &sc.qkv, off, MatvecMode::Write, None, &sc.route);
                    }
                }
            }
            rope_kv(rec, self, cache, (&sc.qkv, &sc.q), (&sc.rope_table, table_off, 0), pos, 1);
        }
        let n_keys = pos + 1;
        let head_groups = attn_head_groups(h, hkv);
        let chunk_len = attn_chunk(n_keys, head_groups, groups, max_chunk);
        let chunks = n_keys.div_ceil(chunk_len);
        let f16 = u(usize::from(cache.kv_type == KvType::F16));
        let params = AttnParams {
            n_head: u(h),
            n_head_kv: u(hkv),
            head_dim: u(d),
            n_keys: u(n_keys),
            n_chunks: u(chunks),
            scale: 1.0 / (d as f32).sqrt(),
            kv_f16: f16,
            chunk_len: u(chunk_len),
            ..Default::default()
        };
        // One chunk (up to ATTN_ONE_CHUNK keys) is normalised by attn_partial itself: no combine dispatch.
        // A workgroup per (chunk, group of query heads sharing a KV head). Software adapters take its twin
        // for f16 caches, with the same grid and outputs.
        let partial = match ops.attn_runs {
            Some(runs) if cache.kv_type == KvType::F16 => runs,
            _ => Kernel::AttnPartial,
        };
        rec.dispatch(
            partial,
            &params,
            &[(1, &sc.q), (2, &cache.k), (3, &cache.v), (4, &sc.partial), (5, &sc.attn)],
            [u(chunks), u(head_groups), 1],
        );
        if chunks > 1 {
            rec.dispatch(Kernel::AttnCombine, &params, &[(4, &sc.partial), (5, &sc.attn)], [u(h), 1, 1]);
        }
        ops.matvec(rec, &self.o, &sc.attn, &sc.x, 0, MatvecMode::Add, None, &sc.route);
    }

    /// Causal self-attention of a chunk of `t` tokens from `pos0` (the chunk's twin of [`Self::record`]):
    /// q, k and v products for every token, RoPE for every token's position, k and v written into the
    /// cache at their slots, `attn_prefill` (or on software adapters its twin `attn_prefill_lanes`) over the
    /// cache in passes of at most `pass_keys` keys and as many as the device's loop cap allows
    /// ([`attn_prefill_passes`]), output product added into the residual stream.
    pub(super) fn record_chunk(
        &self,
        ops: &Ops<'_>,
        rec: &mut Recorder,
        ps: &PrefillScratch,
        (pos0, t, pass_keys): (usize, usize, usize),
        index: usize,
        cache: &KvCache,
    ) {
        let e = ops.spec.n_embd;
        let (h, hkv, d) = (self.spec.n_head, self.spec.n_head_kv, self.spec.head_dim);
        let row = (h + 2 * hkv) * d;
        match &self.qkv {
            Some(qkv) => ops.matmul(rec, qkv, t, Product::packed(&ps.h, e, &ps.qkv, row), None),
            None => {
                for (m, off) in [(&self.q, 0), (&self.k, h * d), (&self.v, (h + hkv) * d)] {
                    ops.matmul(rec, m, t, Product::packed(&ps.h, e, &ps.qkv, row).at(off), None);
                }
            }
        }
        let pairs = rope_pairs(ops.spec);
        let table = (&ps.rope_table, index * pairs, ops.spec.layers.len() * pairs);
        rope_kv(rec, self, cache, (&ps.qkv, &ps.q), table, pos0, t);
        let buffers = [(1, &ps.q), (2, &cache.k), (3, &cache.v), (4, &ps.attn_state), (5, &ps.attn)];
        let keys = pos0 + t;
        // Software adapters' twin for an f16 cache (same parameters, passes and outputs), else attn_prefill;
        // passes as the caller asks and the device's loop cap allows.
        let (kernel, grid, cap) = match ops.attn_lanes {
            Some(lanes @ Kernel::AttnPrefillLanes(units)) if cache.kv_type == KvType::F16 => {
                let cap = loop_budget::attn_lanes_keys_per_pass(ops.loop_limit, usize::from(units));
                (lanes, [u(t.div_ceil(ATTN_LANES_QUERIES)), u(h), 1], cap)
            }
            _ => {
                let cap = loop_budget::attn_prefill_keys_per_pass(ops.loop_limit, d);
                (Kernel::AttnPrefill, attn_prefill_grid(t, h, hkv, d), cap)
            }
        };
        for (from, to) in attn_prefill_passes(keys, pass_keys.min(cap)) {
            let params = AttnParams {
                n_head: u(h),
                n_head_kv: u(hkv),
                head_dim: u(d),
                scale: 1.0 / (d as f32).sqrt(),
                pos0: u(pos0),
                n_tokens: u(t),
                kv_f16: u(usize::from(cache.kv_type == KvType::F16)),
                keys_from: u(from),
                keys_to: u(to),
                resume: u(usize::from(from > 0)),
                finish: u(usize::from(to == keys)),
                ..Default::default()
            };
            rec.dispatch(kernel, &params, &buffers, grid);
        }
        ops.matmul(rec, &self.o, t, Product::packed(&ps.attn, h * d, &ps.x, e).adding(), None);
    }
}

impl MambaGpu {
    /// Mamba's selective SSM for one token (Gu & Dao 2023, algorithm 2): in projection of the normed input
    /// to x and z with the causal conv1d step (the norm computed by the product where it can), x
    /// projection to dt, B and C (RMS-normed in Jamba), dt projection and scan step (one dispatch, norms
    /// included, when the dt projection is f32), output projection.
    pub(super) fn record(
        &self,
        ops: &Ops<'_>,
        rec: &mut Recorder,
        sc: &Scratch,
        input: NormedInput<'_>,
        (conv, ssm): (&wgpu::Buffer, &wgpu::Buffer),
    ) {
        let (di, n, r) = (self.spec.d_inner, self.spec.d_state, self.spec.dt_rank);
        let groups = [u(di.div_ceil(64)), 1, 1];
        self.in_proj_conv(ops, rec, sc, input, conv);
        ops.matvec(rec, &self.x_proj, &sc.xc, &sc.xdbc, 0, MatvecMode::Write, None, &sc.route);
        // An f32 dt projection in one buffer is read by the scan itself (mamba_scan_dt), which also applies
        // Jamba's dt, B and C norms (Lieber et al. 2024, section 3): two dispatches fewer. Otherwise the
        // norms (one dispatch) and the product (any encoding, any split) go first.
        let mut params = mamba_params(&self.spec, 1);
        let (scan, dt, dbc) = match self.dt_proj.parts.as_slice() {
            [whole] if self.dt_proj.ty == GgmlType::F32 && whole.base == 0 => {
                if let Some(at) = self.norms_at {
                    params.norm_at = u(at);
                    params.eps = ops.spec.norm.eps();
                }
                (Kernel::MambaScanDt, &whole.buf, &sc.xdbc)
            }
            _ => {
                let dbc = match self.norms_at {
                    Some(at) => {
                        ops.dt_b_c_norms(rec, (&self.consts, at), &sc.xdbc, &sc.dbc, (r, n), 1);
                        &sc.dbc
                    }
                    None => &sc.xdbc,
                };
                ops.matvec(rec, &self.dt_proj, dbc, &sc.dt, 0, MatvecMode::Write, None, &sc.route);
                (Kernel::MambaScan, &sc.dt, dbc)
            }
        };
        rec.dispatch(
            scan,
            &params,
            &[(1, &sc.xz), (2, &self.consts), (4, &sc.xc), (5, dt), (6, dbc), (7, ssm), (8, &sc.y)],
            groups,
        );
        ops.matvec(rec, &self.out_proj, &sc.y, &sc.x, 0, MatvecMode::Add, None, &sc.route);
    }

    /// Mamba's in-projection of the normed input into `xz` with the conv step of its x channels into `xc`
    /// and the conv window: one `matvec_conv` dispatch per part of the matrix, its normed twin where
    /// [`Ops::fuses_norm`] (else the norm's own dispatch first, into `h`).
    fn in_proj_conv(
        &self,
        ops: &Ops<'_>,
        rec: &mut Recorder,
        sc: &Scratch,
        input: NormedInput<'_>,
        conv: &wgpu::Buffer,
    ) {
        let w = &self.in_proj;
        let fused = ops.fuses_norm(input.norm, w.cols);
        let (kernel, x) = match fused {
            true => (MatvecMode::Conv.normed_kernel(w.ty).expect("conv has a normed twin"), input.x),
            false => (MatvecMode::Conv.kernel(w.ty), ops.norm_apart(rec, input)),
        };
        for part in &w.parts {
            let mut p = MatvecParams::new(w.ty, part.rows, w.cols);
            p.w_base = u(part.base);
            p.y_off = u(part.first_row);
            p.mode = MatvecMode::Conv as u32;
            p.conv_inner = u(self.spec.d_inner);
            p.conv_k = u(self.spec.d_conv);
            p.norm_eps = ops.spec.norm.eps();
            let (gx, gy) = p.fit(kernel, ops.matvec_limits());
            let mut buffers = vec![(1, &part.buf), (2, x), (3, &sc.xz), (5, &self.consts), (6, conv), (7, &sc.xc)];
            if fused {
                // The normed twin reads the norm's weights where a routed product reads its route.
                buffers.push((4, &input.norm.weight));
            }
            rec.dispatch(kernel, &p, &buffers, [gx, gy, 1]);
        }
    }

    /// Mamba over a chunk of `t` tokens (the chunk's twin of [`Self::record`]): in projection, conv over
    /// the chunk, x projection, Jamba's dt/B/C norms per token, dt projection, scan over the chunk, out
    /// projection.
    pub(super) fn record_chunk(
        &self,
        ops: &Ops<'_>,
        rec: &mut Recorder,
        ps: &PrefillScratch,
        t: usize,
        conv: &wgpu::Buffer,
        ssm: &wgpu::Buffer,
    ) {
        let e = ops.spec.n_embd;
        let (di, n, r) = (self.spec.d_inner, self.spec.d_state, self.spec.dt_rank);
        let row = r + 2 * n; // one token's dt, B, C
        let params = mamba_params(&self.spec, t);
        let groups = [u(di.div_ceil(64)), 1, 1];
        ops.matmul(rec, &self.in_proj, t, Product::packed(&ps.h, e, &ps.xz, 2 * di), None);
        let buffers = [(1, &ps.xz), (2, &self.consts), (3, conv), (4, &ps.xc)];
        rec.dispatch(Kernel::MambaConv, &params, &buffers, groups);
        ops.matmul(rec, &self.x_proj, t, Product::packed(&ps.xc, di, &ps.xdbc, row), None);
        let dbc = match self.norms_at {
            Some(at) => {
                // Jamba (Lieber et al. 2024, section 3): RMS norms on dt, B and C, one row per token.
                ops.dt_b_c_norms(rec, (&self.consts, at), &ps.xdbc, &ps.dbc, (r, n), t);
                &ps.dbc
            }
            None => &ps.xdbc,
        };
        let dt_in =
            Product { x: dbc, x_off: 0, x_stride: row, y: &ps.dt, y_off: 0, y_stride: di, out: ProductOut::Write };
        ops.matmul(rec, &self.dt_proj, t, dt_in, None);
        rec.dispatch(
            Kernel::MambaScan,
            &params,
            &[(1, &ps.xz), (2, &self.consts), (4, &ps.xc), (5, &ps.dt), (6, dbc), (7, ssm), (8, &ps.y)],
            groups,
        );
        ops.matmul(rec, &self.out_proj, t, Product::packed(&ps.y, di, &ps.x, e).adding(), None);
    }
}

impl GpuFfn {
    /// The layer's feed-forward norm of `x`, then the dense SwiGLU feed-forward (Shazeer 2020, eq. 6; the
    /// norm, gate, up and SwiGLU one dispatch where gate and up share a buffer), or a mixture of SwiGLU
    /// experts: the router's softmax and top-k on the GPU (weights not renormalised, Jamba / Mixtral
    /// routing as llama.cpp runs it), then each chosen expert's rows, found through `route`; no other
    /// expert is read. An f32 router in one buffer is read by `moe_norm_route`, which also computes the
    /// norm: one dispatch for norm, router and top-k. RWKV's channel-mix carries token-shift state and
    /// records through `channel_mix` (`rwkv.rs`).
    pub(super) fn record(&self, ops: &Ops<'_>, rec: &mut Recorder, sc: &Scratch, norm: &GpuNorm) {
        let e = ops.spec.n_embd;
        match self {
            GpuFfn::None | GpuFfn::ChannelMix { .. } => {}
            GpuFfn::Dense { gate, up, down } => {
                let input = NormedInput { x: &sc.x, norm, h: &sc.h };
                match gate.followed_by(up) {
                    // Norm, gate, up and SwiGLU in one dispatch (or the norm first, where it cannot join).
                    Some(pair) => {
                        ops.matvec_normed(rec, input, gate, (&sc.act, 0), MatvecMode::Swiglu, pair, &sc.route);
                    }
                    None => {
                        ops.norm_apart(rec, input);
                        swiglu(ops, rec, sc, gate, up, None);
                    }
                }
                ops.matvec(rec, down, &sc.act, &sc.x, 0, MatvecMode::Add, None, &sc.route);
            }
            GpuFfn::Moe { router, gate, up, down, experts, top_k } => {
                let mut params =
                    MoeParams { n_experts: u(*experts), top_k: u(*top_k), n_tokens: 1, ..Default::default() };
                match router.parts.as_slice() {
                    [whole] if router.ty == GgmlType::F32 && whole.base == 0 => {
                        (params.kind, params.eps) = ops.norm_kind();
                        params.n_embd = u(e);
                        let bias = norm.bias.as_ref().unwrap_or(&norm.weight);
                        let buffers =
                            [(2, &sc.route), (4, &sc.x), (5, &norm.weight), (6, bias), (7, &whole.buf), (8, &sc.h)];
                        rec.dispatch(Kernel::MoeNormRoute, &params, &buffers, [1, 1, 1]);
                    }
                    _ => {
                        ops.norm(rec, norm, &sc.x, 0, &sc.h, 0, e);
                        ops.matvec(rec, router, &sc.h, &sc.router, 0, MatvecMode::Write, None, &sc.route);
                        rec.dispatch(Kernel::MoeRoute, &params, &[(1, &sc.router), (2, &sc.route)], [1, 1, 1]);
                    }
                }
                if let Some(pair) = gate.followed_by(up) {
                    // Every chosen expert's gate and up in one dispatch into act (top_k, hidden), then
                    // every down product, weighted and summed into x, in another.
                    let all = Some((0, u(*top_k)));
                    ops.matvec_paired(rec, gate, pair, &sc.h, &sc.act, all, &sc.route);
                    ops.matvec_dispatch(rec, down, (&sc.act, 0), (&sc.x, 0), MatvecMode::RoutedSum, 0, all, &sc.route);
                    return;
                }
                for slot in 0..*top_k {
                    let moe = Some((u(slot), u(*top_k)));
                    swiglu(ops, rec, sc, gate, up, moe);
                    ops.matvec(rec, down, &sc.act, &sc.x, 0, MatvecMode::AddRouted, moe, &sc.route);
                }
            }
        }
    }

    /// The feed-forward over a chunk of `t` tokens (the chunk's twin of [`Self::record`]). MoE: the
    /// router's product and top-k for every token, one token list per expert, then per expert its gate and
    /// up products over the tokens routed to it (gathered), SwiGLU, and its down product scattered back into
    /// those tokens' residual rows times their router weights. An expert no token chose costs a dispatch
    /// that exits.
    pub(super) fn record_chunk(&self, ops: &Ops<'_>, rec: &mut Recorder, ps: &PrefillScratch, t: usize) {
        let e = ops.spec.n_embd;
        match self {
            GpuFfn::None | GpuFfn::ChannelMix { .. } => {}
            GpuFfn::Dense { gate, up, down } => {
                let hidden = gate.rows;
                swiglu_chunk(ops, rec, ps, (gate, up), t, None);
                ops.matmul(rec, down, t, Product::packed(&ps.act, hidden, &ps.x, e).adding(), None);
            }
            GpuFfn::Moe { router, gate, up, down, experts, top_k } => {
                let (experts, top_k) = (*experts, *top_k);
                let hidden = gate.rows;
                ops.matmul(rec, router, t, Product::packed(&ps.h, e, &ps.router, experts), None);
                let params = MoeParams { n_experts: u(experts), top_k: u(top_k), n_tokens: u(t), ..Default::default() };
                rec.dispatch(Kernel::MoeRoute, &params, &[(1, &ps.router), (2, &ps.route)], [u(t), 1, 1]);
                let lists = [(2, &ps.route), (3, &ps.lists)];
                rec.dispatch(Kernel::MoeLists, &params, &lists, [u(experts.div_ceil(64)), 1, 1]);
                for x in 0..experts {
                    let (g, uw, dw) = (gate.rows(x * hidden, hidden), up.rows(x * hidden, hidden), down.rows(x * e, e));
                    let gather = Some((TokenList::Gather, x, experts, &ps.lists));
                    swiglu_chunk(ops, rec, ps, (&g, &uw), t, gather);
                    let scatter = Some((TokenList::Scatter, x, experts, &ps.lists));
                    ops.matmul(rec, &dw, t, Product::packed(&ps.act, hidden, &ps.x, e), scatter);
                }
            }
        }
    }
}

/// `act = SiLU(gate h) * (up h)`, for one expert when `moe` names a route slot: one dispatch when up was
/// uploaded right after gate, else the two products and the gate.
fn swiglu(ops: &Ops<'_>, rec: &mut Recorder, sc: &Scratch, gate: &GpuMatrix, up: &GpuMatrix, moe: Option<(u32, u32)>) {
    if let Some(pair) = gate.followed_by(up) {
        ops.matvec_paired(rec, gate, pair, &sc.h, &sc.act, moe, &sc.route);
        return;
    }
    ops.matvec(rec, gate, &sc.h, &sc.gate, 0, MatvecMode::Write, moe, &sc.route);
    ops.matvec(rec, up, &sc.h, &sc.up, 0, MatvecMode::Write, moe, &sc.route);
    let n = gate.rows;
    rec.dispatch(
        Kernel::Swiglu,
        &SwigluParams { n: u(n), row: 0 },
        &[(1, &sc.gate), (2, &sc.up), (3, &sc.act)],
        [u(n.div_ceil(64)), 1, 1],
    );
}

/// `act = SiLU(h G^T) * (h U^T)` for a chunk's `t` tokens (or an expert's, gathered through `list`): one
/// `matmul_swiglu` dispatch when gate and up share a buffer ([`GpuMatrix::paired_with`]), else the two
/// products into scratch and the gate.
fn swiglu_chunk(
    ops: &Ops<'_>,
    rec: &mut Recorder,
    ps: &PrefillScratch,
    (gate, up): (&GpuMatrix, &GpuMatrix),
    t: usize,
    list: Option<(TokenList, usize, usize, &wgpu::Buffer)>,
) {
    let (e, hidden) = (ops.spec.n_embd, gate.rows);
    if let Some(pair) = gate.paired_with(up) {
        let p = Product { out: ProductOut::Swiglu(pair), ..Product::packed(&ps.h, e, &ps.act, hidden) };
        ops.matmul(rec, gate, t, p, list);
        return;
    }
    ops.matmul(rec, gate, t, Product::packed(&ps.h, e, &ps.gate, hidden), list);
    ops.matmul(rec, up, t, Product::packed(&ps.h, e, &ps.up, hidden), list);
    let n = hidden * t;
    let (gx, gy) = groups(n.div_ceil(64), ops.max_groups);
    let buffers = [(1, &ps.gate), (2, &ps.up), (3, &ps.act)];
    rec.dispatch(Kernel::Swiglu, &SwigluParams { n: u(n), row: gx * 64 }, &buffers, [gx, gy, 1]);
}
