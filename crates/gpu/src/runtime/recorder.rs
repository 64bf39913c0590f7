//! Recording a decode step: dispatches (each with its parameters in a 256-byte slot of one parameter
//! buffer) and buffer copies, encoded into one command encoder for one submit.
//!
//! Kernels read their parameters from a read-only storage binding, not a uniform one: Mesa's lavapipe
//! (22.3, our CI adapter) inlines uniform-buffer values that steer loops and branches into a new shader
//! variant, compiled again at every dispatch and never freed. A decode step then spent most of its time
//! in LLVM (an RMSNorm dispatch took 1.8 ms, the MoE router 30 ms) and grew the process by ~0.7 MB per
//! router dispatch. Storage reads are not inlined; on real GPUs the 64 bytes are cached either way.

use crate::kernels::params::KernelParams;
use crate::pipelines::Pipelines;
use crate::Kernel;

/// Bytes per parameter slot: WebGPU's largest permitted `minStorageBufferOffsetAlignment`.
pub const SLOT: usize = 256;
/// Bytes bound per slot: at least the largest `Params` struct of any kernel (`MatvecParams`, 112).
pub const PARAM_BYTES: u64 = 112;
/// Usage of a parameter buffer: bound as `var<storage, read>` (see the module's note), written by the queue.
pub const PARAMS_USAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_DST);

enum Item {
    Dispatch { kernel: Kernel, slot: usize, buffers: Vec<(u32, wgpu::Buffer)>, groups: [u32; 3] },
    Copy { src: wgpu::Buffer, src_off: u64, dst: wgpu::Buffer, dst_off: u64, size: u64 },
}

