//! archrace's playground: a Leptos CSR app, built by Trunk from `web/index.html`.

pub mod app;
pub mod components;
pub mod panic;
pub mod probe;
pub mod state;

pub use app::App;
