//! The one table of WGSL sources. Kernels are plain WGSL in the top-level `shaders/` folder; a kernel's
//! source is its file joined with the shared pieces it needs (`shaders/lib/`), prelude first. This file is
//! the only place that names those paths.

use archrace_gguf::GgmlType;

/// Every kernel archrace compiles. Its name is its WGSL file's stem and its CPU twin's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kernel {
    /// `y = W x` for one weight encoding (`shaders/matvec_<type>.wgsl` + `lib/matvec.wgsl`).
    Matvec(GgmlType),
}

macro_rules! shader {
    ($file:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shaders/", $file))
    };
}

const PACKED: &str = shader!("lib/packed.wgsl");
const MATVEC_BODY: &str = shader!("lib/matvec.wgsl");

impl Kernel {
    /// All kernels, for validation and pipeline warm-up.
    pub fn all() -> Vec<Kernel> {
        GgmlType::ALL.iter().map(|&t| Kernel::Matvec(t)).collect()
    }

    /// The kernel's name: its file stem (`matvec_q4_k`), and its CPU twin's.
    pub fn name(self) -> String {
        match self {
            Kernel::Matvec(t) => format!("matvec_{}", t.name().to_lowercase()),
        }
    }

    /// The WGSL entry point.
    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::Matvec(_) => "matvec",
        }
    }

    /// The kernel's own file.
    fn file(self) -> &'static str {
        match self {
            Kernel::Matvec(t) => match t {
                GgmlType::F32 => shader!("matvec_f32.wgsl"),
                GgmlType::F16 => shader!("matvec_f16.wgsl"),
                GgmlType::BF16 => shader!("matvec_bf16.wgsl"),
                GgmlType::Q8_0 => shader!("matvec_q8_0.wgsl"),
                GgmlType::Q4_0 => shader!("matvec_q4_0.wgsl"),
                GgmlType::Q4_1 => shader!("matvec_q4_1.wgsl"),
                GgmlType::Q5_0 => shader!("matvec_q5_0.wgsl"),
                GgmlType::Q5_1 => shader!("matvec_q5_1.wgsl"),
                GgmlType::Q4_K => shader!("matvec_q4_k.wgsl"),
                GgmlType::Q5_K => shader!("matvec_q5_k.wgsl"),
                GgmlType::Q6_K => shader!("matvec_q6_k.wgsl"),
            },
        }
    }

    /// The complete WGSL source: shared prelude, the kernel's file, the shared body.
    pub fn source(self) -> String {
        match self {
            Kernel::Matvec(_) => [PACKED, self.file(), MATVEC_BODY].join("\n"),
        }
    }
}
