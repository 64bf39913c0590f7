//! RWKV-6 and RWKV-7 blocks over T tokens (T = 1 for a decode step, a chunk's for prefill), recorded
//! kernel by kernel after the CPU reference (`archrace_cpu::model::rwkv`). `E` width, `H` heads, `S` head
//! size; `L_j` row j of the lerped inputs, `(T, E)` each. Every vector has a token axis: `(T, width)`.

use super::forward::u;
use super::ops::Ops;
use super::prefill::{Product, ProductOut};
use super::recorder::Recorder;
use super::state::{RwkvScratch, Scratch};
use super::weights::{
    GpuFfn, GpuMatrix, GpuNorm, MultiProduct, Rwkv6Gpu, Rwkv7Decode, Rwkv7Gpu, RwkvCommonGpu, RWKV7_K_A, RWKV7_R_K,
};
use crate::kernels::matvec::{groups as spill, multi_rows, row_threads, MatvecMode, MatvecParams, NO_SLOT};
use crate::kernels::params::{GroupNormParams, PointwiseParams, TokenShiftParams, Wkv7StepParams, WkvParams};
use crate::Kernel;

/// The buffers an RWKV block works on, for `t` tokens: the decode step's scratch (t = 1) or a prefill
/// chunk's.
pub(super) struct RwkvIo<'a> {
    /// Tokens.
    pub t: usize,
    /// Normed input `(T, E)`.
    pub h: &'a wgpu::Buffer,
    /// Residual stream `(T, E)`.
    pub x: &'a wgpu::Buffer,
    /// Channel-mix hidden `(T, hidden)`, activated.
    pub act: &'a wgpu::Buffer,
    /// The blocks' own.
    pub rw: &'a RwkvScratch,
    /// Bound where a matvec wants a route buffer (unused by RWKV).
    pub route: &'a wgpu::Buffer,
    /// The block's norm when it is still to be applied (a decode step): the token shift then normalises
    /// the residual `x` itself (`norm_shift`) and `h` is not read. `None`: `h` holds the normed input.
    pub norm: Option<&'a GpuNorm>,
}

impl<'a> RwkvIo<'a> {
    /// The decode step's buffers, for a block whose token shift applies `norm` to the residual stream.
    pub fn decode(sc: &'a Scratch, norm: &'a GpuNorm) -> Self {
        let rw = sc.rwkv.as_ref().expect("RWKV scratch exists for RWKV models");
        Self { t: 1, h: &sc.h, x: &sc.x, act: &sc.act, rw, route: &sc.route, norm: Some(norm) }
    }
}

/// Op codes of `shaders/pointwise.wgsl` the runtime dispatches (its activations, ops 0 to 3, 5, 8 and 9,
/// are applied by the products as they write: [`Act`]).
#[derive(Clone, Copy)]
enum Op {
    ValueResidual = 6,
    GatedAdd = 7,
    AccMul = 10,
    Copy = 11,
}

