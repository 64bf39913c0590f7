//! One module per command group. Each returns `Ok(true)` on success, `Ok(false)` for a negative result
//! (a failed self-test), or an error that names the problem.

mod bench;
mod device;
pub mod engine;
mod inspect;
mod race;
mod run;
mod text;

pub use bench::bench;
pub use device::device;
pub use inspect::{inspect, memory};
pub use race::race;
pub use run::{generate, logits};
pub use text::{detokenize, tokenize};

use std::path::Path;

/// Any command error.
pub type CmdResult = Result<bool, Box<dyn std::error::Error>>;

/// Reads a whole file, naming it on failure.
pub fn read(path: &Path) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

/// Prints `value` as pretty JSON.
pub fn print_json(value: &impl serde::Serialize) {
    println!("{}", serde_json::to_string_pretty(value).expect("serializable"));
}

/// The race's statistic for timings (the median), shared with the page.
pub use archrace_model::race::median;
