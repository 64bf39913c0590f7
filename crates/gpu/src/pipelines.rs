//! Compiling kernels into compute pipelines, with shader and pipeline errors turned into typed errors.

use crate::{GpuContext, GpuError, Kernel};
use std::collections::HashMap;

/// Compiles one kernel (layout from the shader: each entry point binds what it uses).
pub async fn compile(ctx: &GpuContext, kernel: Kernel) -> Result<wgpu::ComputePipeline, GpuError> {
    let name = kernel.name();
    let scope = ctx.device.push_error_scope(wgpu::ErrorFilter::Validation);
    let module = ctx.device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(&name),
        source: wgpu::ShaderSource::Wgsl(kernel.source().into()),
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

/// The pipelines a model needs, compiled once, with their bind group layouts (asked for once: every
/// `get_bind_group_layout` call makes a new handle).
#[derive(Default)]
pub struct Pipelines {
    map: HashMap<Kernel, (wgpu::ComputePipeline, wgpu::BindGroupLayout)>,
}

impl Pipelines {
    /// Compiles every kernel in `kernels` not compiled yet.
    pub async fn ensure(
        &mut self,
        ctx: &GpuContext,
        kernels: impl IntoIterator<Item = Kernel>,
    ) -> Result<(), GpuError> {
        for k in kernels {
            if let std::collections::hash_map::Entry::Vacant(slot) = self.map.entry(k) {
                let pipeline = compile(ctx, k).await?;
                let layout = pipeline.get_bind_group_layout(0);
                slot.insert((pipeline, layout));
            }
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

    fn entry(&self, kernel: Kernel) -> &(wgpu::ComputePipeline, wgpu::BindGroupLayout) {
        self.map.get(&kernel).unwrap_or_else(|| panic!("kernel {} was not compiled", kernel.name()))
    }
}