/// An activation applied to every output of a product as it is written, by the matvec for one token and by
/// the matmul for a chunk ([`MatvecMode`] 5 to 11, `shaders/lib/activation.wgsl`).
#[derive(Clone, Copy)]
enum Act<'b> {
    Tanh,
    Sigmoid,
    ReluSq,
    Silu,
    /// With a per-channel bias.
    SigmoidBias(&'b wgpu::Buffer),
    Decay7(&'b wgpu::Buffer),
    Decay6(&'b wgpu::Buffer),
}

impl<'b> Act<'b> {
    fn mode(self) -> MatvecMode {
        match self {
            Act::Tanh => MatvecMode::Tanh,
            Act::Sigmoid => MatvecMode::Sigmoid,
            Act::ReluSq => MatvecMode::ReluSq,
            Act::Silu => MatvecMode::Silu,
            Act::SigmoidBias(_) => MatvecMode::SigmoidBias,
            Act::Decay7(_) => MatvecMode::Decay7,
            Act::Decay6(_) => MatvecMode::Decay6,
        }
    }

    fn bias(self) -> Option<&'b wgpu::Buffer> {
        match self {
            Act::SigmoidBias(b) | Act::Decay7(b) | Act::Decay6(b) => Some(b),
            _ => None,
        }
    }
}

/// llama.cpp's group-norm epsilon in its RWKV graphs.
const GROUP_NORM_EPS: f32 = 64e-5;

fn groups(n: usize) -> [u32; 3] {
    [u(n.div_ceil(64)), 1, 1]
}

/// A constant per-channel operand (a bias, a decay base): it repeats every `E` values across the tokens.
const PER_TOKEN: usize = 0;

/// One pointwise op over n values: `out[out_off..] = op(a[a_off..], b, c, out)`; `b` and `c` repeat every
/// `periods` values (0: they have a token axis like `a`).
#[allow(clippy::too_many_arguments)]
fn pointwise(
    rec: &mut Recorder,
    max_groups: u32,
    op: Op,
    n: usize,
    a: (&wgpu::Buffer, usize),
    b: (&wgpu::Buffer, usize),
    c: (&wgpu::Buffer, usize),
    out: (&wgpu::Buffer, usize),
    periods: (usize, usize),
) {
    let (gx, gy) = spill(n.div_ceil(64), max_groups);
    let params = PointwiseParams {
        n: u(n),
        op: op as u32,
        a_off: u(a.1),
        b_off: u(b.1),
        c_off: u(c.1),
        out_off: u(out.1),
        b_period: u(periods.0),
        c_period: u(periods.1),
        row: gx * 64,
    };
    rec.dispatch(Kernel::Pointwise, &params, &[(1, a.0), (2, b.0), (3, c.0), (4, out.0)], [gx, gy, 1]);
}

impl Ops<'_> {
    /// `y = W x` over the tokens (a matvec for one token, a matmul for a chunk), x rows `x_stride` apart
    /// from `x_off`, y packed `(T, W rows)`.
    #[allow(clippy::too_many_arguments)]
    fn rwkv_product(
        &self,
        rec: &mut Recorder,
        io: &RwkvIo<'_>,
        m: &GpuMatrix,
        x: &wgpu::Buffer,
        x_off: usize,
        x_stride: usize,
        y: &wgpu::Buffer,
        add: bool,
    ) {
        if io.t == 1 {
            let mode = if add { MatvecMode::Add } else { MatvecMode::Write };
            self.matvec_from(rec, m, x, x_off, y, 0, mode, None, io.route);
        } else {
            let out = if add { ProductOut::Add } else { ProductOut::Write };
            let p = Product { x, x_off, x_stride, y, y_off: 0, y_stride: m.rows, out };
            self.matmul(rec, m, io.t, p, None);
        }
    }

    /// `y = act(W x)` for every token, x rows `x_stride` apart from `x_off`: the matvec (one token) or the
    /// matmul (a chunk) applies the activation as it writes y.
    fn activated(
        &self,
        rec: &mut Recorder,
        io: &RwkvIo<'_>,
        m: &GpuMatrix,
        (x, x_off, x_stride): (&wgpu::Buffer, usize, usize),
        act: Act<'_>,
        y: &wgpu::Buffer,
    ) {
        if io.t == 1 {
            let bias = act.bias().unwrap_or(io.route);
            self.matvec_dispatch(rec, m, (x, x_off), (y, 0), act.mode(), 0, None, bias);
            return;
        }
        let out = ProductOut::Activated(act.mode(), act.bias());
        self.matmul(rec, m, io.t, Product { x, x_off, x_stride, y, y_off: 0, y_stride: m.rows, out }, None);
    }

    /// Lerp row `row` of every token, as a product's x.
    fn lerp_rows<'a>(&self, io: &RwkvIo<'a>, row: usize) -> (&'a wgpu::Buffer, usize, usize) {
        let e = self.spec.n_embd;
        (&io.rw.lerp, row * io.t * e, e)
    }

    /// `y = W L_row` for every token.
    fn lerp_product(&self, rec: &mut Recorder, io: &RwkvIo<'_>, m: &GpuMatrix, row: usize, y: &wgpu::Buffer) {
        let e = self.spec.n_embd;
        self.rwkv_product(rec, io, m, &io.rw.lerp, row * io.t * e, e, y, false);
    }

    /// `y = W x` over packed rows of `x` (`W`'s columns wide).
    fn packed_product(
        &self,
        rec: &mut Recorder,
        io: &RwkvIo<'_>,
        m: &GpuMatrix,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        add: bool,
    ) {
        self.rwkv_product(rec, io, m, x, 0, m.cols, y, add);
    }

    /// `L_j = h + (prev - h) * mix_j` for `n_mix` rows, `sx = prev - h`, `prev = h` (token by token); with
    /// `io.norm`, `h` is the norm of `io.x`, computed by the same dispatch (`norm_shift`, one token).
    fn token_shift(&self, rec: &mut Recorder, io: &RwkvIo<'_>, prev: &wgpu::Buffer, mix: &wgpu::Buffer, n_mix: usize) {
        let e = self.spec.n_embd;
        let mut params = TokenShiftParams { e: u(e), n_mix: u(n_mix), n_tokens: u(io.t), ..Default::default() };
        match io.norm {
            Some(norm) => {
                debug_assert_eq!(io.t, 1, "norm_shift takes one token");
                (params.kind, params.eps) = self.norm_kind();
                let bias = norm.bias.as_ref().unwrap_or(&norm.weight);
                let buffers =
                    [(1, io.x), (2, prev), (3, mix), (4, &io.rw.lerp), (5, &io.rw.sx), (6, &norm.weight), (7, bias)];
                rec.dispatch(Kernel::NormShift, &params, &buffers, [1, 1, 1]);
            }
            None => {
                let buffers = [(1, io.h), (2, prev), (3, mix), (4, &io.rw.lerp), (5, &io.rw.sx)];
                rec.dispatch(Kernel::TokenShift, &params, &buffers, groups(e));
            }
        }
    }

    /// The first `n` segments of `m` (their rows one after another in `y`) in one `matvec_multi`, x read
    /// from `x` at each segment's offset.
    fn multi(&self, rec: &mut Recorder, m: &MultiProduct, n: usize, x: &wgpu::Buffer, y: &wgpu::Buffer) {
        let mut p = MatvecParams {
            rows: u(multi_rows(m.rows[..n].iter().copied())),
            slot: NO_SLOT,
            row_threads: u(row_threads(m.max_blocks)),
            segments: u(n),
            ..Default::default()
        };
        let (gx, gy) = p.fit(Kernel::MatvecMulti(m.ty), self.matvec_limits());
        rec.dispatch(Kernel::MatvecMulti(m.ty), &p, &[(1, &m.buf), (2, x), (3, y), (4, &m.table)], [gx, gy, 1]);
    }

    /// Group norm of the WKV output (+ `bonus`), times the gate, through the output projection into x.
    fn finish(&self, rec: &mut Recorder, io: &RwkvIo<'_>, c: &RwkvCommonGpu, bonus: Option<&wgpu::Buffer>) {
        let rw = io.rw;
        let (h, s) = (c.spec.n_head, c.spec.head_size);
        let params = GroupNormParams {
            head_size: u(s),
            has_extra: u(bonus.is_some() as usize),
            eps: GROUP_NORM_EPS,
            n_head: u(h),
            w_off: u(c.ln_at),
            b_off: u(c.ln_at + h * s),
        };
        let v = &c.vectors;
        let buffers = [(1, &rw.o), (2, v), (3, v), (4, bonus.unwrap_or(&rw.g)), (5, &rw.g), (6, &rw.y)];
        rec.dispatch(Kernel::GroupNorm, &params, &buffers, [u(h), u(io.t), 1]);
        self.packed_product(rec, io, &c.output, &rw.y, io.x, true);
    }
}

