//! Quantization block types, one module per ggml type.

pub mod q8_0;
