//! Errors of turning a GGUF file into a model description.

use archrace_gguf::GgufError;
use std::fmt;

/// A GGUF that is not a model archrace can run, and why.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelError {
    /// The file itself is malformed.
    Gguf(GgufError),
    /// `general.architecture` is not one of llama, mamba, rwkv6, rwkv7, jamba.
    UnknownArchitecture(String),
    /// A metadata value that is out of range or inconsistent.
    BadMetadata {
        /// The key.
        key: String,
        /// Why it is wrong.
        reason: String,
    },
    /// A tensor whose shape disagrees with the metadata.
    ShapeMismatch {
        /// Tensor name.
        tensor: String,
        /// Dimensions the metadata calls for (ggml order).
        expected: Vec<u64>,
        /// Dimensions in the file.
        found: Vec<u64>,
    },
    /// A weight (or a quantized block's scale) that is NaN or infinite.
    NonFinite {
        /// Tensor name.
        tensor: String,
        /// Index of the first such element (the first element of the block, for a scale).
        index: usize,
    },
    /// A figure (bytes or parameters) too large for 64 bits: an absurd configuration or context.
    TooLarge {
        /// What it is.
        what: String,
    },
    /// A user setting out of its range.
    BadSetting {
        /// The setting, as the CLI flag names it.
        name: &'static str,
        /// Why it is wrong.
        reason: String,
    },
    /// A tokenizer that does not fit the model.
    VocabMismatch {
        /// Tokens in the tokenizer.
        tokenizer: usize,
        /// Rows of the model's embedding.
        model: usize,
    },
    /// Logits that hold a NaN or an infinity: the activations overflowed f32 at run time (weights or
    /// inputs the load-time checks let through, such as huge but finite norm weights).
    NonFiniteLogits {
        /// The position whose logits they are.
        position: usize,
    },
    /// A token id outside the vocabulary.
    TokenOutOfRange {
        /// The id.
        token: u32,
        /// Vocabulary size.
        n_vocab: usize,
    },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Gguf(e) => e.fmt(f),
            ModelError::UnknownArchitecture(a) => {
                write!(f, "unknown architecture {a:?}: archrace runs llama, mamba, rwkv6, rwkv7 and jamba GGUF models")
            }
            ModelError::BadMetadata { key, reason } => write!(f, "metadata {key:?}: {reason}"),
            ModelError::ShapeMismatch { tensor, expected, found } => {
                write!(f, "tensor {tensor:?} has shape {found:?}, but the metadata implies {expected:?}")
            }
            ModelError::NonFinite { tensor, index } => {
                write!(f, "tensor {tensor:?} holds a NaN or an infinity at element {index}: the file is corrupt")
            }
            ModelError::BadSetting { name, reason } => write!(f, "{name}: {reason}"),
            ModelError::VocabMismatch { tokenizer, model } => write!(
                f,
                "the tokenizer has {tokenizer} tokens but the model's embedding has {model} rows; \
                 they must be equal (as llama.cpp requires)"
            ),
            ModelError::TooLarge { what } => write!(f, "{what} does not fit in 64 bits"),
            ModelError::NonFiniteLogits { position } => write!(
                f,
                "the logits at position {position} hold a NaN or an infinity: the activations overflowed \
                 (the model's weights produce values beyond what f32 can carry)"
            ),
            ModelError::TokenOutOfRange { token, n_vocab } => {
                write!(f, "token id {token} is outside the vocabulary of {n_vocab}")
            }
        }
    }
}

impl std::error::Error for ModelError {}

impl From<GgufError> for ModelError {
    fn from(e: GgufError) -> Self {
        ModelError::Gguf(e)
    }
}
