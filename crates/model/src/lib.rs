//! The single description of every archrace model, shared by the CPU oracle, the GPU runtime, the CLI and
//! the playground: a [`ModelSpec`] built from GGUF metadata, the model's tensors found and shape-checked
//! ([`ModelWeights`]), and the shapes of its decode state.

pub mod calc;
pub mod config;
pub mod error;
pub mod link;
pub mod meta;
pub mod presets;
pub mod race;
pub mod rng;
pub mod sample;
pub mod spec;
pub mod state_spec;
pub mod tokenizer;
pub mod weights;

pub use calc::{KvType, MemoryReport};
pub use error::ModelError;
pub use rng::SplitMix64;
pub use sample::{Sampler, SamplerConfig};
pub use spec::{Arch, AttnSpec, Ffn, LayerSpec, MambaSpec, Mixer, ModelSpec, Norm, RopeSpec, RwkvSpec};
pub use state_spec::{LayerStateSpec, StateSpec};
pub use tokenizer::{StreamDecoder, Tokenizer, TokenizerKind};
pub use weights::{
    FfnWeights, LayerWeights, MixerWeights, ModelWeights, NormWeights, Rwkv6Weights, Rwkv7Weights, RwkvCommon, Tensor,
};
