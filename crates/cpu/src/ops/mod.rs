//! One module per kernel family, named like the kernels' WGSL files in `shaders/`.

pub mod act;
pub mod attention;
pub mod kv;
pub mod mamba;
pub mod matmul;
pub mod matvec_q8_0;
pub mod moe;
pub mod norm;
pub mod pointwise;
pub mod rope;
