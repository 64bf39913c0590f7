//! Getting a device: one adapter, its real limits, and only the optional features it has.

use crate::kernels::matmul::MatmulTile;
use crate::subgroups::SubgroupLayout;
use crate::GpuError;
use serde::Serialize;

/// The limits archrace cares about, as the device reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KeyLimits {
    /// Largest storage buffer binding, bytes (WebGPU default 128 MiB).
    pub max_storage_buffer_binding_size: u64,
    /// Largest buffer, bytes (WebGPU default 256 MiB).
    pub max_buffer_size: u64,
    /// Storage buffers one compute stage may bind.
    pub max_storage_buffers_per_shader_stage: u32,
    /// Workgroup memory, bytes.
    pub max_compute_workgroup_storage_size: u32,
    /// Threads per workgroup.
    pub max_compute_invocations_per_workgroup: u32,
    /// Workgroups per dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
}

impl From<&wgpu::Limits> for KeyLimits {
    fn from(l: &wgpu::Limits) -> Self {
        Self {
            max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
            max_buffer_size: l.max_buffer_size,
            max_storage_buffers_per_shader_stage: l.max_storage_buffers_per_shader_stage,
            max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
            max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
            max_compute_workgroups_per_dimension: l.max_compute_workgroups_per_dimension,
        }
    }
}

/// What the page's device panel and `archrace device` show about the adapter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AdapterReport {
    /// Adapter name ("llvmpipe (LLVM 15.0.6, 256 bits)", "SwiftShader Device (Subzero)", ...).
    /// Browsers may leave it empty for privacy.
    pub name: String,
    /// Driver name and version, where the platform reports them.
    pub driver: String,
    /// Backend: Vulkan, Metal, Dx12, Gl or BrowserWebGpu.
    pub backend: String,
    /// Integrated, discrete, virtual, CPU (software) or other.
    pub device_type: String,
    /// A software implementation running on the CPU (lavapipe, SwiftShader): wgpu's device type CPU
    /// natively, the browser's fallback adapter (`isFallbackAdapter`) on the web. Its dispatches are cheap
    /// and its barriers dear, so the runtime tunes itself for it ([`GpuContext::software_tuning`]).
    pub software: bool,
    /// Native `f16` in shaders. archrace never requires it: f16 data stays packed in u32.
    pub shader_f16: bool,
    /// Subgroup (wave/warp) operations, on the device (in the browser too, where wgpu 30 does not see them).
    pub subgroups: bool,
    /// GPU timestamp queries, for per-kernel timings.
    pub timestamp_query: bool,
    /// How the matvec kernels add a row's partial sums, and the norms, attention and sampling kernels
    /// reduce across a workgroup, on this device: "subgroup shuffles (size N)", or "workgroup memory" with
    /// the reason subgroups are not used.
    pub row_sums: String,
    /// The device's limits, which archrace requests in full.
    pub limits: KeyLimits,
}

/// Choices made when a context is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContextOptions {
    /// Use subgroup shuffles for the matvec kernels' row sums where the device has subgroups and passes
    /// the layout probe (`false`: the portable workgroup-memory twin everywhere, as on a device without
    /// subgroups; tests and `archrace bench --no-subgroups` use it to run both twins on one device).
    pub subgroups: bool,
    /// Take a software adapter's tuning where the adapter is one ([`GpuContext::software_tuning`]); `false`
    /// makes a GPU's choices on any adapter, so tests run on lavapipe and SwiftShader the code a GPU runs.
    pub software_tuning: bool,
    /// The `matmul` tile to compile the prefill products for, in place of the device's default
    /// ([`MatmulTile::of`]): `archrace bench --matmul-tiles` compares them on one device.
    pub matmul_tile: Option<MatmulTile>,
}

impl Default for ContextOptions {
    fn default() -> Self {
        Self { subgroups: true, software_tuning: true, matmul_tile: None }
    }
}

