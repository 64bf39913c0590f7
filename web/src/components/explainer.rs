//! "What am I looking at": one paragraph per architecture, for a curious engineer.

use leptos::prelude::*;

/// The paragraph for an architecture (`llama`, `mamba`, `rwkv6`, `rwkv7`, `jamba`).
pub fn explain(arch: &str) -> &'static str {
    match arch {
        "llama" => {
            "A Transformer: every layer is self-attention plus a SwiGLU feed-forward. Each new token attends \
             to every token before it, so the keys and values of all past tokens stay in a KV cache that grows \
             with every token, and each step reads all of it: memory and time per token rise with the context."
        }
        "mamba" => {
            "Mamba: a selective state-space model. Each layer folds the past into a fixed-size state (a short \
             convolution window and a d_inner × d_state matrix) whose update depends on the input, so the model \
             chooses what to keep. Memory and time per token stay flat however long the context gets."
        }
        "rwkv6" | "rwkv7" => {
            "RWKV: a recurrent network trained like a Transformer. Time-mix updates a per-head matrix state \
             with a learned, data-dependent decay (RWKV-7 adds an in-context learning rate), and channel-mix \
             is a feed-forward on the current and previous token. The state has a fixed size: flat memory and \
             flat time per token."
        }
        "jamba" => {
            "Jamba: a hybrid. Most layers are Mamba; one in eight is attention, so the KV cache grows at about \
             an eighth of a Transformer's rate. Every other feed-forward is a mixture of experts (16 experts, \
             top-2 routing in the paper): only the chosen experts run, so the parameters a token uses are a \
             fraction of those stored."
        }
        _ => "An architecture archrace reads but has no notes for.",
    }
}

/// The explanation as a collapsible block.
#[component]
pub fn Explainer(
    /// The lane's architecture.
    arch: String,
) -> impl IntoView {
    view! {
        <details class="explain">
            <summary>"What am I looking at?"</summary>
            <p>{explain(&arch)}</p>
        </details>
    }
}
