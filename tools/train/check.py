"""Conversion checks: archrace's CPU reference on an exported file against the training framework's own
forward pass on the same tokens, and archrace's tokenizer against the one the model was trained with."""
import json
import subprocess

import numpy as np
import torch

TOLERANCE = 1e-3  # max |ours - torch| / max |torch logit| per position


def archrace(*args):
    out = subprocess.run(["cargo", "run", "--release", "-q", "-p", "archrace-cli", "--", *args], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout)


@torch.no_grad()
def torch_logits(model, ids):
    return model(torch.tensor([ids]))[0].double().numpy()  # [T, V]


def compare(path, model, ids):
    """Worst relative error over positions of archrace's CPU logits for `path` against `model`'s."""
    ours = np.asarray(archrace("logits", str(path), "--tokens", ",".join(map(str, ids)), "--json")["logits"])
    ref = torch_logits(model, ids)
    rel = (np.abs(ours - ref).max(-1) / np.abs(ref).max(-1)).max()
    if not rel <= TOLERANCE:
        raise SystemExit(f"{path}: archrace's CPU logits differ from torch's by {rel:.3e} (> {TOLERANCE})")
    return float(rel), ref


def tokenizer(path, tok, text):
    """archrace's ids for `text` must be the trainer's."""
    ours = archrace("tokenize", str(path), "--text", text, "--json")["ids"]
    theirs = tok.encode(text).ids
    if ours != theirs:
        first = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        raise SystemExit(f"{path}: tokenizations differ at {first}: archrace {ours[first:first + 5]}, "
                         f"tokenizers {theirs[first:first + 5]}")
    return len(ours)


def generate(path, prompt, seed, n, *sampler):
    """`archrace generate` at temperature 0.8 on the CPU, with `sampler` flags over its defaults."""
    return archrace("generate", str(path), "--prompt", prompt, "-n", str(n), "--temp", "0.8", "--seed", str(seed),
                    *sampler, "--json")


def sample(path, prompt, seed, n=48):
    """A card sample: plain temperature sampling (no top-k, top-p or min-p)."""
    return generate(path, prompt, seed, n, "--top-k", "0", "--top-p", "1", "--min-p", "0")["text"]


def generate_ids(path, prompt, seed, n):
    """Token ids with the CLI's default top-k 40, top-p 0.95, min-p 0.05."""
    return generate(path, prompt, seed, n)["ids"]
