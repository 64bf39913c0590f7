"""GGUF export in llama.cpp's conventions (tensor names, metadata keys, quant blocks via gguf-py)."""
import copy

import gguf
import numpy as np
import torch
from gguf import GGMLQuantizationType as QT
from gguf import GGUFWriter, quants

import bpe

# Tensors llama.cpp keeps in F32 whatever the file type (llama-quant.cpp's tensor_allows_quantization):
# norms, the MoE router, the conv1d kernel, and RWKV's small LoRA and lerp tensors.
NO_QUANT = ("_norm.weight", "ffn_gate_inp.weight", "ssm_conv1d", "time_mix_w0.", "time_mix_w1.", "time_mix_w2.",
            "time_mix_v0.", "time_mix_v1.", "time_mix_v2.", "time_mix_a0.", "time_mix_a1.", "time_mix_a2.",
            "time_mix_g1.", "time_mix_g2.", "time_mix_lerp_fused.")
QTYPES = {"f32": QT.F32, "q8_0": QT.Q8_0, "q4_0": QT.Q4_0}
FILE_TYPES = {"f32": gguf.LlamaFileType.ALL_F32, "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
              "q4_0": gguf.LlamaFileType.MOSTLY_Q4_0}
LICENSE = "MIT OR Apache-2.0"
NAME = "shakespeare-2m"  # general.name: the lane title shows "<arch> · <name>"


def tensors(model):
    """(gguf name, float32 numpy array) in file order; A_log becomes llama.cpp's ssm_a = -exp(A_log)."""
    out = []
    for name, p in model.named_gguf():
        a = p.detach().float().numpy()
        if name.endswith("ssm_a_log"):
            name, a = name[:-len("_log")], -np.exp(a)
        out.append((name, np.ascontiguousarray(a, dtype=np.float32)))
    return out


def quantizes(name, a, qtype):
    ndim = sum(1 for d in a.shape if d > 1) if a.ndim > 2 else a.ndim
    return (qtype != QT.F32 and ndim >= 2 and name.endswith("weight") and not any(x in name for x in NO_QUANT)
            and a.shape[-1] % gguf.GGML_QUANT_SIZES[qtype][0] == 0)


def metadata(w, cfg):
    c = cfg
    w.add_context_length(1048576 if c.arch == "rwkv7" else c.n_ctx)
    w.add_embedding_length(c.n_embd)
    w.add_block_count(c.n_layer)
    w.add_vocab_size(c.n_vocab)
    if c.arch in ("llama", "jamba"):
        w.add_feed_forward_length(c.n_ff)
        w.add_head_count(c.n_head)
    if c.arch == "llama":
        w.add_head_count_kv(c.n_head_kv)
        w.add_rope_dimension_count(c.n_embd // c.n_head)
        w.add_rope_freq_base(c.rope_base)
    if c.arch in ("mamba", "jamba"):
        w.add_ssm_conv_kernel(c.d_conv)
        w.add_ssm_inner_size(c.d_inner)
        w.add_ssm_state_size(c.d_state)
        w.add_ssm_time_step_rank(c.dt_rank)
    if c.arch == "mamba":
        w.add_feed_forward_length(0)
        w.add_head_count(0)
        w.add_ssm_dt_b_c_rms(False)
    if c.arch == "jamba":
        w.add_head_count_kv([c.n_head_kv if i in c.attn_layers else 0 for i in range(c.n_layer)])  # 0 = Mamba
        w.add_expert_count(c.n_expert)
        w.add_expert_used_count(c.n_expert_used)
    if c.arch == "rwkv7":
        w.add_feed_forward_length(c.n_ff)
        w.add_layer_norm_eps(c.eps)
        w.add_wkv_head_size(c.head_size)
        w.add_head_count(0)
        w.add_decay_lora_rank(c.lora_decay)
        w.add_iclr_lora_rank(c.lora_iclr)
        w.add_value_residual_mix_lora_rank(c.lora_value)
        w.add_gate_lora_rank(c.lora_gate)
        w.add_token_shift_count(2)
    else:
        w.add_layer_norm_rms_eps(c.eps)


def write(model, tok, kind, path, description):
    """Write `model` as a GGUF of `kind` (f32, q8_0, q4_0) with the BPE vocabulary."""
    qtype = QTYPES[kind]
    w = GGUFWriter(str(path), model.cfg.arch)
    w.add_name(NAME)
    w.add_description(description)
    w.add_license(LICENSE)
    w.add_file_type(FILE_TYPES[kind])
    tokens, merges, eot = bpe.vocab(tok)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(tokens)
    w.add_token_types([gguf.TokenType.CONTROL if i == eot else gguf.TokenType.NORMAL for i in range(len(tokens))])
    w.add_token_merges(merges)
    w.add_bos_token_id(eot)
    w.add_eos_token_id(eot)
    w.add_add_bos_token(False)
    metadata(w, model.cfg)
    for name, a in tensors(model):
        if quantizes(name, a, qtype):
            w.add_tensor(name, quants.quantize(a, qtype), raw_shape=quants.quant_shape_to_byte_shape(a.shape, qtype),
                         raw_dtype=qtype)
        else:
            w.add_tensor(name, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def as_stored(model, kind):
    """A copy of `model` whose weights are exactly what the `kind` file holds (quantized, then dequantized),
    so that its torch forward pass is the reference for that file."""
    qtype = QTYPES[kind]
    m = copy.deepcopy(model)
    with torch.no_grad():
        for name, p in m.named_gguf():
            a = p.detach().float().numpy()
            gname = name[:-len("_log")] if name.endswith("ssm_a_log") else name
            if quantizes(gname, a, qtype):
                p.copy_(torch.from_numpy(quants.dequantize(quants.quantize(a, qtype), qtype).reshape(a.shape)))
    return m
