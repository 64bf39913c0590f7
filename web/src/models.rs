//! The models bundled with the site, in `public/models/`.
//!
//! Until the trained demo models land (issue 6), these are the random-weight test fixtures from
//! `tests/fixtures/` (llama.cpp's goldens verify them): they race with real speed and memory figures,
//! but their text is noise, and the page says so.

/// A bundled model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bundled {
    /// Short id used in the URL (`?lanes=llama,mamba`).
    pub id: &'static str,
    /// File under `public/models/`.
    pub file: &'static str,
    /// What the picker shows.
    pub label: &'static str,
}

/// Every bundled model, in the default race's order.
pub const BUNDLED: [Bundled; 4] = [
    Bundled { id: "llama", file: "llama-q8_0.gguf", label: "Transformer (llama), tiny random, Q8_0" },
    Bundled { id: "mamba", file: "mamba-q8_0.gguf", label: "Mamba, tiny random, Q8_0" },
    Bundled { id: "rwkv7", file: "rwkv7-q8_0.gguf", label: "RWKV-7, tiny random, Q8_0" },
    Bundled { id: "jamba", file: "jamba-q8_0.gguf", label: "Jamba, tiny random, Q8_0" },
];

/// The bundled model with this id.
pub fn bundled(id: &str) -> Option<Bundled> {
    BUNDLED.iter().copied().find(|b| b.id == id)
}

/// Whether the bundled models are placeholders with random weights (their text is noise).
pub const BUNDLED_ARE_RANDOM: bool = true;

/// The public-domain text that fills the context when the visitor extends it (Shakespeare: Sonnets 18
/// and 116, "All the world's a stage", "To be, or not to be"); it repeats for longer contexts.
pub const FILLER_TEXT: &str = include_str!("../../public/text/shakespeare.txt");
