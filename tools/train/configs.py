"""The four demo models and how they are trained: one place for every number in the model cards.

Budgets are matched on active parameters (embeddings and output included): llama 2.16M, mamba 2.21M,
rwkv7 2.15M, jamba 2.22M active of 3.59M total (`python main.py params` prints them)."""
from archs import Config

VOCAB = 4096
CTX = 128  # training window (tokens)
E = 128

MODELS = {
    # Transformer: 6 layers, 4 query heads of 32 sharing 2 KV heads (GQA), SwiGLU 352, RoPE.
    "llama": Config("llama", VOCAB, E, 6, CTX, n_head=4, n_head_kv=2, n_ff=352),
    # Mamba-1: 10 layers, expand 2 (d_inner 256), d_state 16, d_conv 4, dt_rank 8 (E/16).
    "mamba": Config("mamba", VOCAB, E, 10, CTX, d_inner=256, dt_rank=8),
    # RWKV-7: 5 layers, 2 heads of 64, channel mix 512 (4E), LoRA ranks decay/iclr/value 16, gate 32.
    "rwkv7": Config("rwkv7", VOCAB, E, 5, CTX, n_ff=512),
    # Jamba: 8 layers, attention at layer 4 (one in eight, no RoPE; 4 heads / 2 KV heads), Mamba elsewhere;
    # an FFN after every mixer, MoE on layers 1, 3, 5, 7 with 16 experts, top-2; FFN width 64.
    "jamba": Config("jamba", VOCAB, E, 8, CTX, n_head=4, n_head_kv=2, n_ff=64, d_inner=256, dt_rank=8, eps=1e-6,
                    attn_layers=(4,), moe_layers=(1, 3, 5, 7), n_expert=16, n_expert_used=2),
}

# Training, the same for all four: the same batches in the same order (one seed), AdamW, cosine schedule.
TRAIN = dict(
    steps=320,
    batch=16,
    lr=3e-3,
    min_lr=3e-4,
    warmup=16,
    weight_decay=0.1,
    betas=(0.9, 0.95),
    grad_clip=1.0,
    aux_loss=0.01,  # Jamba's load-balancing loss weight
    data_seed=1234,
    init_seed=42,
    threads=2,
    eval_windows=48,  # validation: this many non-overlapping windows of CTX tokens
)
