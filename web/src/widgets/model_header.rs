//! A model described from its GGUF header alone (read with range requests): what the layer stack, the
//! memory chart and the calculator show without downloading any weights.

use crate::engine::fetch::fetch_header;
use crate::engine::lane::layer_cells;
use crate::engine::protocol::LayerCell;
use crate::engine::ModelSource;
use archrace_gguf::Gguf;
use archrace_model::calc::{report, KvType, MemoryReport};
use archrace_model::ModelSpec;

/// What a GGUF's header says about its model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelHeader {
    /// `general.name`, or the file's name.
    pub name: String,
    /// The spec the runtime would build.
    pub spec: ModelSpec,
    /// One cell per layer.
    pub layers: Vec<LayerCell>,
    /// Parameters and weight bytes (from the tensor infos), KV per token, state (context 0, f16 KV).
    pub report: MemoryReport,
}

/// The URL a model source is read from.
pub fn source_url(source: &ModelSource) -> Result<String, String> {
    match source {
        ModelSource::Bundled(id) => crate::models::bundled(id)
            .map(|b| b.url())
            .ok_or_else(|| format!("there is no bundled model called {id:?}")),
        ModelSource::Url(url) => Ok(url.clone()),
    }
}

/// Reads the header of `source` and describes its model.
pub async fn model_header(source: &ModelSource) -> Result<ModelHeader, String> {
    let url = source_url(source)?;
    let (head, file_len) = fetch_header(&url).await?;
    describe(&url, &head, file_len)
}

/// Describes the model whose header is `head` (of a file of `file_len` bytes at `url`).
pub fn describe(url: &str, head: &[u8], file_len: u64) -> Result<ModelHeader, String> {
    let g = Gguf::parse_header(head, file_len).map_err(|e| format!("{url}: {e}"))?;
    let spec = ModelSpec::from_gguf(&g).map_err(|e| format!("{url}: {e}"))?;
    let report = report(&spec, Some(&g), 0, KvType::F16).map_err(|e| format!("{url}: {e}"))?;
    let name = if spec.name.is_empty() { url.rsplit('/').next().unwrap_or(url).to_string() } else { spec.name.clone() };
    Ok(ModelHeader { name, layers: layer_cells(&spec), spec, report })
}
