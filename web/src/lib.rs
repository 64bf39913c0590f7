//! archrace's playground: a Leptos CSR app, built by Trunk from `web/index.html`.

pub mod app;
pub mod assets;
pub mod chart;
pub mod components;
pub mod engine;
pub mod models;
pub mod panic;
pub mod probe;
pub mod race_state;
pub mod state;
pub mod url_state;
pub mod widgets;

pub use app::App;
