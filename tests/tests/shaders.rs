//! Every kernel's WGSL parses and validates with naga, with no GPU; every `shaders/*.wgsl` file is a
//! registered kernel, every kernel has its entry point, and every entry point fits WebGPU's default
//! limits.
#![cfg(not(target_arch = "wasm32"))]

use archrace_gpu::Kernel;
use std::path::PathBuf;

/// What core WebGPU guarantees: `unpack2x16float` and friends, nothing optional. A kernel that needs
/// `shader-f16` or subgroups fails here, so it must come as a variant with a portable twin.
const CORE_WEBGPU: naga::valid::Capabilities = naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32;

fn validate(name: &str, source: &str) -> (naga::Module, naga::valid::ModuleInfo) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}: WGSL parse error:\n{}", e.emit_to_string(source)));
    let info = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), CORE_WEBGPU)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: validation error:\n{}", e.emit_to_string(source)));
    (module, info)
}

#[test]
fn every_kernel_validates_without_a_gpu() {
    for kernel in Kernel::all() {
        let (module, _) = validate(&kernel.name(), &kernel.source());
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

/// Every kernel's entry point runs on a device with WebGPU's default limits (what `requestDevice` gives
/// when the adapter offers no more): at most 8 storage buffers, 256 invocations and 16 KiB of workgroup
/// memory. And none takes a uniform buffer: lavapipe recompiles a shader at every dispatch when uniform
/// values steer its loops (see `archrace_gpu::runtime::recorder`), so parameters come from storage.
#[test]
fn every_kernel_fits_webgpu_default_limits() {
    for kernel in Kernel::all() {
        let name = kernel.name();
        let (module, info) = validate(&name, &kernel.source());
        let index = module.entry_points.iter().position(|e| e.name == kernel.entry_point()).unwrap();
        let entry = &module.entry_points[index];
        let uses = info.get_entry_point(index);
        let (mut storage, mut workgroup_bytes) = (0, 0);
        for (handle, var) in module.global_variables.iter() {
            if uses[handle].is_empty() {
                continue;
            }
            match var.space {
                naga::AddressSpace::Storage { .. } => storage += 1,
                naga::AddressSpace::Uniform => panic!("{name}: binds a uniform buffer; parameters come from storage"),
                naga::AddressSpace::WorkGroup => workgroup_bytes += module.types[var.ty].inner.size(module.to_ctx()),
                _ => {}
            }
        }
        assert!(storage <= 8, "{name}: {storage} storage buffers (default limit 8)");
        let invocations: u32 = entry.workgroup_size.iter().product();
        assert!(invocations <= 256, "{name}: {invocations} invocations per workgroup (default limit 256)");
        assert!(workgroup_bytes <= 16384, "{name}: {workgroup_bytes} bytes of workgroup memory (default limit 16384)");
    }
}

/// Each kernel's parameter struct on the host (`archrace_gpu::kernels::params`) has the layout of the
/// `@group(0) @binding(0)` struct of its WGSL, read back from the shader with naga: the same fields in
/// the same order, of the same scalar types, at the same byte offsets (host-only `_` padding may follow),
/// within the bytes a parameter slot binds.
#[test]
fn every_kernels_parameter_struct_matches_its_wgsl() {
    for kernel in Kernel::all() {
        let name = kernel.name();
        let (module, _) = validate(&name, &kernel.source());
        let params = module
            .global_variables
            .iter()
            .find(|(_, g)| g.binding == Some(naga::ResourceBinding { group: 0, binding: 0 }))
            .map(|(_, g)| g.ty)
            .unwrap_or_else(|| panic!("{name} binds no parameters at @group(0) @binding(0)"));
        let naga::TypeInner::Struct { members, span } = &module.types[params].inner else {
            panic!("{name}: its parameters are not a struct")
        };
        let wgsl: Vec<(String, &str, usize)> = members
            .iter()
            .map(|m| {
                let ty = match module.types[m.ty].inner {
                    naga::TypeInner::Scalar(naga::Scalar { kind: naga::ScalarKind::Uint, width: 4 }) => "u32",
                    naga::TypeInner::Scalar(naga::Scalar { kind: naga::ScalarKind::Float, width: 4 }) => "f32",
                    naga::TypeInner::Scalar(naga::Scalar { kind: naga::ScalarKind::Sint, width: 4 }) => "i32",
                    ref other => panic!("{name}: parameter {:?} is a {other:?}, not a 4-byte scalar", m.name),
                };
                (m.name.clone().unwrap_or_default(), ty, m.offset as usize)
            })
            .collect();
        let host = kernel.params();
        let (fields, padding): (Vec<_>, Vec<_>) = host.fields.iter().partition(|(f, _, _)| !f.starts_with('_'));
        let host_fields: Vec<(String, &str, usize)> = fields.iter().map(|&&(f, t, o)| (f.to_string(), t, o)).collect();
        assert_eq!(host_fields, wgsl, "{name}: {} against the WGSL parameters", host.name);
        assert!(
            padding.iter().all(|(_, _, o)| *o >= *span as usize),
            "{name}: {}'s padding comes after every WGSL field",
            host.name
        );
        assert!(
            host.size >= *span as usize && host.size as u64 <= archrace_gpu::runtime::recorder::PARAM_BYTES,
            "{name}: {} is {} bytes",
            host.name,
            host.size
        );
    }
}
