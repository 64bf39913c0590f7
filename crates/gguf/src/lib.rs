//! GGUF for archrace: reading (zero-copy, from a byte slice) and writing GGUF v2/v3 files, the ggml tensor
//! types, their block layouts and CPU dequantization bit-exact to llama.cpp.
//!
//! Block layouts follow ggml (`ggml-common.h`) byte for byte, so tensor bytes from a GGUF file can be
//! viewed in place (`bytemuck::cast_slice`) and uploaded to the GPU as they are.

pub mod error;
pub mod ggml_type;
pub mod quant;
pub mod reader;
pub mod value;
pub mod writer;

pub use error::GgufError;
pub use ggml_type::GgmlType;
pub use quant::dequantize;
pub use quant::q8_0::{BlockQ8_0, QK8_0};
pub use reader::{Gguf, TensorInfo};
pub use value::{Array, Strings, Value};
pub use writer::GgufWriter;
