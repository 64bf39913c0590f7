//! Every kernel of the decode step against its same-named CPU twin, on seeded data, on whatever native
//! adapter wgpu finds (lavapipe in CI). A failure names the index and both values.
#![cfg(not(target_arch = "wasm32"))]

#[path = "../common/mod.rs"]
mod common;

mod attention;
mod mamba;
mod matvec;
mod moe;
mod rows;
mod rwkv;
