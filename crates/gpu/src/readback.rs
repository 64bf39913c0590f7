//! Copying a storage buffer back to the CPU, the same way natively and in the browser.

use crate::GpuError;

/// Maps `staging` (a `MAP_READ | COPY_DST` buffer already filled by a submitted copy) and returns its
/// bytes. Natively `poll` drives the map to completion; in the browser the event loop does and `poll` is
/// a no-op, so the same code serves both.
pub async fn read_bytes(device: &wgpu::Device, staging: &wgpu::Buffer) -> Result<Vec<u8>, GpuError> {
    let (tx, rx) = futures_channel::oneshot::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    device.poll(wgpu::PollType::wait_indefinitely()).map_err(|e| GpuError::Readback(e.to_string()))?;
    rx.await
        .map_err(|_| GpuError::Readback("the map callback was dropped (device lost?)".into()))?
        .map_err(|e| GpuError::Readback(e.to_string()))?;
    let out = {
        let view = staging.get_mapped_range(..).map_err(|e| GpuError::Readback(e.to_string()))?;
        view.to_vec()
    };
    staging.unmap();
    Ok(out)
}

/// [`read_bytes`] as f32.
pub async fn read_f32(device: &wgpu::Device, staging: &wgpu::Buffer) -> Result<Vec<f32>, GpuError> {
    Ok(bytemuck::pod_collect_to_vec(&read_bytes(device, staging).await?))
}

/// The first u32 of `staging`.
pub async fn read_u32(device: &wgpu::Device, staging: &wgpu::Buffer) -> Result<u32, GpuError> {
    let bytes = read_bytes(device, staging).await?;
    Ok(u32::from_le_bytes(bytes[..4].try_into().expect("staging buffers hold at least 16 bytes")))
}
