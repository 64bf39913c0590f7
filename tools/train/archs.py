"""The four demo architectures in PyTorch, with parameters named exactly as llama.cpp's GGUF tensors.

Every parameter is registered under its GGUF name (``blk.3.attn_q.weight``), in numpy/torch order, which is
the reverse of ggml's ``ne`` order: a ``Linear`` weight is ``[out, in]``. Export is then a walk over the
parameters (``export.py``), and each forward pass follows llama.cpp's graph for that architecture, so the
exported file must reproduce these logits in archrace's CPU reference (checked by ``check.py``).

Shapes in comments: B batch, T time, E embedding, V vocabulary, H heads, D head size.
"""
import math
from dataclasses import dataclass, field

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class Config:
    arch: str
    n_vocab: int
    n_embd: int
    n_layer: int
    n_ctx: int  # the training window
    n_head: int = 0
    n_head_kv: int = 0
    n_ff: int = 0
    rope_base: float = 10000.0
    eps: float = 1e-5
    # Mamba / Jamba
    d_inner: int = 0
    d_state: int = 16
    d_conv: int = 4
    dt_rank: int = 0
    # RWKV-7
    head_size: int = 64
    lora_decay: int = 16
    lora_iclr: int = 16
    lora_value: int = 16
    lora_gate: int = 32
    # Jamba
    attn_layers: tuple = ()
    moe_layers: tuple = ()
    n_expert: int = 0
    n_expert_used: int = 0
    extra: dict = field(default_factory=dict)


def key(name):
    """GGUF tensor name -> ParameterDict key (module keys may not contain dots)."""
    return name.replace(".", "__")


def gguf_name(k):
    return k.replace("__", ".")


class GgufModule(nn.Module):
    """A model whose parameters are a flat dict keyed by GGUF tensor name."""

    def __init__(self, cfg: Config, seed: int):
        super().__init__()
        self.cfg = cfg
        self.params = nn.ParameterDict()
        self.gen = torch.Generator().manual_seed(seed)

    # ---- parameter creation
    def add(self, name, shape, init="normal", std=0.02, value=None):
        if value is not None:
            t = torch.as_tensor(value, dtype=torch.float32).reshape(shape).clone()
        elif init == "zeros":
            t = torch.zeros(shape)
        elif init == "ones":
            t = torch.ones(shape)
        else:
            t = torch.randn(shape, generator=self.gen) * std
        self.params[key(name)] = nn.Parameter(t)

    def W(self, name):
        return self.params[key(name)]

    def has(self, name):
        return key(name) in self.params

    def named_gguf(self):
        """(gguf name, tensor) for every parameter, in creation order."""
        return [(gguf_name(k), p) for k, p in self.params.items()]

    # ---- shared pieces
    def linear(self, x, name, bias=None):
        return F.linear(x, self.W(name), None if bias is None else self.W(bias))

    def rms(self, x, name):  # RMSNorm (Zhang & Sennrich 2019): x / sqrt(mean(x^2) + eps) * w
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.cfg.eps) * self.W(name)

    def layer_norm(self, x, prefix):
        return F.layer_norm(x, x.shape[-1:], self.W(prefix + ".weight"), self.W(prefix + ".bias"), self.cfg.eps)

    def swiglu(self, h, p):  # SwiGLU (Shazeer 2020): down(silu(gate h) * up h)
        return self.linear(F.silu(self.linear(h, p + "ffn_gate.weight")) * self.linear(h, p + "ffn_up.weight"),
                           p + "ffn_down.weight")

    def head(self, x):
        return self.linear(x, "output.weight")  # [B, T, V]

    def aux_loss(self):
        return torch.zeros(())


def std_out(cfg):
    """GPT-2's scaled init for projections into the residual stream: 0.02 / sqrt(2 L)."""
    return 0.02 / math.sqrt(2 * cfg.n_layer)


# ----------------------------------------------------------------------------------------------- llama

def rope_normal(x, base):
    """ggml RoPE mode 0 (Su et al. 2021, eq. 34): adjacent pairs (x[2i], x[2i+1]) rotated by
    pos * base^(-2i/D). x: [B, H, T, D]."""
    T, D = x.shape[-2], x.shape[-1]
    inv = base ** (-torch.arange(0, D, 2, dtype=torch.float32) / D)  # [D/2]
    theta = torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]  # [T, D/2]
    c, s = theta.cos(), theta.sin()
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], dim=-1).flatten(-2)