/// The shared device and queue, and what the adapter said about itself.
pub struct GpuContext {
    /// The logical device every kernel runs on.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// The adapter's description, limits and optional features.
    pub report: AdapterReport,
    /// A lower cap on bytes per buffer binding than the device's, to run as a smaller device would (tests
    /// use it to exercise tensor splitting; the playground could use it to keep headroom).
    pub binding_cap: Option<u64>,
    /// The most bytes every model and state on this device may hold together (`None`: the device's own
    /// memory decides). Past it, creating a buffer fails with `GpuError::OutOfMemory`, as a device that
    /// ran out would: tests use it to exercise that path, and the playground can keep headroom with it.
    pub memory_budget: Option<u64>,
    /// Loop iterations one invocation may take, all its loops together, before the driver makes its loops
    /// exit early and the kernel silently computes something else: llvmpipe's (lavapipe's)
    /// [`crate::runtime::loop_budget::LLVMPIPE_LOOP_LIMIT`]; `None` (no such cap) elsewhere. The runtime
    /// cuts the work of kernels whose loops grow with a chunk or a context to fit under it
    /// ([`crate::runtime::loop_budget`]); tests lower it to run those cuts on small inputs.
    pub loop_limit: Option<usize>,
    /// Bytes held by every [`crate::runtime::pool::Pool`] on this device.
    pub(crate) allocated: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// Every pipeline compiled on this device, shared by all its models.
    pub pipelines: crate::pipelines::PipelineCache,
    /// How kernel sources are put together for this device (which reduction twins, which prelude). Fixed
    /// at creation: the pipeline cache holds kernels compiled for it.
    shader_target: crate::ShaderTarget,
    /// Set by the device-lost callback: why the device went away.
    lost: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl GpuContext {
    /// Asks for the highest-performance adapter and a device with the adapter's real limits (the WebGPU
    /// defaults are too small for real models) and the optional features archrace can use.
    ///
    /// Backends can be narrowed with `WGPU_BACKEND` natively. In the browser, the WebGPU backend is used.
    pub async fn new() -> Result<Self, GpuError> {
        Self::with_options(ContextOptions::default()).await
    }

    /// [`GpuContext::new`] with explicit [`ContextOptions`].
    pub async fn with_options(options: ContextOptions) -> Result<Self, GpuError> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        let available = adapter.features();
        let wanted = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP;
        let limits = adapter.limits();
        let descriptor = wgpu::DeviceDescriptor {
            label: Some("archrace"),
            required_features: available & wanted,
            required_limits: limits.clone(),
            ..Default::default()
        };
        // In the browser, wgpu 30 cannot ask for `subgroups` itself (crate::browser).
        let (device, queue) = crate::browser::with_subgroups_required(|| adapter.request_device(&descriptor))
            .await
            .map_err(|e| GpuError::RequestDevice(e.to_string()))?;
        let subgroups =
            device.features().contains(wgpu::Features::SUBGROUP) || crate::browser::device_has_subgroups(&device);
        let info = adapter.get_info();
        // Tint (the browsers' compiler) wants `enable subgroups;`, naga refuses it.
        let enable_directive = info.backend == wgpu::Backend::BrowserWebGpu;
        let (subgroup_min, row_sums) = if !subgroups {
            (None, "workgroup memory (no subgroups on this device)".to_string())
        } else if !options.subgroups {
            (None, "workgroup memory (subgroups turned off)".to_string())
        } else {
            match crate::subgroups::probe(&device, &queue, enable_directive).await {
                Ok(SubgroupLayout::Linear(size)) => {
                    // A pipeline may get any size from the adapter's smallest up: shuffle within that.
                    let min = crate::subgroups::shuffle_run(info.subgroup_min_size, size);
                    (
                        Some(min),
                        format!("subgroup shuffles (subgroups of {size}; rows and workgroups summed in runs of {min})"),
                    )
                }
                Ok(SubgroupLayout::Unusable(why)) => (None, format!("workgroup memory (subgroup probe: {why})")),
                Err(e) => (None, format!("workgroup memory (the subgroup probe failed: {e})")),
            }
        };
        let report = AdapterReport {
            name: info.name,
            driver: [info.driver, info.driver_info].join(" ").trim().to_string(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            software: info.device_type == wgpu::DeviceType::Cpu || crate::browser::device_is_fallback(&device),
            shader_f16: available.contains(wgpu::Features::SHADER_F16),
            subgroups,
            timestamp_query: available.contains(wgpu::Features::TIMESTAMP_QUERY),
            row_sums,
            limits: KeyLimits::from(&device.limits()),
        };
        let lost = std::sync::Arc::new(std::sync::Mutex::new(None));
        let flag = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut l) = flag.lock() {
                *l = Some(format!("{reason:?}: {message}"));
            }
        });
        let software = report.software && options.software_tuning;
        let matmul_tile = match options.matmul_tile {
            Some(tile) if !tile.is_valid() => {
                return Err(GpuError::BadInput(format!("matmul tile {tile}: not a shape the kernel takes")))
            }
            tile => tile,
        };
        let loop_limit = loop_limit_of(&report);
        Ok(Self {
            device,
            queue,
            report,
            binding_cap: None,
            loop_limit,
            memory_budget: None,
            allocated: Default::default(),
            pipelines: Default::default(),
            shader_target: crate::ShaderTarget { subgroup_min, enable_directive, software, matmul_tile },
            lost,
        })
    }

    /// Whether the runtime tunes itself for a software adapter (lavapipe, SwiftShader: the adapter is one,
    /// [`AdapterReport::software`], and [`ContextOptions::software_tuning`] is on). Their CPU threads run a
    /// workgroup a subgroup at a time, switch between its subgroups at every barrier, and turn workgroup
    /// memory and dynamically indexed arrays into per-lane memory traffic, while dispatches are cheap. So
    /// there: the row norms take [`crate::shaders::SOFTWARE_NORM_THREADS`] threads a row, each norm keeps a
    /// dispatch of its own ([`crate::GpuModel::set_fused_norms`]), matvecs take up to
    /// [`crate::kernels::matvec::SOFTWARE_ROW_THREADS`] threads a row, attention decode splits the keys
    /// among fewer workgroups and takes `attn_partial_runs` ([`crate::GpuModel::set_attention_runs`]), and
    /// attention prefill takes `attn_prefill_lanes` ([`crate::GpuModel::set_attention_lanes`]).
    pub fn software_tuning(&self) -> bool {
        self.shader_target.software
    }

    /// How this device's kernel sources are put together ([`crate::Kernel::source_for`]).
    pub fn shader_target(&self) -> crate::ShaderTarget {
        self.shader_target
    }

    /// Bytes the runtime's buffers hold on this device now, every model and state together.
    pub fn allocated(&self) -> u64 {
        self.allocated.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// `Err(DeviceLost)` once the device is gone (driver reset, GPU removed, tab backgrounded too long,
    /// or destroyed): the caller drops its models and may fall back to the CPU or ask for a new context.
    pub fn check_lost(&self) -> Result<(), GpuError> {
        match self.lost.lock().ok().and_then(|l| l.clone()) {
            Some(why) => Err(GpuError::DeviceLost(why)),
            None => Ok(()),
        }
    }

    /// A storage buffer initialised with `bytes`, padded to whole 16-byte loads plus 16 spare bytes
    /// ([`crate::runtime::pool::padded_len`]), so kernels that read packed bytes at unaligned offsets may
    /// read past the data.
    pub fn upload_bytes(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        let padded = crate::runtime::pool::padded_len(bytes.len());
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: padded,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: true,
        });
        {
            let mut view = buffer.get_mapped_range_mut(..).expect("buffer mapped at creation");
            view.slice(..bytes.len()).copy_from_slice(bytes);
        }
        buffer.unmap();
        buffer
    }
}

/// The loop cap of the adapter `report` describes ([`GpuContext::loop_limit`]): llvmpipe names itself
/// ("llvmpipe (LLVM 15.0.6, 256 bits)") and its driver.
fn loop_limit_of(report: &AdapterReport) -> Option<usize> {
    let llvmpipe = report.name.starts_with("llvmpipe") || report.driver.starts_with("llvmpipe");
    llvmpipe.then_some(crate::runtime::loop_budget::LLVMPIPE_LOOP_LIMIT)
}
