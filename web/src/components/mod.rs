//! The page's components, one per file.

mod device_panel;
mod kernel_check;

pub use device_panel::{AdapterFacts, DevicePanel};
pub use kernel_check::{CheckResult, KernelCheck};
