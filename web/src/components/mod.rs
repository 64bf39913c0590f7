//! The page's components, one per file.

mod cache_panel;
mod charts;
mod controls;
mod device_panel;
mod embed;
mod explainer;
mod kernel_check;
mod lane_card;
mod layer_strip;
mod model_picker;

pub use cache_panel::CachePanel;
pub use charts::{series, LineChart, Metric, RaceCharts, Series};
pub use controls::{start_race, RaceControls, FILLER_URL};
pub use device_panel::{AdapterFacts, DevicePanel};
pub use embed::{embed_snippets, EmbedPanel};
pub use explainer::{explain, Explainer};
pub use kernel_check::{CheckResult, KernelCheck};
pub use lane_card::LaneCard;
pub use layer_strip::{LayerStrip, StripLegend};
pub use model_picker::ModelPicker;