def attention(m, h, p, rope):
    """Causal grouped-query self-attention (Vaswani et al. 2017; Ainslie et al. 2023). h: [B, T, E]."""
    c = m.cfg
    B, T, _ = h.shape
    D = c.n_embd // c.n_head
    q = m.linear(h, p + "attn_q.weight").view(B, T, c.n_head, D).transpose(1, 2)  # [B, H, T, D]
    k = m.linear(h, p + "attn_k.weight").view(B, T, c.n_head_kv, D).transpose(1, 2)  # [B, Hkv, T, D]
    v = m.linear(h, p + "attn_v.weight").view(B, T, c.n_head_kv, D).transpose(1, 2)
    if rope:
        q, k = rope_normal(q, c.rope_base), rope_normal(k, c.rope_base)
    rep = c.n_head // c.n_head_kv  # query head j reads KV head j // rep, as llama.cpp
    k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    o = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # softmax(q k^T / sqrt(D)) v
    return m.linear(o.transpose(1, 2).reshape(B, T, c.n_embd), p + "attn_output.weight")


def add_attention(m, p):
    c = m.cfg
    D = c.n_embd // c.n_head
    m.add(p + "attn_q.weight", (c.n_head * D, c.n_embd))
    m.add(p + "attn_k.weight", (c.n_head_kv * D, c.n_embd))
    m.add(p + "attn_v.weight", (c.n_head_kv * D, c.n_embd))
    m.add(p + "attn_output.weight", (c.n_embd, c.n_head * D), std=std_out(c))


def add_swiglu(m, p):
    c = m.cfg
    m.add(p + "ffn_gate.weight", (c.n_ff, c.n_embd))
    m.add(p + "ffn_up.weight", (c.n_ff, c.n_embd))
    m.add(p + "ffn_down.weight", (c.n_embd, c.n_ff), std=std_out(c))


class Llama(GgufModule):
    def __init__(self, cfg, seed):
        super().__init__(cfg, seed)
        E = cfg.n_embd
        self.add("token_embd.weight", (cfg.n_vocab, E))
        for i in range(cfg.n_layer):
            p = f"blk.{i}."
            self.add(p + "attn_norm.weight", (E,), "ones")
            add_attention(self, p)
            self.add(p + "ffn_norm.weight", (E,), "ones")
            add_swiglu(self, p)
        self.add("output_norm.weight", (E,), "ones")
        self.add("output.weight", (cfg.n_vocab, E))

    def forward(self, ids):  # ids: [B, T] -> logits [B, T, V]
        x = F.embedding(ids, self.W("token_embd.weight"))
        for i in range(self.cfg.n_layer):
            p = f"blk.{i}."
            x = x + attention(self, self.rms(x, p + "attn_norm.weight"), p, rope=True)
            x = x + self.swiglu(self.rms(x, p + "ffn_norm.weight"), p)
        return self.head(self.rms(x, "output_norm.weight"))


# ----------------------------------------------------------------------------------------------- mamba

