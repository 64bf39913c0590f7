//! Copying a storage buffer back to the CPU, the same way natively and in the browser.

use crate::GpuError;

/// Maps `staging` (a `MAP_READ | COPY_DST` buffer already filled by a submitted copy) and returns its
/// contents as f32. Natively `poll` drives the map to completion; in the browser the event loop does
/// and `poll` is a no-op, so the same code serves both.
pub async fn read_f32(device: &wgpu::Device, staging: &wgpu::Buffer) -> Result<Vec<f32>, GpuError> {
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
        bytemuck::cast_slice::<u8, f32>(&view).to_vec()
    };
    staging.unmap();
    Ok(out)
}