impl Rwkv6Gpu {
    /// RWKV-6 time-mix ("Eagle and Finch", eqs. 15-22) on the normed input `io.h`, adding into `io.x`.
    pub(super) fn record(
        &self,
        ops: &Ops<'_>,
        rec: &mut Recorder,
        io: &RwkvIo<'_>,
        shift: &wgpu::Buffer,
        wkv: &wgpu::Buffer,
    ) {
        let (rw, t, g) = (io.rw, io.t, ops.max_groups);
        let e = ops.spec.n_embd;
        let c = &self.common;
        // ddlerp: L_0 = lerp_x input; L_{1+j} = h + sx * (lerp_j + tanh(L_0 W1)_j W2_j) for w, k, v, r, g.
        ops.token_shift(rec, io, shift, &self.lerps, 6);
        ops.activated(rec, io, &self.w1, ops.lerp_rows(io, 0), Act::Tanh, &rw.lora_b);
        let dm = self.w1.rows / 5;
        for (j, w2) in self.w2.iter().enumerate() {
            ops.rwkv_product(rec, io, w2, &rw.lora_b, j * dm, 5 * dm, &rw.lora_o, false);
            let sx = (&rw.sx, 0);
            pointwise(rec, g, Op::AccMul, e * t, (&rw.lora_o, 0), sx, sx, (&rw.lerp, (1 + j) * t * e), (PER_TOKEN, 0));
        }
        ops.lerp_product(rec, io, &c.receptance, 4, &rw.r);
        ops.lerp_product(rec, io, &c.key, 2, &rw.k);
        ops.lerp_product(rec, io, &c.value, 3, &rw.v);
        ops.activated(rec, io, &self.gate, ops.lerp_rows(io, 5), Act::Silu, &rw.g);
        // w = exp(-exp(decay + tanh(L_1 D1) D2))
        ops.activated(rec, io, &self.decay_w1, ops.lerp_rows(io, 1), Act::Tanh, &rw.lora_b);
        let lora = (&rw.lora_b, 0, self.decay_w2.cols);
        ops.activated(rec, io, &self.decay_w2, lora, Act::Decay6(&self.decay), &rw.decay);
        let (h, s) = (c.spec.n_head, c.spec.head_size);
        let buffers = [(1, &rw.r), (2, &rw.decay), (3, &rw.k), (4, &rw.v), (5, wkv), (6, &rw.o), (7, &self.first)];
        rec.dispatch(
            Kernel::Wkv6,
            &WkvParams { n_head: u(h), head_size: u(s), n_tokens: u(t), vec_off: 0 },
            &buffers,
            groups(h * s),
        );
        ops.finish(rec, io, c, None);
    }
}