def add_mamba(m, p, norms):
    """Mamba mixer parameters (Gu & Dao 2023), initialised as mamba_simple.py does (A = -[1..N], dt in
    [1e-3, 1e-1] through the inverse softplus of the bias)."""
    c = m.cfg
    E, Di, N, R = c.n_embd, c.d_inner, c.d_state, c.dt_rank
    m.add(p + "ssm_in.weight", (2 * Di, E))
    m.add(p + "ssm_conv1d.weight", (Di, c.d_conv), std=1 / math.sqrt(c.d_conv))
    m.add(p + "ssm_conv1d.bias", (Di,), "zeros")
    m.add(p + "ssm_x.weight", (R + 2 * N, Di))
    if norms:
        m.add(p + "ssm_dt_norm.weight", (R,), "ones")
        m.add(p + "ssm_b_norm.weight", (N,), "ones")
        m.add(p + "ssm_c_norm.weight", (N,), "ones")
    m.add(p + "ssm_dt.weight", (Di, R), std=R ** -0.5)
    dt = torch.exp(torch.rand(Di, generator=m.gen) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
    m.add(p + "ssm_dt.bias", (Di,), value=dt + torch.log(-torch.expm1(-dt)))  # softplus^-1(dt)
    # llama.cpp stores A itself (ssm_a = -exp(A_log)); training keeps A_log and export takes -exp of it
    m.add(p + "ssm_a_log", (Di, N), value=torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(Di, 1))
    m.add(p + "ssm_d", (Di,), "ones")
    m.add(p + "ssm_out.weight", (E, Di), std=std_out(c))


def selective_scan(dt, A, x, Bm, Cm):
    """h_t = exp(dt_t A) h_{t-1} + dt_t B_t x_t ;  y_t = C_t h_t  (Gu & Dao 2023, eq. 2a-2b, zero-order hold
    for A, Euler for B, as llama.cpp's ggml_ssm_scan). dt, x: [B, T, Di]; A: [Di, N]; Bm, Cm: [B, T, N]
    -> y [B, T, Di]. A loop over time on small [B, Di, N] states (cheaper here than materialising
    [B, T, Di, N] for a parallel scan)."""
    h = torch.zeros(dt.shape[0], dt.shape[2], A.shape[1])
    ys = []
    for dt_t, x_t, b_t, c_t in zip(dt.unbind(1), x.unbind(1), Bm.unbind(1), Cm.unbind(1)):
        h = torch.addcmul((dt_t * x_t)[..., None] * b_t[:, None, :], torch.exp(dt_t[..., None] * A), h)
        ys.append((h @ c_t[..., None]).squeeze(-1))
    return torch.stack(ys, dim=1)


def mamba_mixer(m, h, p, norms):
    c = m.cfg
    Di, N, R = c.d_inner, c.d_state, c.dt_rank
    T = h.shape[1]
    xi, z = m.linear(h, p + "ssm_in.weight").split(Di, dim=-1)  # [B, T, Di] each
    w = m.W(p + "ssm_conv1d.weight")  # [Di, K]: causal depthwise conv, left padding K-1
    xc = F.conv1d(xi.transpose(1, 2), w.unsqueeze(1), m.W(p + "ssm_conv1d.bias"), padding=c.d_conv - 1,
                  groups=Di)[..., :T].transpose(1, 2)
    xc = F.silu(xc)
    dt, Bm, Cm = m.linear(xc, p + "ssm_x.weight").split([R, N, N], dim=-1)
    if norms:  # Jamba's extra RMSNorms on dt, B and C (Lieber et al. 2024, section 3.1)
        dt, Bm, Cm = m.rms(dt, p + "ssm_dt_norm.weight"), m.rms(Bm, p + "ssm_b_norm.weight"), m.rms(
            Cm, p + "ssm_c_norm.weight")
    dt = F.softplus(m.linear(dt, p + "ssm_dt.weight", p + "ssm_dt.bias"))  # [B, T, Di]
    A = -torch.exp(m.W(p + "ssm_a_log"))  # [Di, N]
    y = selective_scan(dt, A, xc, Bm, Cm)
    y = (y + xc * m.W(p + "ssm_d")) * F.silu(z)
    return m.linear(y, p + "ssm_out.weight")


class Mamba(GgufModule):
    def __init__(self, cfg, seed):
        super().__init__(cfg, seed)
        E = cfg.n_embd
        self.add("token_embd.weight", (cfg.n_vocab, E))
        for i in range(cfg.n_layer):
            p = f"blk.{i}."
            self.add(p + "attn_norm.weight", (E,), "ones")
            add_mamba(self, p, norms=False)
        self.add("output_norm.weight", (E,), "ones")
        self.add("output.weight", (cfg.n_vocab, E))

    def forward(self, ids):
        x = F.embedding(ids, self.W("token_embd.weight"))
        for i in range(self.cfg.n_layer):
            p = f"blk.{i}."
            x = x + mamba_mixer(self, self.rms(x, p + "attn_norm.weight"), p, norms=False)
        return self.head(self.rms(x, "output_norm.weight"))


# ----------------------------------------------------------------------------------------------- jamba

class Jamba(GgufModule):
    """Jamba (Lieber et al. 2024): Mamba layers with one attention layer in eight (no RoPE), an FFN after
    every mixer, and every other FFN a mixture of experts with top-k routing (Shazeer et al. 2017)."""

    def __init__(self, cfg, seed):
        super().__init__(cfg, seed)
        E = cfg.n_embd
        self.add("token_embd.weight", (cfg.n_vocab, E))
        for i in range(cfg.n_layer):
            p = f"blk.{i}."
            self.add(p + "attn_norm.weight", (E,), "ones")
            if i in cfg.attn_layers:
                add_attention(self, p)
            else:
                add_mamba(self, p, norms=True)
            self.add(p + "ffn_norm.weight", (E,), "ones")
            if i in cfg.moe_layers:
                X, Fd = cfg.n_expert, cfg.n_ff
                self.add(p + "ffn_gate_inp.weight", (X, E))
                self.add(p + "ffn_gate_exps.weight", (X, Fd, E))
                self.add(p + "ffn_down_exps.weight", (X, E, Fd), std=std_out(cfg))
                self.add(p + "ffn_up_exps.weight", (X, Fd, E))
            else:
                add_swiglu(self, p)
        self.add("output_norm.weight", (E,), "ones")
        self.add("output.weight", (cfg.n_vocab, E))
        self._aux = torch.zeros(())

    def moe(self, h, p):
        """Router softmax, top-k, weights not renormalised (llama.cpp's jamba graph). h: [B, T, E]."""
        c = self.cfg
        x = h.reshape(-1, h.shape[-1])  # [BT, E]
        probs = F.softmax(self.linear(x, p + "ffn_gate_inp.weight"), dim=-1)  # [BT, X]
        top_p, top_i = probs.topk(c.n_expert_used, dim=-1)  # [BT, k]
        out = torch.zeros_like(x)
        gate, up, down = (self.W(p + f"ffn_{n}_exps.weight") for n in ("gate", "up", "down"))
        for e in range(c.n_expert):
            rows, slot = (top_i == e).nonzero(as_tuple=True)
            if rows.numel() == 0:
                continue
            xe = x[rows]
            ye = F.linear(F.silu(F.linear(xe, gate[e])) * F.linear(xe, up[e]), down[e])
            out = out.index_add(0, rows, ye * top_p[rows, slot, None])
        # Switch Transformer load-balancing loss (Fedus et al. 2021, eq. 4): X * sum_e f_e * P_e
        frac = F.one_hot(top_i, c.n_expert).float().sum(1).mean(0) / c.n_expert_used
        self._aux = self._aux + c.n_expert * (frac * probs.mean(0)).sum()
        return out.view_as(h)

    def forward(self, ids):
        c = self.cfg
        self._aux = torch.zeros(())
        x = F.embedding(ids, self.W("token_embd.weight"))
        for i in range(c.n_layer):
            p = f"blk.{i}."
            h = self.rms(x, p + "attn_norm.weight")
            x = x + (attention(self, h, p, rope=False) if i in c.attn_layers else mamba_mixer(self, h, p, True))
            h = self.rms(x, p + "ffn_norm.weight")
            x = x + (self.moe(h, p) if i in c.moe_layers else self.swiglu(h, p))
        return self.head(self.rms(x, "output_norm.weight"))

    def aux_loss(self):
        return self._aux / max(1, len(self.cfg.moe_layers))


# ----------------------------------------------------------------------------------------------- rwkv7

def token_shift(x):
    """The previous token's vector (zeros before the first). x: [B, T, E]."""
    return F.pad(x, (0, 0, 1, -1))


class Rwkv7(GgufModule):
    """RWKV-7 "Goose" (Peng et al. 2025): time mixing with the generalised delta rule and a ReLU^2 channel
    mix, following llama.cpp's rwkv7 graph (its decay is exp(-e^-0.5 sigmoid(w)), eq. 11 of the paper)."""

    def __init__(self, cfg, seed):
        super().__init__(cfg, seed)
        E, L = cfg.n_embd, cfg.n_layer
        self.add("token_embd.weight", (cfg.n_vocab, E))
        self.add("token_embd_norm.weight", (E,), "ones")
        self.add("token_embd_norm.bias", (E,), "zeros")
        for i in range(L):
            p = f"blk.{i}."
            r01 = i / max(1, L - 1)
            r1to0 = 1 - i / L
            for n in ("attn_norm", "attn_norm_2", "time_mix_ln"):
                self.add(p + n + ".weight", (E,), "ones")
                self.add(p + n + ".bias", (E,), "zeros")
            # the official init (RWKV-LM x070): token-shift mixes fall with depth, decays spread per channel
            ddd = torch.arange(E, dtype=torch.float32) / E
            mix = [1 - ddd ** (0.2 * r1to0), 1 - ddd ** (0.9 * r1to0), 1 - ddd ** (0.7 * r1to0),
                   1 - ddd ** (0.7 * r1to0), 1 - ddd ** (0.9 * r1to0), 1 - ddd ** (0.2 * r1to0)]  # r w k v a g
            self.add(p + "time_mix_lerp_fused.weight", (6, 1, 1, E), value=torch.stack(mix))
            n = torch.arange(E, dtype=torch.float32)
            decay = -7 + 5 * (n / (E - 1)) ** (0.85 + 1.0 * r01 ** 0.5)
            self.add(p + "time_mix_w0.weight", (E,), value=decay + 0.5)
            self.add(p + "time_mix_w1.weight", (cfg.lora_decay, E), std=0.01)
            self.add(p + "time_mix_w2.weight", (E, cfg.lora_decay), "zeros")
            self.add(p + "time_mix_a0.weight", (E,), "zeros")
            self.add(p + "time_mix_a1.weight", (cfg.lora_iclr, E), std=0.01)
            self.add(p + "time_mix_a2.weight", (E, cfg.lora_iclr), "zeros")
            rv = cfg.lora_iclr if i == 0 else cfg.lora_value  # llama.cpp reads v0..v2 on every layer
            self.add(p + "time_mix_v0.weight", (E,), "ones")
            self.add(p + "time_mix_v1.weight", (rv, E), std=0.01)
            self.add(p + "time_mix_v2.weight", (E, rv), "zeros")
            self.add(p + "time_mix_g1.weight", (cfg.lora_gate, E), std=0.02)
            self.add(p + "time_mix_g2.weight", (E, cfg.lora_gate), std=0.1 / math.sqrt(cfg.lora_gate))
            self.add(p + "time_mix_k_k.weight", (E,), value=torch.full((E,), 0.85))
            self.add(p + "time_mix_k_a.weight", (E,), "ones")
            self.add(p + "time_mix_r_k.weight", (E,), value=torch.full((E,), -0.04))
            for nm in ("key", "value", "receptance"):
                self.add(p + f"time_mix_{nm}.weight", (E, E))
            self.add(p + "time_mix_output.weight", (E, E), std=std_out(cfg))
            self.add(p + "channel_mix_lerp_k.weight", (E,), value=1 - ddd ** (r1to0 ** 4))
            self.add(p + "channel_mix_key.weight", (cfg.n_ff, E))
            self.add(p + "channel_mix_value.weight", (E, cfg.n_ff), std=std_out(cfg))
        self.add("output_norm.weight", (E,), "ones")
        self.add("output_norm.bias", (E,), "zeros")
        self.add("output.weight", (cfg.n_vocab, E))

    def time_mix(self, x, p, v_first):
        c = self.cfg
        B, T, E = x.shape
        H, D = E // c.head_size, c.head_size
        sx = token_shift(x) - x
        lerp = self.W(p + "time_mix_lerp_fused.weight").view(6, E)
        xr, xw, xk, xv, xa, xg = (x + sx * lerp[j] for j in range(6))
        r = self.linear(xr, p + "time_mix_receptance.weight")
        w = self.W(p + "time_mix_w0.weight") + self.linear(torch.tanh(self.linear(xw, p + "time_mix_w1.weight")),
                                                          p + "time_mix_w2.weight")
        w = torch.exp(-0.606531 * torch.sigmoid(w))  # decay in (0.545, 1)
        k = self.linear(xk, p + "time_mix_key.weight")
        v = self.linear(xv, p + "time_mix_value.weight")
        if v_first is None:
            v_first = v
        else:  # value residual: v <- v + (v_first - v) * sigmoid(v0 + lora(xv))
            mix = torch.sigmoid(self.W(p + "time_mix_v0.weight") + self.linear(
                self.linear(xv, p + "time_mix_v1.weight"), p + "time_mix_v2.weight"))
            v = v + (v_first - v) * mix
        g = self.linear(torch.sigmoid(self.linear(xg, p + "time_mix_g1.weight")), p + "time_mix_g2.weight")
        a = torch.sigmoid(self.W(p + "time_mix_a0.weight") + self.linear(
            self.linear(xa, p + "time_mix_a1.weight"), p + "time_mix_a2.weight"))  # in-context learning rate
        kk = F.normalize((k * self.W(p + "time_mix_k_k.weight")).view(B, T, H, D), dim=-1, eps=1e-12)
        ka = k * self.W(p + "time_mix_k_a.weight")
        k = k + a * ka - ka
        rh, wh, kh, vh, ah = (z.view(B, T, H, D) for z in (r, w, k, v, a))
        out = wkv7(rh, wh, kh, vh, -kk, kk * ah)  # [B, T, H, D]
        y = F.group_norm(out.reshape(B * T, E), H, self.W(p + "time_mix_ln.weight"), self.W(p + "time_mix_ln.bias"),
                         eps=64e-5).view(B, T, E)
        rk = (kh * rh * self.W(p + "time_mix_r_k.weight").view(H, D)).sum(-1, keepdim=True)  # [B, T, H, 1]
        y = y + (vh * rk).reshape(B, T, E)
        return self.linear(y * g, p + "time_mix_output.weight"), v_first

    def channel_mix(self, x, p):
        sx = token_shift(x) - x
        xk = x + sx * self.W(p + "channel_mix_lerp_k.weight")
        return self.linear(F.relu(self.linear(xk, p + "channel_mix_key.weight")).square(),
                           p + "channel_mix_value.weight")

    def forward(self, ids):
        x = self.layer_norm(F.embedding(ids, self.W("token_embd.weight")), "token_embd_norm")
        v_first = None
        for i in range(self.cfg.n_layer):
            p = f"blk.{i}."
            dx, v_first = self.time_mix(self.layer_norm(x, p + "attn_norm"), p, v_first)
            x = x + dx
            x = x + self.channel_mix(self.layer_norm(x, p + "attn_norm_2"), p)
        return self.head(self.layer_norm(x, "output_norm"))


def wkv7(r, w, k, v, a, b):
    """The RWKV-7 state update (generalised delta rule), per head with state S [D_value, D_key]:
    S_t = S_{t-1} diag(w_t) + (S_{t-1} a_t) b_t^T + v_t k_t^T ;  y_t = S_t r_t.  All inputs [B, T, H, D]."""
    Bn, T, H, D = r.shape
    S = torch.zeros(Bn, H, D, D)
    ys = []
    for r_t, w_t, k_t, v_t, a_t, b_t in zip(*(z.unbind(1) for z in (r, w, k, v, a, b))):  # each [B, H, D]
        sa = (S @ a_t[..., None]).squeeze(-1)  # S a: [B, H, D_value]
        S = S * w_t[:, :, None, :] + sa[..., None] * b_t[:, :, None, :] + v_t[..., None] * k_t[:, :, None, :]
        ys.append((S @ r_t[..., None]).squeeze(-1))
    return torch.stack(ys, dim=1)


ARCHS = {"llama": Llama, "mamba": Mamba, "rwkv7": Rwkv7, "jamba": Jamba}


def build(cfg: Config, seed: int) -> GgufModule:
    return ARCHS[cfg.arch](cfg, seed)


def count(model: GgufModule):
    """(total, active) parameters, with ssm_a_log counted as ssm_a. Active counts n_expert_used of n_expert
    experts in each MoE layer, as the playground's calculator does."""
    c = model.cfg
    total = active = 0
    for name, p in model.named_gguf():
        n = p.numel()
        total += n
        active += n * c.n_expert_used // c.n_expert if "_exps." in name else n
    return total, active
