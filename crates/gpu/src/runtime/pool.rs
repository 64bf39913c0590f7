//! GPU memory by category: every buffer the runtime creates goes through a [`Pool`], which checks the
//! device's limits before asking for it and counts its bytes, so the figures the playground shows are
//! the bytes actually held.

use crate::{GpuContext, GpuError};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What a buffer holds, as the calculator (`archrace_model::calc`) splits memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Model tensors, in their GGUF encoding (rows in [`crate::layout`]'s order).
    Weights,
    /// Attention keys and values.
    KvCache,
    /// Recurrent state: Mamba conv window and SSM state, RWKV shifts and WKV.
    State,
    /// Activations, attention partials, parameters, token slots.
    Scratch,
    /// Buffers the CPU maps to read results back.
    Staging,
}

/// Bytes held, by category.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MemoryUse {
    /// Model tensors.
    pub weights: u64,
    /// KV cache (its allocated capacity, which grows in chunks).
    pub kv_cache: u64,
    /// Recurrent state.
    pub state: u64,
    /// Activations and other scratch.
    pub scratch: u64,
    /// Read-back buffers.
    pub staging: u64,
}

impl MemoryUse {
    /// All categories together.
    pub fn total(&self) -> u64 {
        self.weights + self.kv_cache + self.state + self.scratch + self.staging
    }

    fn slot(&mut self, c: Category) -> &mut u64 {
        match c {
            Category::Weights => &mut self.weights,
            Category::KvCache => &mut self.kv_cache,
            Category::State => &mut self.state,
            Category::Scratch => &mut self.scratch,
            Category::Staging => &mut self.staging,
        }
    }
}

impl std::ops::Add for MemoryUse {
    type Output = MemoryUse;
    fn add(self, o: MemoryUse) -> MemoryUse {
        MemoryUse {
            weights: self.weights + o.weights,
            kv_cache: self.kv_cache + o.kv_cache,
            state: self.state + o.state,
            scratch: self.scratch + o.scratch,
            staging: self.staging + o.staging,
        }
    }
}

/// One buffer a pool holds, for the breakdown by buffer ([`Pool::buffers`]).
#[derive(Clone, Debug)]
struct Held {
    /// The buffer's hash (wgpu buffers hash by identity): a given-back buffer finds its entry by it, and
    /// the pool keeps no handle that would keep the buffer alive.
    id: u64,
    label: String,
    cat: Category,
    bytes: u64,
}

fn identity(buf: &wgpu::Buffer) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(buf)
}

/// Creates buffers within the device's limits and counts them.
#[derive(Debug, Default)]
pub struct Pool {
    used: MemoryUse,
    /// Every buffer held, with its label.
    held: Vec<Held>,
    /// The most bytes held at once, transients included (a KV cache moving to a larger buffer holds both
    /// until the copy has run).
    peak: u64,
    /// The device's count of bytes held by every pool (see [`GpuContext::allocated`]), once this pool has
    /// created a buffer; given back when the pool is dropped with the buffers it counted.
    device_total: Option<Arc<AtomicU64>>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Some(total) = &self.device_total {
            total.fetch_sub(self.used.total(), Ordering::Relaxed);
        }
    }
}

/// Storage buffers are bound whole; `array<vec4<f32>>` bindings need sizes in whole vec4s.
pub const STORAGE: wgpu::BufferUsages =
    wgpu::BufferUsages::STORAGE.union(wgpu::BufferUsages::COPY_DST).union(wgpu::BufferUsages::COPY_SRC);

impl Pool {
    /// Bytes held now.
    pub fn used(&self) -> MemoryUse {
        self.used
    }

    /// The most bytes this pool has held at once: a buffer given back with [`Pool::release_later`] stops
    /// counting in [`Pool::used`] when it is given back, but the peak remembers the moment it and its
    /// replacement both existed.
    pub fn peak(&self) -> u64 {
        self.peak
    }

    /// Bytes held in `cat`, by buffer label (buffers of one label summed), largest first: what each part
    /// of a category is for (the decode step's scratch per architecture, the KV cache per layer).
    pub fn buffers(&self, cat: Category) -> Vec<(String, u64)> {
        let mut by_label: Vec<(String, u64)> = Vec::new();
        for h in self.held.iter().filter(|h| h.cat == cat) {
            match by_label.iter_mut().find(|(l, _)| *l == h.label) {
                Some((_, bytes)) => *bytes += h.bytes,
                None => by_label.push((h.label.clone(), h.bytes)),
            }
        }
        by_label.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        by_label
    }

