//! RWKV-6 and RWKV-7 blocks of one decode step, recorded kernel by kernel after the CPU reference
//! (`archrace_cpu::model::rwkv`). `E` width, `H` heads, `S` head size; `L_j` row j of the lerped inputs.

use super::forward::{f, u, GpuModel};
use super::recorder::Recorder;
use super::state::{RwkvScratch, Scratch};
use super::weights::{GpuMatrix, Rwkv6Gpu, Rwkv7Gpu, RwkvCommonGpu};
use crate::kernels::matvec::MatvecMode;
use crate::Kernel;

/// Op codes of `shaders/pointwise.wgsl`.
#[derive(Clone, Copy)]
enum Op {
    Tanh = 0,
    SigmoidBias = 1,
    Decay7 = 2,
    Decay6 = 3,
    ReluSq = 5,
    ValueResidual = 6,
    GatedAdd = 7,
    Silu = 8,
    Sigmoid = 9,
    AccMul = 10,
    Copy = 11,
}

/// llama.cpp's group-norm epsilon in its RWKV graphs.
const GROUP_NORM_EPS: f32 = 64e-5;

fn groups(n: usize) -> [u32; 3] {
    [u(n.div_ceil(64)), 1, 1]
}

/// One pointwise op: `out[out_off..] = op(a[a_off..], b, c, out)` over n values.
#[allow(clippy::too_many_arguments)]
fn pointwise(
    rec: &mut Recorder,
    op: Op,
    n: usize,
    a: (&wgpu::Buffer, usize),
    b: (&wgpu::Buffer, usize),
    c: (&wgpu::Buffer, usize),
    out: (&wgpu::Buffer, usize),
) {
    let params = [u(n), op as u32, u(a.1), u(b.1), u(c.1), u(out.1)];
    rec.dispatch(Kernel::Pointwise, &params, &[(1, a.0), (2, b.0), (3, c.0), (4, out.0)], groups(n));
}

