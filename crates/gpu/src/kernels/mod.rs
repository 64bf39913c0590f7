//! Host side of each kernel: pipeline creation, bindings, dispatch shape. One module per kernel.

pub mod matvec_q8_0;
