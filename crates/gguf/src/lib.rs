//! GGUF support for archrace: quantization block layouts and their CPU (de)quantization.
//!
//! Block layouts follow ggml (`ggml-common.h`) byte for byte, so tensor bytes from a GGUF file can be
//! viewed in place (`bytemuck::cast_slice`) and uploaded to the GPU as they are.

pub mod quant;

pub use quant::q8_0::{BlockQ8_0, QK8_0};
