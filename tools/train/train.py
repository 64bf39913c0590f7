"""Training and validation of one model (same data, order and schedule for every architecture)."""
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from archs import build, count
from configs import TRAIN


def batches(train_ids, ctx, batch, steps, seed):
    """The same [batch, ctx + 1] windows for every model: offsets drawn from one seeded generator."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        offs = rng.integers(0, len(train_ids) - ctx - 1, size=batch)
        yield torch.from_numpy(np.stack([train_ids[o:o + ctx + 1] for o in offs]).astype(np.int64))


def lr_at(step):
    t = TRAIN
    if step < t["warmup"]:
        return t["lr"] * (step + 1) / t["warmup"]
    progress = (step - t["warmup"]) / max(1, t["steps"] - t["warmup"])
    return t["min_lr"] + 0.5 * (t["lr"] - t["min_lr"]) * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(model, val_ids, tok_bytes, ctx):
    """Mean loss (nats/token) and bits per byte over the first eval_windows windows of the validation text."""
    n = min(TRAIN["eval_windows"], (len(val_ids) - 1) // ctx)
    x = torch.from_numpy(np.stack([val_ids[i * ctx:(i + 1) * ctx + 1] for i in range(n)]).astype(np.int64))
    nll = 0.0
    for chunk in x.split(16):
        logits = model(chunk[:, :-1])
        nll += F.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1), reduction="sum").item()
    tokens = x[:, 1:].numel()
    n_bytes = int(np.asarray(tok_bytes)[x[:, 1:].numpy()].sum())
    return {"val_loss": nll / tokens, "val_tokens": tokens, "val_bytes": n_bytes,
            "bits_per_byte": nll / math.log(2) / n_bytes, "ppl_per_byte": math.exp(nll / n_bytes)}


def train(name, cfg, train_ids, val_ids, tok_bytes, log):
    t = TRAIN
    torch.manual_seed(t["init_seed"])
    model = build(cfg, t["init_seed"])
    decay = [p for n, p in model.params.items() if p.dim() >= 2 and "lerp" not in n]
    rest = [p for n, p in model.params.items() if not (p.dim() >= 2 and "lerp" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": t["weight_decay"]}, {"params": rest, "weight_decay": 0.0}],
                            lr=t["lr"], betas=t["betas"])
    start = time.time()
    seen = 0
    for step, xy in enumerate(batches(train_ids, cfg.n_ctx, t["batch"], t["steps"], t["data_seed"])):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        logits = model(xy[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, cfg.n_vocab), xy[:, 1:].reshape(-1))
        total = loss + t["aux_loss"] * model.aux_loss()
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
        opt.step()
        seen += xy[:, 1:].numel()
        if step % 16 == 0 or step == t["steps"] - 1:
            log(f"{name} step {step:4d}  loss {loss.item():.3f}  lr {lr_at(step):.2e}  {time.time() - start:6.0f} s")
    train_s = time.time() - start
    model.eval()
    metrics = evaluate(model, val_ids, tok_bytes, cfg.n_ctx)
    total_p, active_p = count(model)
    metrics.update(train_loss_last=loss.item(), train_s=train_s, tokens_seen=seen, params_total=total_p,
                   params_active=active_p, torch=torch.__version__, threads=torch.get_num_threads())
    log(f"{name}: val loss {metrics['val_loss']:.3f}, {metrics['bits_per_byte']:.3f} bits/byte, {train_s:.0f} s")
    return model, metrics
