//! Whether a device's subgroups can carry the row sums of the matvec kernels
//! (`shaders/lib/row_sum_subgroup.wgsl`). Having the feature is not enough: the shuffles assume that a
//! 1-D workgroup's subgroups are consecutive, aligned runs of `local_invocation_index`, which every
//! driver we know does and no specification promises. So the context runs a probe once, before any kernel
//! is compiled, and takes the subgroup twin only when the device shows that layout and adds correctly.

use crate::readback::read_bytes;
use crate::GpuError;

/// Threads in the probe's workgroup (`WG` in `shaders/lib/subgroup_probe.wgsl`, and in the matvecs).
const WG: usize = 64;

/// What the probe saw: the subgroup size, or why the subgroup twin is not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubgroupLayout {
    /// Subgroups of this many threads, consecutive and aligned, with shuffles that add correctly.
    Linear(u32),
    /// Something else (a layout the row sums cannot assume, a size that is not a power of two, wrong sums).
    Unusable(String),
}

/// Checks what the probe wrote: `out` holds (lane, size, butterfly sum) per thread.
pub fn judge(out: &[u32]) -> SubgroupLayout {
    if out.len() < 3 * WG {
        return SubgroupLayout::Unusable(format!("the probe wrote {} words, not {}", out.len(), 3 * WG));
    }
    let size = out[1];
    if size == 0 || !size.is_power_of_two() {
        return SubgroupLayout::Unusable(format!("a subgroup size of {size} is not a power of two"));
    }
    let span = (size as usize).min(WG);
    for tid in 0..WG {
        let (lane, sz, sum) = (out[3 * tid], out[3 * tid + 1], out[3 * tid + 2]);
        if sz != size {
            return SubgroupLayout::Unusable(format!("thread {tid} saw subgroup size {sz}, thread 0 saw {size}"));
        }
        if lane as usize != tid % size as usize {
            return SubgroupLayout::Unusable(format!(
                "thread {tid} is lane {lane} of its subgroup, not {} (subgroups are not consecutive runs)",
                tid % size as usize
            ));
        }
        // The butterfly leaves each lane the sum of tid + 1 over its aligned run of `span` threads.
        let first = tid - tid % span;
        let want: usize = (first + 1..=first + span).sum();
        if sum as usize != want {
            return SubgroupLayout::Unusable(format!("thread {tid}'s shuffled sum is {sum}, not {want}"));
        }
    }
    SubgroupLayout::Linear(size)
}

/// The run of lanes the row sums shuffle within ([`crate::ShaderTarget::subgroup_min`]): the adapter's
/// smallest subgroup size (`adapter_min`; 0 when the adapter does not say), or the probe's size when it is
/// smaller or unknown, as a power of two, at most the matvec workgroup.
pub fn shuffle_run(adapter_min: u32, probed: u32) -> u32 {
    let min = if adapter_min == 0 { probed } else { adapter_min.min(probed) };
    let pow2 = if min.is_power_of_two() { min } else { min.next_power_of_two() / 2 };
    pow2.clamp(1, WG as u32)
}

/// Runs the probe on a device that has `wgpu::Features::SUBGROUP` enabled (`enable_directive`: the
/// compiler wants `enable subgroups;` first, as [`crate::ShaderTarget::enable_directive`]).
pub async fn probe(
    device: &wgpu::Device,
    queue: &wgpu::Queue,
    enable_directive: bool,
) -> Result<SubgroupLayout, GpuError> {
    let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
    let source = match enable_directive {
        true => format!("enable subgroups;\n{}", crate::shaders::SUBGROUP_PROBE),
        false => crate::shaders::SUBGROUP_PROBE.to_string(),
    };
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("subgroup_probe"),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("subgroup_probe"),
        layout: None,
        module: &module,
        entry_point: Some("subgroup_probe"),
        compilation_options: Default::default(),
        cache: None,
    });
    if let Some(e) = scope.pop().await {
        return Ok(SubgroupLayout::Unusable(format!("the probe did not compile: {e}")));
    }
    let bytes = (3 * WG * 4) as u64;
    let out = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("subgroup_probe out"),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("subgroup_probe staging"),
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bind = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("subgroup_probe"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[wgpu::BindGroupEntry { binding: 0, resource: out.as_entire_binding() }],
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(1, 1, 1);
    }
    encoder.copy_buffer_to_buffer(&out, 0, &staging, 0, bytes);
    queue.submit([encoder.finish()]);
    let words: Vec<u32> = bytemuck::pod_collect_to_vec(&read_bytes(device, &staging).await?);
    Ok(judge(&words))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a device with linear subgroups of `size` writes.
    fn linear(size: usize) -> Vec<u32> {
        let span = size.min(WG);
        (0..WG)
            .flat_map(|tid| {
                let first = tid - tid % span;
                [(tid % size) as u32, size as u32, (first + 1..=first + span).sum::<usize>() as u32]
            })
            .collect()
    }

    #[test]
    fn linear_subgroups_of_any_power_of_two_pass() {
        for size in [1, 4, 8, 32, 64, 128] {
            assert_eq!(judge(&linear(size)), SubgroupLayout::Linear(size as u32), "size {size}");
        }
    }

    #[test]
    fn rows_shuffle_within_the_smallest_subgroup() {
        assert_eq!(shuffle_run(8, 8), 8); // lavapipe
        assert_eq!(shuffle_run(32, 32), 32); // NVIDIA
        assert_eq!(shuffle_run(8, 32), 8); // Intel: a pipeline may get 8, 16 or 32
        assert_eq!(shuffle_run(0, 16), 16); // no adapter figure: the probe's
        assert_eq!(shuffle_run(64, 64), 64); // wave64
        assert_eq!(shuffle_run(128, 128), 64); // never past the workgroup
        assert_eq!(shuffle_run(0, 24), 16); // not a power of two (the probe refuses it anyway)
    }

    #[test]
    fn other_layouts_and_wrong_sums_are_refused() {
        let mut strided = linear(8);
        strided[3 * 9] = 7; // thread 9 claims lane 7: not a consecutive run
        assert!(matches!(judge(&strided), SubgroupLayout::Unusable(m) if m.contains("thread 9 is lane 7")));
        let mut odd = linear(8);
        odd.iter_mut().skip(1).step_by(3).for_each(|s| *s = 24);
        assert!(matches!(judge(&odd), SubgroupLayout::Unusable(m) if m.contains("24")));
        let mut sums = linear(32);
        sums[3 * 40 + 2] += 1;
        assert!(matches!(judge(&sums), SubgroupLayout::Unusable(m) if m.contains("thread 40's shuffled sum")));
        assert!(matches!(judge(&[0; 6]), SubgroupLayout::Unusable(_)));
    }
}
