//! Every kernel's WGSL parses and validates with naga, with no GPU; every `shaders/*.wgsl` file is a
//! registered kernel, every kernel has its entry point, and every entry point fits WebGPU's default
//! limits.
#![cfg(not(target_arch = "wasm32"))]

use archrace_gpu::{Kernel, ShaderTarget};
use std::path::PathBuf;

/// What core WebGPU guarantees: `unpack2x16float` and friends, nothing optional. A kernel that needs
/// `shader-f16` or subgroups fails here, so it must come as a variant with a portable twin.
const CORE_WEBGPU: naga::valid::Capabilities = naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32;

/// What a device with WebGPU's `subgroups` feature adds (the shuffles the row sums use, in compute).
const WITH_SUBGROUPS: ShaderTarget =
    ShaderTarget { subgroup_min: Some(8), enable_directive: false, software: false, matmul_tile: None };

/// A kernel's source and validation as the devices that run it have it: the portable source, or for a
/// kernel that exists only with subgroups ([`Kernel::needs_subgroups`]), its subgroup source.
fn validate_kernel(kernel: Kernel) -> (naga::Module, naga::valid::ModuleInfo) {
    let subgroups = kernel.needs_subgroups();
    let source = kernel.source_for(if subgroups { WITH_SUBGROUPS } else { ShaderTarget::default() });
    validate_with(&kernel.name(), &source, subgroups).unwrap_or_else(|e| panic!("{e}"))
}

/// Parses and validates `source` as core WebGPU, or with subgroups in compute shaders.
fn validate_with(name: &str, source: &str, subgroups: bool) -> Result<(naga::Module, naga::valid::ModuleInfo), String> {
    use naga::valid::{Capabilities, ShaderStages, SubgroupOperationSet, ValidationFlags, Validator};
    let module = naga::front::wgsl::parse_str(source)
        .map_err(|e| format!("{name}: WGSL parse error:\n{}", e.emit_to_string(source)))?;
    let mut validator = if subgroups {
        let mut v = Validator::new(ValidationFlags::all(), CORE_WEBGPU | Capabilities::SUBGROUP);
        v.subgroup_stages(ShaderStages::COMPUTE).subgroup_operations(SubgroupOperationSet::all());
        v
    } else {
        Validator::new(ValidationFlags::all(), CORE_WEBGPU)
    };
    let info =
        validator.validate(&module).map_err(|e| format!("{name}: validation error:\n{}", e.emit_to_string(source)))?;
    Ok((module, info))
}

/// The kernels with a subgroup twin validate with subgroups, and only with them (so the twin is really
/// the subgroup code, and a device without them never gets it); the others' source is the same for both
/// targets. The directive browsers want comes first when asked for.
#[test]
fn subgroup_twins_validate_with_subgroups_and_only_with_them() {
    let mut twins = 0;
    for kernel in Kernel::all() {
        let name = format!("{} (subgroups)", kernel.name());
        let source = kernel.source_for(WITH_SUBGROUPS);
        if kernel.needs_subgroups() {
            // No twin: it validates with subgroups only, and the runtime takes another kernel elsewhere.
            assert!(!kernel.has_subgroup_twin(), "{name}");
            validate_with(&name, &source, true).unwrap_or_else(|e| panic!("{e}"));
            assert!(validate_with(&name, &kernel.source(), false).is_err(), "{name} validates without subgroups");
            continue;
        }
        if !kernel.has_subgroup_twin() {
            assert_eq!(source, kernel.source(), "{name}: no twin, so the portable source");
            continue;
        }
        twins += 1;
        let (module, _) = validate_with(&name, &source, true).unwrap_or_else(|e| panic!("{e}"));
        assert!(module.entry_points.iter().any(|e| e.name == kernel.entry_point()), "{name}");
        assert!(validate_with(&name, &source, false).is_err(), "{name} validates without subgroups");
        let browser = kernel.source_for(ShaderTarget { enable_directive: true, ..WITH_SUBGROUPS });
        assert_eq!(
            browser.strip_prefix("enable subgroups;\n"),
            Some(&*source),
            "{name}: browsers get the directive first"
        );
    }
    // matvec, matvec_swiglu, matvec_routed, matvec_conv, matvec_multi, matvec_rope, and the normed twins
    // of four.
    let matvecs = 10 * archrace_gguf::GgmlType::ALL.len();
    assert_eq!(twins, matvecs + 17, "every matvec kernel of every encoding, and the 17 reducing kernels");
}