/// Whether and how to write GPU timestamps.
#[derive(Clone, Copy)]
pub enum Timing<'q> {
    /// No timestamps.
    None,
    /// Around the whole recording (one pass, no copies in it).
    Whole(&'q wgpu::QuerySet),
    /// Around each dispatch.
    PerDispatch(&'q wgpu::QuerySet),
}

/// Bind groups kept from step to step: a decode step binds the same buffers at the same parameter slots
/// every time, so its bind groups are built once (building them anew each token costs host time, and
/// drivers such as lavapipe were seen to hold on to memory for each). Holders clear it whenever they
/// replace a buffer (KV-cache growth, a larger parameter buffer), so no stale buffer is kept alive.
#[derive(Default)]
pub struct BindGroupCache {
    map: std::collections::HashMap<BindKey, wgpu::BindGroup>,
}

type BindKey = (Kernel, usize, Vec<(u32, wgpu::Buffer)>);

/// Most bind groups kept; past it the cache starts over (a bound on memory whatever the caller does).
const MAX_CACHED: usize = 8192;

impl BindGroupCache {
    /// Forgets every bind group.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// Bind groups held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// The dispatches and copies of one step, in order.
pub struct Recorder<'p> {
    pipelines: &'p Pipelines,
    params: Vec<u8>,
    items: Vec<Item>,
}

impl<'p> Recorder<'p> {
    /// An empty recording.
    pub fn new(pipelines: &'p Pipelines) -> Self {
        Self { pipelines, params: Vec::new(), items: Vec::new() }
    }

    /// Records `kernel` with its parameter struct and its storage buffers by binding number (binding 0 is
    /// always the parameters).
    pub fn dispatch<P: KernelParams>(
        &mut self,
        kernel: Kernel,
        params: &P,
        buffers: &[(u32, &wgpu::Buffer)],
        groups: [u32; 3],
    ) {
        debug_assert_eq!(P::NAME, kernel.params().name, "{}'s parameters", kernel.name());
        self.dispatch_bytes(kernel, bytemuck::bytes_of(params), buffers, groups);
    }

    /// [`Recorder::dispatch`] with the parameters as words laid out by hand (one-shot kernel tests).
    pub fn dispatch_words(
        &mut self,
        kernel: Kernel,
        words: &[u32],
        buffers: &[(u32, &wgpu::Buffer)],
        groups: [u32; 3],
    ) {
        self.dispatch_bytes(kernel, bytemuck::cast_slice(words), buffers, groups);
    }

    fn dispatch_bytes(&mut self, kernel: Kernel, params: &[u8], buffers: &[(u32, &wgpu::Buffer)], groups: [u32; 3]) {
        assert!(params.len() <= PARAM_BYTES as usize, "{}: params too long", kernel.name());
        let slot = self.params.len() / SLOT;
        self.params.extend_from_slice(params);
        self.params.resize((slot + 1) * SLOT, 0);
        let buffers = buffers.iter().map(|&(b, buf)| (b, buf.clone())).collect();
        self.items.push(Item::Dispatch { kernel, slot, buffers, groups });
    }

    /// Records a buffer-to-buffer copy (between compute passes).
    pub fn copy(&mut self, src: &wgpu::Buffer, src_off: u64, dst: &wgpu::Buffer, dst_off: u64, size: u64) {
        self.items.push(Item::Copy { src: src.clone(), src_off, dst: dst.clone(), dst_off, size });
    }

    /// Bytes of parameters recorded: the parameter buffer must hold at least this many.
    pub fn params_len(&self) -> u64 {
        self.params.len() as u64
    }

    /// Dispatches recorded so far.
    pub fn dispatches(&self) -> usize {
        self.items.iter().filter(|i| matches!(i, Item::Dispatch { .. })).count()
    }

    /// The kernels dispatched, in order (what per-dispatch timestamps refer to).
    pub fn kernels(&self) -> Vec<Kernel> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::Dispatch { kernel, .. } => Some(*kernel),
                Item::Copy { .. } => None,
            })
            .collect()
    }

    /// Writes the parameters into `params` and encodes everything into `encoder`: runs of dispatches in
    /// one compute pass each, copies between them. With `timing`, GPU timestamps are written: around the
    /// one pass (`Whole`: indices 0 and 1), or around each dispatch in a pass of its own (`PerDispatch`:
    /// indices 2i and 2i + 1), which costs a pass per dispatch and is for profiling.
    pub fn encode(
        self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        params: &wgpu::Buffer,
        encoder: &mut wgpu::CommandEncoder,
        timing: Timing<'_>,
        mut cache: Option<&mut BindGroupCache>,
    ) {
        if let Some(c) = cache.as_deref_mut().filter(|c| c.map.len() > MAX_CACHED) {
            c.clear();
        }
        queue.write_buffer(params, 0, &self.params);
        let mut pass: Option<wgpu::ComputePass<'_>> = None;
        let mut index = 0u32;
        for item in self.items {
            match item {
                Item::Copy { src, src_off, dst, dst_off, size } => {
                    drop(pass.take());
                    encoder.copy_buffer_to_buffer(&src, src_off, &dst, dst_off, size);
                }
                Item::Dispatch { kernel, slot, buffers, groups } => {
                    let pipeline = self.pipelines.get(kernel);
                    let make =
                        |buffers: &[(u32, wgpu::Buffer)]| {
                            let mut entries = vec![wgpu::BindGroupEntry {
                                binding: 0,
                                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                    buffer: params,
                                    offset: (slot * SLOT) as u64,
                                    size: std::num::NonZeroU64::new(PARAM_BYTES),
                                }),
                            }];
                            entries.extend(buffers.iter().map(|(b, buf)| wgpu::BindGroupEntry {
                                binding: *b,
                                resource: buf.as_entire_binding(),
                            }));
                            device.create_bind_group(&wgpu::BindGroupDescriptor {
                                label: Some(kernel.entry_point()),
                                layout: self.pipelines.layout(kernel),
                                entries: &entries,
                            })
                        };
                    let bind_group = match cache.as_deref_mut() {
                        Some(c) => {
                            let key = (kernel, slot, buffers);
                            match c.map.get(&key) {
                                Some(bg) => bg.clone(),
                                None => {
                                    let bg = make(&key.2);
                                    c.map.insert(key, bg.clone());
                                    bg
                                }
                            }
                        }
                        None => make(&buffers),
                    };
                    if matches!(timing, Timing::PerDispatch(_)) {
                        drop(pass.take());
                    }
                    let writes = match timing {
                        Timing::None => None,
                        Timing::Whole(q) => Some(wgpu::ComputePassTimestampWrites {
                            query_set: q,
                            beginning_of_pass_write_index: Some(0),
                            end_of_pass_write_index: Some(1),
                        }),
                        Timing::PerDispatch(q) => Some(wgpu::ComputePassTimestampWrites {
                            query_set: q,
                            beginning_of_pass_write_index: Some(2 * index),
                            end_of_pass_write_index: Some(2 * index + 1),
                        }),
                    };
                    let p = pass.get_or_insert_with(|| {
                        encoder
                            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                                label: Some("decode step"),
                                timestamp_writes: writes,
                            })
                            .forget_lifetime()
                    });
                    p.set_pipeline(pipeline);
                    p.set_bind_group(0, &bind_group, &[]);
                    p.dispatch_workgroups(groups[0], groups[1], groups[2]);
                    index += 1;
                }
            }
        }
    }
}