impl GpuModel {
    fn rwkv_scratch<'s>(&self, sc: &'s Scratch) -> &'s RwkvScratch {
        sc.rwkv.as_ref().expect("RWKV scratch exists for RWKV models")
    }

    /// `L_j = h + (prev - h) * mix_j` for `n_mix` rows, `sx = prev - h`, `prev = h`.
    fn token_shift(&self, rec: &mut Recorder, sc: &Scratch, prev: &wgpu::Buffer, mix: &wgpu::Buffer, n_mix: usize) {
        let rw = self.rwkv_scratch(sc);
        let e = self.spec.n_embd;
        let buffers = [(1, &sc.h), (2, prev), (3, mix), (4, &rw.lerp), (5, &rw.sx)];
        rec.dispatch(Kernel::TokenShift, &[u(e), u(n_mix)], &buffers, groups(e));
    }

    /// `y = W L_row`.
    fn lerp_matvec(&self, rec: &mut Recorder, sc: &Scratch, m: &GpuMatrix, row: usize, y: &wgpu::Buffer) {
        let rw = self.rwkv_scratch(sc);
        self.matvec_from(rec, m, &rw.lerp, row * self.spec.n_embd, y, 0, MatvecMode::Write, None, &sc.route);
    }

    /// Group norm of the WKV output (+ `bonus`), times the gate, through the output projection into x.
    fn finish(&self, rec: &mut Recorder, sc: &Scratch, c: &RwkvCommonGpu, bonus: Option<&wgpu::Buffer>) {
        let rw = self.rwkv_scratch(sc);
        let params = [u(c.spec.head_size), u(bonus.is_some() as usize), f(GROUP_NORM_EPS)];
        let bias = c.ln.bias.as_ref().unwrap_or(&c.ln.weight);
        let buffers = [(1, &rw.o), (2, &c.ln.weight), (3, bias), (4, bonus.unwrap_or(&rw.g)), (5, &rw.g), (6, &rw.y)];
        rec.dispatch(Kernel::GroupNorm, &params, &buffers, [u(c.spec.n_head), 1, 1]);
        self.matvec(rec, &c.output, &rw.y, &sc.x, 0, MatvecMode::Add, None, &sc.route);
    }

    /// RWKV-6 time-mix ("Eagle and Finch", eqs. 15-22) on the normed input `sc.h`, adding into `sc.x`.
    pub(super) fn time_mix_v6(
        &self,
        rec: &mut Recorder,
        sc: &Scratch,
        m: &Rwkv6Gpu,
        shift: &wgpu::Buffer,
        wkv: &wgpu::Buffer,
    ) {
        let rw = self.rwkv_scratch(sc);
        let e = self.spec.n_embd;
        let c = &m.common;
        // ddlerp: L_0 = lerp_x input; L_{1+j} = h + sx * (lerp_j + tanh(L_0 W1)_j W2_j) for w, k, v, r, g.
        self.token_shift(rec, sc, shift, &m.lerps, 6);
        self.lerp_matvec(rec, sc, &m.w1, 0, &rw.lora_a);
        let dm = m.w1.rows / 5;
        pointwise(rec, Op::Tanh, 5 * dm, (&rw.lora_a, 0), (&rw.lora_a, 0), (&rw.lora_a, 0), (&rw.lora_b, 0));
        for (j, w2) in m.w2.iter().enumerate() {
            self.matvec_from(rec, w2, &rw.lora_b, j * dm, &rw.lora_o, 0, MatvecMode::Write, None, &sc.route);
            pointwise(rec, Op::AccMul, e, (&rw.lora_o, 0), (&rw.sx, 0), (&rw.sx, 0), (&rw.lerp, (1 + j) * e));
        }
        self.lerp_matvec(rec, sc, &c.receptance, 4, &rw.r);
        self.lerp_matvec(rec, sc, &c.key, 2, &rw.k);
        self.lerp_matvec(rec, sc, &c.value, 3, &rw.v);
        self.lerp_matvec(rec, sc, &m.gate, 5, &rw.lora_o);
        pointwise(rec, Op::Silu, e, (&rw.lora_o, 0), (&rw.lora_o, 0), (&rw.lora_o, 0), (&rw.g, 0));
        // w = exp(-exp(decay + tanh(L_1 D1) D2))
        self.lerp_matvec(rec, sc, &m.decay_w1, 1, &rw.lora_a);
        let dd = m.decay_w1.rows;
        pointwise(rec, Op::Tanh, dd, (&rw.lora_a, 0), (&rw.lora_a, 0), (&rw.lora_a, 0), (&rw.lora_b, 0));
        self.matvec(rec, &m.decay_w2, &rw.lora_b, &rw.lora_o, 0, MatvecMode::Write, None, &sc.route);
        pointwise(rec, Op::Decay6, e, (&rw.lora_o, 0), (&m.decay, 0), (&m.decay, 0), (&rw.decay, 0));
        let (h, s) = (c.spec.n_head, c.spec.head_size);
        let buffers = [(1, &rw.r), (2, &rw.decay), (3, &rw.k), (4, &rw.v), (5, wkv), (6, &rw.o), (7, &m.first)];
        rec.dispatch(Kernel::Wkv6, &[u(h), u(s)], &buffers, groups(h * s));
        self.finish(rec, sc, c, None);
    }

    /// RWKV-7 time-mix ("RWKV-7 Goose", section 4) on `sc.h`, adding into `sc.x`. Layer `first` keeps
    /// its values for the value residual of the later layers.
    pub(super) fn time_mix_v7(
        &self,
        rec: &mut Recorder,
        sc: &Scratch,
        m: &Rwkv7Gpu,
        shift: &wgpu::Buffer,
        wkv: &wgpu::Buffer,
        first: bool,
    ) {
        let rw = self.rwkv_scratch(sc);
        let e = self.spec.n_embd;
        let c = &m.common;
        // Rows of L: r, w, k, v, a, g.
        self.token_shift(rec, sc, shift, &m.lerps, 6);
        self.lerp_matvec(rec, sc, &c.receptance, 0, &rw.r);
        // w = exp(-e^{-1/2} sigmoid(w0 + tanh(L_1 W1) W2))
        self.lerp_matvec(rec, sc, &m.w.0, 1, &rw.lora_a);
        let n = m.w.0.rows;
        pointwise(rec, Op::Tanh, n, (&rw.lora_a, 0), (&rw.lora_a, 0), (&rw.lora_a, 0), (&rw.lora_b, 0));
        self.matvec(rec, &m.w.1, &rw.lora_b, &rw.lora_o, 0, MatvecMode::Write, None, &sc.route);
        pointwise(rec, Op::Decay7, e, (&rw.lora_o, 0), (&m.w.2, 0), (&m.w.2, 0), (&rw.decay, 0));
        self.lerp_matvec(rec, sc, &c.key, 2, &rw.k);
        self.lerp_matvec(rec, sc, &c.value, 3, &rw.v);
        if first {
            pointwise(rec, Op::Copy, e, (&rw.v, 0), (&rw.v, 0), (&rw.v, 0), (&rw.v_first, 0));
        } else {
            // v += (v_first - v) * sigmoid(v0 + L_3 V1 V2)
            self.lerp_matvec(rec, sc, &m.v.0, 3, &rw.lora_a);
            self.matvec(rec, &m.v.1, &rw.lora_a, &rw.lora_o, 0, MatvecMode::Write, None, &sc.route);
            pointwise(rec, Op::ValueResidual, e, (&rw.lora_o, 0), (&rw.v_first, 0), (&m.v.2, 0), (&rw.v, 0));
        }
        // g = sigmoid(L_5 G1) G2
        self.lerp_matvec(rec, sc, &m.g.0, 5, &rw.lora_a);
        let n = m.g.0.rows;
        pointwise(rec, Op::Sigmoid, n, (&rw.lora_a, 0), (&rw.lora_a, 0), (&rw.lora_a, 0), (&rw.lora_b, 0));
        self.matvec(rec, &m.g.1, &rw.lora_b, &rw.g, 0, MatvecMode::Write, None, &sc.route);
        // a = sigmoid(a0 + L_4 A1 A2)
        self.lerp_matvec(rec, sc, &m.a.0, 4, &rw.lora_a);
        self.matvec(rec, &m.a.1, &rw.lora_a, &rw.lora_o, 0, MatvecMode::Write, None, &sc.route);
        pointwise(rec, Op::SigmoidBias, e, (&rw.lora_o, 0), (&m.a.2, 0), (&m.a.2, 0), (&rw.a, 0));
        let (h, s) = (c.spec.n_head, c.spec.head_size);
        let hs = [u(h), u(s)];
        let prep = [(3, &rw.k), (7, &rw.a), (8, &rw.kk), (9, &m.k_k), (10, &m.k_a)];
        rec.dispatch(Kernel::Rwkv7Prep, &hs, &prep, [u(h), 1, 1]);
        let wkv_bindings = [(1, &rw.r), (2, &rw.decay), (3, &rw.k), (4, &rw.v), (5, wkv), (6, &rw.o), (8, &rw.kk)];
        rec.dispatch(Kernel::Wkv7, &hs, &wkv_bindings, groups(h * s));
        let bonus = [(1, &rw.r), (3, &rw.k), (4, &rw.v), (6, &rw.bonus), (10, &m.r_k)];
        rec.dispatch(Kernel::Rwkv7Bonus, &hs, &bonus, [u(h), 1, 1]);
        self.finish(rec, sc, c, Some(&rw.bonus));
    }

    /// Channel-mix on `sc.h`, adding into `sc.x`: `relu(L_0 K)^2 V`, gated by `sigmoid(L_1 R)` in v6.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn channel_mix(
        &self,
        rec: &mut Recorder,
        sc: &Scratch,
        lerps: &wgpu::Buffer,
        key: &GpuMatrix,
        value: &GpuMatrix,
        receptance: Option<&GpuMatrix>,
        shift: &wgpu::Buffer,
    ) {
        let rw = self.rwkv_scratch(sc);
        self.token_shift(rec, sc, shift, lerps, if receptance.is_some() { 2 } else { 1 });
        self.lerp_matvec(rec, sc, key, 0, &sc.gate);
        let n = key.rows;
        pointwise(rec, Op::ReluSq, n, (&sc.gate, 0), (&sc.gate, 0), (&sc.gate, 0), (&sc.act, 0));
        match receptance {
            None => self.matvec(rec, value, &sc.act, &sc.x, 0, MatvecMode::Add, None, &sc.route),
            Some(r) => {
                self.matvec(rec, value, &sc.act, &rw.y, 0, MatvecMode::Write, None, &sc.route);
                self.lerp_matvec(rec, sc, r, 1, &rw.rr);
                let e = self.spec.n_embd;
                pointwise(rec, Op::GatedAdd, e, (&rw.y, 0), (&rw.rr, 0), (&rw.rr, 0), (&sc.x, 0));
            }
        }
    }
}
