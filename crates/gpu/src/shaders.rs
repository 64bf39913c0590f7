//! The one table of WGSL sources. Every kernel's source is plain WGSL in the top-level `shaders/` folder;
//! this file is the only place that names those paths.

/// Every kernel archrace compiles, named like its WGSL file and entry point and like its CPU twin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// `y = W x` over GGUF Q8_0 blocks.
    MatvecQ8_0,
}

macro_rules! shader {
    ($file:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shaders/", $file))
    };
}

impl Kernel {
    /// All kernels, for validation and pipeline warm-up.
    pub const ALL: &'static [Kernel] = &[Kernel::MatvecQ8_0];

    /// The kernel's name: its WGSL entry point, its file stem and its CPU twin's function name.
    pub fn name(self) -> &'static str {
        match self {
            Kernel::MatvecQ8_0 => "matvec_q8_0",
        }
    }

    /// The complete WGSL source of the kernel.
    pub fn source(self) -> &'static str {
        match self {
            Kernel::MatvecQ8_0 => shader!("matvec_q8_0.wgsl"),
        }
    }
}