impl Rwkv7Gpu {
    /// RWKV-7 time-mix ("RWKV-7 Goose", section 4) on `io.h`, adding into `io.x`. Layer `first` keeps
    /// its values for the value residual of the later layers.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record(
        &self,
        ops: &Ops<'_>,
        rec: &mut Recorder,
        io: &RwkvIo<'_>,
        shift: &wgpu::Buffer,
        wkv: &wgpu::Buffer,
        first: bool,
    ) {
        // The decode step's scratch (the one with a norm still to apply) holds the fused form's buffers; a
        // one-token prefill chunk records kernel by kernel.
        if let (Some(_), Some(d)) = (io.norm, &self.decode) {
            return self.record_fused(ops, rec, io, d, (shift, wkv), first);
        }
        let (rw, t, g) = (io.rw, io.t, ops.max_groups);
        let e = ops.spec.n_embd;
        let c = &self.common;
        let o = (&rw.lora_o, 0);
        // Rows of L: r, w, k, v, a, g.
        ops.token_shift(rec, io, shift, &self.lerps, 6);
        ops.lerp_product(rec, io, &c.receptance, 0, &rw.r);
        // w = exp(-e^{-1/2} sigmoid(w0 + tanh(L_1 W1) W2))
        ops.activated(rec, io, &self.w.0, ops.lerp_rows(io, 1), Act::Tanh, &rw.lora_b);
        let lora = (&rw.lora_b, 0, self.w.1.cols);
        ops.activated(rec, io, &self.w.1, lora, Act::Decay7(&self.w.2), &rw.decay);
        ops.lerp_product(rec, io, &c.key, 2, &rw.k);
        ops.lerp_product(rec, io, &c.value, 3, &rw.v);
        let v = (&rw.v, 0);
        if first {
            pointwise(rec, g, Op::Copy, e * t, v, v, v, (&rw.v_first, 0), (0, 0));
        } else {
            // v += (v_first - v) * sigmoid(v0 + L_3 V1 V2)
            ops.lerp_product(rec, io, &self.v.0, 3, &rw.lora_a);
            ops.packed_product(rec, io, &self.v.1, &rw.lora_a, &rw.lora_o, false);
            pointwise(rec, g, Op::ValueResidual, e * t, o, (&rw.v_first, 0), (&self.v.2, 0), v, (PER_TOKEN, e));
        }
        // g = sigmoid(L_5 G1) G2
        ops.activated(rec, io, &self.g.0, ops.lerp_rows(io, 5), Act::Sigmoid, &rw.lora_b);
        ops.packed_product(rec, io, &self.g.1, &rw.lora_b, &rw.g, false);
        // a = sigmoid(a0 + L_4 A1 A2)
        ops.lerp_product(rec, io, &self.a.0, 4, &rw.lora_a);
        let lora = (&rw.lora_a, 0, self.a.1.cols);
        ops.activated(rec, io, &self.a.1, lora, Act::SigmoidBias(&self.a.2), &rw.a);
        let (h, s) = (c.spec.n_head, c.spec.head_size);
        let hs = WkvParams { n_head: u(h), head_size: u(s), n_tokens: u(t), vec_off: 0 };
        let vectors = &c.vectors; // k_k, k_a, r_k, ...
        let prep = [(3, &rw.k), (7, &rw.a), (8, &rw.kk), (9, vectors), (10, vectors)];
        rec.dispatch(Kernel::Rwkv7Prep, &WkvParams { vec_off: u(RWKV7_K_A * e), ..hs }, &prep, [u(h), u(t), 1]);
        let wkv_bindings = [(1, &rw.r), (2, &rw.decay), (3, &rw.k), (4, &rw.v), (5, wkv), (6, &rw.o), (8, &rw.kk)];
        rec.dispatch(Kernel::Wkv7, &hs, &wkv_bindings, ops.wkv7.groups(h, s));
        let bonus = [(1, &rw.r), (3, &rw.k), (4, &rw.v), (6, &rw.bonus), (10, vectors)];
        rec.dispatch(Kernel::Rwkv7Bonus, &WkvParams { vec_off: u(RWKV7_R_K * e), ..hs }, &bonus, [u(h), u(t), 1]);
        ops.finish(rec, io, c, Some(&rw.bonus));
    }

    /// One decode token in the fused form ([`Rwkv7Decode`]): norm and token shift, r/k/v, the LoRA
    /// down-projections, their up-projections (activations and biases applied as they are written),
    /// `wkv7_step`, the output product: 6 dispatches. The first layer skips the value-residual segments.
    fn record_fused(
        &self,
        ops: &Ops<'_>,
        rec: &mut Recorder,
        io: &RwkvIo<'_>,
        d: &Rwkv7Decode,
        (shift, wkv): (&wgpu::Buffer, &wgpu::Buffer),
        first: bool,
    ) {
        let (rw, c) = (io.rw, &self.common);
        let loras = if first { 3 } else { 4 };
        ops.token_shift(rec, io, shift, &self.lerps, 6);
        ops.multi(rec, &d.rkv, 3, &rw.lerp, &rw.rkv);
        ops.multi(rec, &d.down, loras, &rw.lerp, &rw.lora_a);
        ops.multi(rec, &d.up, loras, &rw.lora_a, &rw.up);
        let (h, s) = (c.spec.n_head, c.spec.head_size);
        let params =
            Wkv7StepParams { n_head: u(h), head_size: u(s), first: u(usize::from(first)), eps: GROUP_NORM_EPS };
        let buffers = [(1, &rw.rkv), (2, &rw.up), (3, &c.vectors), (4, wkv), (5, &rw.v_first), (6, &rw.y)];
        rec.dispatch(Kernel::Wkv7Step, &params, &buffers, [u(h), 1, 1]);
        ops.packed_product(rec, io, &c.output, &rw.y, io.x, true);
    }
}

