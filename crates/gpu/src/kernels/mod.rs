//! Host side of each kernel family: pipeline creation, bindings, dispatch shape. One module per family.

pub mod matmul;
pub mod matvec;
pub mod oneshot;
pub mod params;