#[test]
fn every_kernel_validates_without_a_gpu() {
    for kernel in Kernel::all() {
        let (module, _) = validate_kernel(kernel);
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
    let twins = Kernel::all().into_iter().filter(|k| k.has_subgroup_twin()).map(|k| (k, true));
    let kernels = Kernel::all().into_iter().map(|k| (k, k.needs_subgroups()));
    for (kernel, subgroups) in kernels.chain(twins) {
        let name = format!("{}{}", kernel.name(), if subgroups { " (subgroups)" } else { "" });
        let target = ShaderTarget { subgroup_min: subgroups.then_some(8), ..Default::default() };
        let (module, info) =
            validate_with(&name, &kernel.source_for(target), subgroups).unwrap_or_else(|e| panic!("{e}"));
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
        let (module, _) = validate_kernel(kernel);
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

/// The row-norm kernels take 256 threads a row on GPUs and 8 (at least the subgroup runs) on software
/// adapters, and validate either way, with subgroups of 4, 8 and 16 and without.
#[test]
fn row_norms_take_fewer_threads_on_software_adapters() {
    use archrace_gpu::shaders::{norm_threads, NORM_THREADS, SOFTWARE_NORM_THREADS};
    for (subgroup_min, software, threads) in [
        (None, false, NORM_THREADS),
        (Some(8), false, NORM_THREADS),
        (None, true, SOFTWARE_NORM_THREADS),
        (Some(4), true, 8),
        (Some(8), true, 8),
        (Some(16), true, 16),
    ] {
        let target = ShaderTarget { subgroup_min, software, ..Default::default() };
        assert_eq!(norm_threads(target), threads, "{target:?}");
        for kernel in [Kernel::Norm, Kernel::TokenShift, Kernel::NormShift] {
            let name = format!("{} {target:?}", kernel.name());
            let (module, _) = validate_with(&name, &kernel.source_for(target), subgroup_min.is_some())
                .unwrap_or_else(|e| panic!("{e}"));
            let entry = module.entry_points.iter().find(|e| e.name == kernel.entry_point()).unwrap();
            if kernel != Kernel::TokenShift {
                assert_eq!(entry.workgroup_size, [threads, 1, 1], "{name}");
            }
        }
    }
}

/// Every kernel validates as a software adapter gets it too (the matmul thread tile, `wkv7`'s four rows a
/// thread, the row norms' threads), and `wkv7`'s and `wkv7_step`'s workgroups are the size their dispatches
/// count on (`archrace_gpu::shaders::wkv7_shape`), on both; the matmul kernels validate with every tile
/// `archrace bench --matmul-tiles` compares, in workgroups of the tile's threads.
#[test]
fn every_kernel_validates_as_software_adapters_get_it() {
    use archrace_gpu::kernels::matmul::{MatmulTile, MATMUL_TILES};
    use archrace_gpu::shaders::wkv7_shape;
    let matmul = |k: Kernel| matches!(k, Kernel::Matmul(_) | Kernel::MatmulAct(_) | Kernel::MatmulSwiglu(_));
    let targets =
        [false, true].map(|software| (software, None)).into_iter().chain(MATMUL_TILES.map(|t| (false, Some(t))));
    for (software, matmul_tile) in targets {
        for kernel in Kernel::all().into_iter().filter(|&k| matmul_tile.is_none() || matmul(k)) {
            let subgroups = kernel.needs_subgroups();
            let target =
                ShaderTarget { subgroup_min: subgroups.then_some(8), software, matmul_tile, ..Default::default() };
            let name = format!("{} (software: {software}, matmul tile {matmul_tile:?})", kernel.name());
            let (module, _) =
                validate_with(&name, &kernel.source_for(target), subgroups).unwrap_or_else(|e| panic!("{e}"));
            let entry = module.entry_points.iter().find(|e| e.name == kernel.entry_point()).unwrap();
            if matches!(kernel, Kernel::Wkv7 | Kernel::Wkv7Step) {
                assert_eq!(entry.workgroup_size, [wkv7_shape(target).threads, 1, 1], "{name}");
            }
            if matmul(kernel) {
                assert_eq!(entry.workgroup_size, [MatmulTile::of(target).threads(), 1, 1], "{name}");
            }
        }
    }
}

/// The tiles `archrace bench --matmul-tiles` compares and the defaults are shapes the kernel takes; others
/// are not.
#[test]
fn matmul_tiles_are_valid_shapes() {
    use archrace_gpu::kernels::matmul::{MatmulTile, GPU_MATMUL_TILE, MATMUL_TILES, SOFTWARE_MATMUL_TILE};
    for tile in MATMUL_TILES.into_iter().chain([GPU_MATMUL_TILE, SOFTWARE_MATMUL_TILE]) {
        assert!(tile.is_valid(), "{tile}");
    }
    for bad in [
        MatmulTile { tile: 128, rows: 8, tokens: 8 }, // 64 KiB of workgroup memory
        MatmulTile { tile: 64, rows: 2, tokens: 4 },  // rows not a multiple of 4
        MatmulTile { tile: 64, rows: 4, tokens: 2 },  // 512 threads
        MatmulTile { tile: 32, rows: 4, tokens: 0 },
        MatmulTile { tile: 32, rows: 12, tokens: 4 }, // 32 is no multiple of 12
    ] {
        assert!(!bad.is_valid(), "{bad}");
    }
}