impl GpuFfn {
    /// RWKV channel-mix on `io.h`, adding into `io.x`: `relu(L_0 K)^2 V`, gated by `sigmoid(L_1 R)` in
    /// v6 (nothing for the other feed-forwards, which record through `record`).
    pub(super) fn channel_mix(&self, ops: &Ops<'_>, rec: &mut Recorder, io: &RwkvIo<'_>, shift: &wgpu::Buffer) {
        let GpuFfn::ChannelMix { lerps, key, value, receptance } = self else { return };
        let receptance = receptance.as_ref();
        let (rw, t, g) = (io.rw, io.t, ops.max_groups);
        ops.token_shift(rec, io, shift, lerps, if receptance.is_some() { 2 } else { 1 });
        ops.activated(rec, io, key, ops.lerp_rows(io, 0), Act::ReluSq, io.act);
        match receptance {
            None => ops.packed_product(rec, io, value, io.act, io.x, true),
            Some(r) => {
                ops.packed_product(rec, io, value, io.act, &rw.y, false);
                ops.lerp_product(rec, io, r, 1, &rw.rr);
                let e = ops.spec.n_embd;
                let rr = (&rw.rr, 0);
                pointwise(rec, g, Op::GatedAdd, e * t, (&rw.y, 0), rr, rr, (io.x, 0), (PER_TOKEN, 0));
            }
        }
    }
}
