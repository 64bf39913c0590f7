//! The models bundled with the site, in `public/models/`: four tiny models (Transformer, Mamba, RWKV-7,
//! Jamba) trained the same way on the same Shakespeare text by `tools/train/run.sh`, with matched active
//! parameters (cards in `public/models/README.md`). Q8_0 races by default; Q4_0 is in the picker.

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

impl Bundled {
    /// Where the site serves it (beside the page, or beside the widget script).
    pub fn url(&self) -> String {
        crate::assets::asset_url(&format!("public/models/{}", self.file))
    }
}

/// The default race, one lane per architecture, in order.
pub const DEFAULT_RACE: [Bundled; 4] = [
    Bundled { id: "llama", file: "llama-q8_0.gguf", label: "Transformer (llama) 2.2M, Q8_0" },
    Bundled { id: "mamba", file: "mamba-q8_0.gguf", label: "Mamba 2.2M, Q8_0" },
    Bundled { id: "rwkv7", file: "rwkv7-q8_0.gguf", label: "RWKV-7 2.1M, Q8_0" },
    Bundled { id: "jamba", file: "jamba-q8_0.gguf", label: "Jamba 2.2M active of 3.6M, Q8_0" },
];

/// The same four models quantized to Q4_0 (about half the weight bytes).
pub const Q4_0: [Bundled; 4] = [
    Bundled { id: "llama-q4", file: "llama-q4_0.gguf", label: "Transformer (llama) 2.2M, Q4_0" },
    Bundled { id: "mamba-q4", file: "mamba-q4_0.gguf", label: "Mamba 2.2M, Q4_0" },
    Bundled { id: "rwkv7-q4", file: "rwkv7-q4_0.gguf", label: "RWKV-7 2.1M, Q4_0" },
    Bundled { id: "jamba-q4", file: "jamba-q4_0.gguf", label: "Jamba 2.2M active of 3.6M, Q4_0" },
];

/// Every bundled model, as the picker lists them.
pub fn all() -> impl Iterator<Item = Bundled> {
    DEFAULT_RACE.into_iter().chain(Q4_0)
}

/// The bundled model with this id.
pub fn bundled(id: &str) -> Option<Bundled> {
    all().find(|b| b.id == id)
}
