//! Every kernel's WGSL parses and validates with naga, with no GPU; every `shaders/*.wgsl` file is a
//! registered kernel, and every kernel has its entry point.
#![cfg(not(target_arch = "wasm32"))]

use archrace_gpu::Kernel;
use std::path::PathBuf;

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
fn every_kernel_validates_without_a_gpu() {
    for kernel in Kernel::all() {
        let module = validate(&kernel.name(), &kernel.source());
        assert!(
            module.entry_points.iter().any(|e| e.name == kernel.entry_point()),
            "{} has no entry point {}",
            kernel.name(),
            kernel.entry_point()
        );
    }
}

#[test]
fn every_wgsl_file_belongs_to_a_kernel() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shaders");
    let names: std::collections::BTreeSet<String> = Kernel::all().iter().map(|k| k.file_stem()).collect();
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).expect("shaders/ folder") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "wgsl") {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
            assert!(names.contains(&stem), "{stem}.wgsl is not the file of a kernel in archrace_gpu::Kernel::all()");
            files += 1;
        }
    }
    assert_eq!(files, names.len(), "every kernel's file exists");
}