    /// The largest buffer this device lets a kernel bind as storage (and address with u32 byte offsets),
    /// within the context's cap if it has one.
    pub fn max_binding(ctx: &GpuContext) -> u64 {
        let l = &ctx.report.limits;
        let device = l.max_storage_buffer_binding_size.min(l.max_buffer_size).min(u32::MAX as u64);
        ctx.binding_cap.map_or(device, |c| c.min(device))
    }

    /// A zeroed buffer of at least `size` bytes (rounded up to 16), or a typed error when the device's
    /// limits forbid it.
    pub fn create(
        &mut self,
        ctx: &GpuContext,
        label: &str,
        size: u64,
        usage: wgpu::BufferUsages,
        cat: Category,
    ) -> Result<wgpu::Buffer, GpuError> {
        // Storage buffers are bound whole.
        let limit = if usage.contains(wgpu::BufferUsages::STORAGE) {
            Self::max_binding(ctx)
        } else {
            ctx.report.limits.max_buffer_size
        };
        self.create_within(ctx, label, size, usage, cat, limit)
    }

    /// A scratch buffer for a recording's kernel parameters. It is bound one 256-byte slot at a time
    /// ([`super::recorder::SLOT`]), so only the device's buffer size bounds it, not the binding size.
    pub fn create_params(&mut self, ctx: &GpuContext, label: &str, size: u64) -> Result<wgpu::Buffer, GpuError> {
        let limit = ctx.report.limits.max_buffer_size;
        self.create_within(ctx, label, size, super::recorder::PARAMS_USAGE, Category::Scratch, limit)
    }

    fn create_within(
        &mut self,
        ctx: &GpuContext,
        label: &str,
        size: u64,
        usage: wgpu::BufferUsages,
        cat: Category,
        limit: u64,
    ) -> Result<wgpu::Buffer, GpuError> {
        let size = size.max(16).div_ceil(16) * 16;
        if size > limit {
            return Err(GpuError::TooLarge { what: label.to_string(), bytes: size, limit });
        }
        let held = ctx.allocated();
        if let Some(budget) = ctx.memory_budget.filter(|&b| held.saturating_add(size) > b) {
            return Err(GpuError::OutOfMemory(format!(
                "{label}: {size} more bytes would pass the device memory budget of {budget} bytes ({held} held)"
            )));
        }
        ctx.allocated.fetch_add(size, Ordering::Relaxed);
        self.device_total.get_or_insert_with(|| ctx.allocated.clone());
        let buf = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage,
            mapped_at_creation: false,
        });
        *self.used.slot(cat) += size;
        self.peak = self.peak.max(self.used.total());
        self.held.push(Held { id: identity(&buf), label: label.to_string(), cat, bytes: size });
        Ok(buf)
    }

    /// A storage buffer holding `bytes` (padded, see [`padded_len`]).
    pub fn upload(
        &mut self,
        ctx: &GpuContext,
        label: &str,
        bytes: &[u8],
        cat: Category,
    ) -> Result<wgpu::Buffer, GpuError> {
        let buf = self.create(ctx, label, padded_len(bytes.len()), STORAGE, cat)?;
        ctx.queue.write_buffer(&buf, 0, &pad4(bytes));
        Ok(buf)
    }

    /// Gives a buffer back (the KV cache, when it moves to a larger one). wgpu frees it once the last
    /// submitted command using it has run, so a copy out of it recorded before may still be submitted.
    pub fn release_later(&mut self, buf: wgpu::Buffer, cat: Category) {
        *self.used.slot(cat) -= buf.size();
        let id = identity(&buf);
        if let Some(i) = self.held.iter().position(|h| h.id == id) {
            self.held.swap_remove(i);
        }
        if let Some(total) = &self.device_total {
            total.fetch_sub(buf.size(), Ordering::Relaxed);
        }
        drop(buf);
    }
}

/// Bytes of a buffer holding `len` bytes for the kernels: whole 16-byte loads (the weights are read as
/// `array<vec4<u32>>`), and 16 spare bytes for a read that runs past the data.
pub fn padded_len(len: usize) -> u64 {
    (len.next_multiple_of(16) + 16) as u64
}

/// `write_buffer` wants whole words.
fn pad4(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if bytes.len().is_multiple_of(4) {
        bytes.into()
    } else {
        let mut v = bytes.to_vec();
        v.resize(bytes.len().div_ceil(4) * 4, 0);
        v.into()
    }
}
