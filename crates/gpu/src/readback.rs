//! Copying a storage buffer back to the CPU, the same way natively and in the browser.

use crate::GpuError;

/// Maps `staging` (a `MAP_READ | COPY_DST` buffer already filled by a submitted copy) and returns its
/// bytes. Natively `poll` drives the map to completion; in the browser the event loop does and `poll` is
/// a no-op, so the same code serves both.
pub async fn read_bytes(device: &wgpu::Device, staging: &wgpu::Buffer) -> Result<Vec<u8>, GpuError> {
    start_read(staging).finish(device).await
}

/// Asks for `staging` to be mapped now and returns the read under way, so that the wait for the map can
/// overlap other waits on the device (in the browser each is a round trip to the GPU process): a decode
/// step asks for its token, then pops its error scopes, then finishes the read.
pub fn start_read(staging: &wgpu::Buffer) -> PendingRead {
    let (tx, rx) = futures_channel::oneshot::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    PendingRead { staging: staging.clone(), mapped: rx }
}

/// A read-back whose map was asked for ([`start_read`]). Finish it before the buffer is written again: a
/// buffer with a map pending cannot be a copy's destination.
#[must_use = "a pending map blocks the staging buffer until the read is finished"]
pub struct PendingRead {
    staging: wgpu::Buffer,
    mapped: futures_channel::oneshot::Receiver<Result<(), wgpu::BufferAsyncError>>,
}

impl PendingRead {
    /// Waits for the map, copies the bytes out and unmaps.
    pub async fn finish(self, device: &wgpu::Device) -> Result<Vec<u8>, GpuError> {
        device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Readback(e.to_string()))?;
        self.mapped
            .await
            .map_err(|_| GpuError::Readback("the map callback was dropped (device lost?)".into()))?
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let out = {
            let view = self.staging.get_mapped_range(..).map_err(|e| GpuError::Readback(e.to_string()))?;
            view.to_vec()
        };
        self.staging.unmap();
        Ok(out)
    }
}

/// [`read_bytes`] as f32.
pub async fn read_f32(device: &wgpu::Device, staging: &wgpu::Buffer) -> Result<Vec<f32>, GpuError> {
    Ok(bytemuck::pod_collect_to_vec(&read_bytes(device, staging).await?))
}

/// The first u32 of bytes read from a staging buffer.
pub fn first_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes[..4].try_into().expect("staging buffers hold at least 16 bytes"))
}
