//! Every `shaders/*.wgsl` parses and validates with naga, with no GPU, and every file is a registered
//! kernel whose entry point has the kernel's name.
#![cfg(not(target_arch = "wasm32"))]

use archrace_gpu::Kernel;
use std::path::PathBuf;

fn shader_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shaders")
}

/// What core WebGPU guarantees: `unpack2x16float` and friends, nothing optional. A kernel that needs
/// `shader-f16` or subgroups fails here, so it must come as a variant with a portable twin.
const CORE_WEBGPU: naga::valid::Capabilities = naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32;

fn validate(name: &str, source: &str) -> naga::Module {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}: WGSL parse error:\n{}", e.emit_to_string(source)));
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), CORE_WEBGPU)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: validation error:\n{}", e.emit_to_string(source)));
    module
}

#[test]
fn every_wgsl_file_validates_without_a_gpu() {
    let mut files: Vec<_> = std::fs::read_dir(shader_dir())
        .expect("shaders/ folder")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wgsl"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no shaders found in {}", shader_dir().display());
    for path in files {
        let source = std::fs::read_to_string(&path).unwrap();
        validate(&path.display().to_string(), &source);
    }
}

#[test]
fn every_wgsl_file_is_a_registered_kernel_with_its_entry_point() {
    for entry in std::fs::read_dir(shader_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "wgsl") {
            continue;
        }
        let stem = path.file_stem().unwrap().to_str().unwrap();
        let kernel = Kernel::ALL
            .iter()
            .find(|k| k.name() == stem)
            .unwrap_or_else(|| panic!("{stem}.wgsl is not listed in archrace_gpu::Kernel::ALL"));
        let module = validate(stem, kernel.source());
        assert!(
            module.entry_points.iter().any(|e| e.name == kernel.name()),
            "{stem}.wgsl has no entry point named {stem}"
        );
    }
}
