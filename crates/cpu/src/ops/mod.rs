//! One module per kernel, named like the kernel's WGSL file in `shaders/`.

pub mod matvec_q8_0;
