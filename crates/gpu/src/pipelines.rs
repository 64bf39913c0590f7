//! Compiling kernels into compute pipelines, with shader and pipeline errors turned into typed errors, and
//! the device's cache of them: every model, bench and one-shot run on a device shares it, so the four
//! lanes of a page (or the widgets of a documentation page) compile each kernel once.

use crate::{GpuContext, GpuError, Kernel};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// A compiled pipeline and its bind group layout (asked for once: every `get_bind_group_layout` call
/// makes a new handle).
type Compiled = (wgpu::ComputePipeline, wgpu::BindGroupLayout);

/// The pipelines compiled on one device ([`GpuContext`] holds it).
#[derive(Default)]
pub struct PipelineCache {
    map: Mutex<HashMap<Kernel, Compiled>>,
    compiled: AtomicUsize,
}

impl PipelineCache {
    /// Kernels compiled on this device so far (each once, whoever asked).
    pub fn compiled(&self) -> usize {
        self.compiled.load(Ordering::Relaxed)
    }

    fn get(&self, kernel: Kernel) -> Option<Compiled> {
        self.map.lock().ok()?.get(&kernel).cloned()
    }

    fn insert(&self, kernel: Kernel, compiled: Compiled) {
        if let Ok(mut map) = self.map.lock() {
            if map.insert(kernel, compiled).is_none() {
                self.compiled.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Compiles one kernel (layout from the shader: each entry point binds what it uses), bypassing the
/// device's cache.
pub async fn compile(ctx: &GpuContext, kernel: Kernel) -> Result<wgpu::ComputePipeline, GpuError> {
    let name = kernel.name();
    let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(&name),
        source: wgpu::ShaderSource::Wgsl(kernel.source_for(ctx.shader_target()).into()),
    });
    let pipeline = ctx.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(&name),
        layout: None,
        module: &module,
        entry_point: Some(kernel.entry_point()),
        compilation_options: Default::default(),
        cache: None,
    });
    if let Some(e) = scope.pop().await {
        return Err(GpuError::from_scope(&name, e));
    }
    Ok(pipeline)
}

/// The pipelines one user (a model, a bench run) needs, taken from the device's [`PipelineCache`] and
/// compiled into it when missing; held here so recording a step takes no lock.
#[derive(Default)]
pub struct Pipelines {
    map: HashMap<Kernel, Compiled>,
}

impl Pipelines {
    /// Takes every kernel in `kernels` from the device's cache, compiling those no one compiled yet.
    pub async fn ensure(
        &mut self,
        ctx: &GpuContext,
        kernels: impl IntoIterator<Item = Kernel>,
    ) -> Result<(), GpuError> {
        for k in kernels {
            if self.map.contains_key(&k) {
                continue;
            }
            let compiled = match ctx.pipelines.get(k) {
                Some(c) => c,
                None => {
                    let pipeline = compile(ctx, k).await?;
                    let layout = pipeline.get_bind_group_layout(0);
                    ctx.pipelines.insert(k, (pipeline.clone(), layout.clone()));
                    (pipeline, layout)
                }
            };
            self.map.insert(k, compiled);
        }
        Ok(())
    }

    /// A compiled pipeline.
    ///
    /// # Panics
    /// If `kernel` was not compiled with [`Pipelines::ensure`] (a bug in the caller).
    pub fn get(&self, kernel: Kernel) -> &wgpu::ComputePipeline {
        &self.entry(kernel).0
    }

    /// A compiled pipeline's bind group layout (group 0).
    ///
    /// # Panics
    /// As [`Pipelines::get`].
    pub fn layout(&self, kernel: Kernel) -> &wgpu::BindGroupLayout {
        &self.entry(kernel).1
    }

    fn entry(&self, kernel: Kernel) -> &Compiled {
        self.map.get(&kernel).unwrap_or_else(|| panic!("kernel {} was not compiled", kernel.name()))
    }
}
