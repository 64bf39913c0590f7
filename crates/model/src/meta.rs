//! Reading llama.cpp's metadata keys (`LLM_KV_*` in `llama-arch.cpp`) with range checks, so absurd values
//! become typed errors before anything is sized from them.

use crate::ModelError;
use archrace_gguf::{Gguf, GgufError, Value};

/// Largest value archrace accepts for any model dimension (embedding, FFN, inner size): 2^20.
pub const MAX_DIM: u64 = 1 << 20;
/// Largest vocabulary: 2^22 tokens.
pub const MAX_VOCAB: u64 = 1 << 22;
/// Most layers.
pub const MAX_LAYERS: u64 = 4096;

/// Metadata of one architecture: `"{arch}.{key}"` lookups.
pub struct Meta<'g, 'a> {
    /// The parsed file.
    pub gguf: &'g Gguf<'a>,
    /// `general.architecture`.
    pub arch: &'g str,
}

impl<'g, 'a> Meta<'g, 'a> {
    /// The full key name for `key` under this architecture.
    pub fn key(&self, key: &str) -> String {
        format!("{}.{key}", self.arch)
    }

    /// The raw value of `{arch}.{key}`.
    pub fn value(&self, key: &str) -> Option<&'g Value> {
        self.gguf.get(&self.key(key))
    }

    /// A required unsigned integer in `1..=max` (0 is named as 0, not as missing).
    pub fn dim(&self, key: &str, max: u64) -> Result<usize, ModelError> {
        if self.value(key).is_none() {
            return Err(GgufError::MissingKey(self.key(key)).into());
        }
        self.opt_dim(key, max)?
            .ok_or_else(|| ModelError::BadMetadata { key: self.key(key), reason: "is 0; it must be at least 1".into() })
    }

    /// An optional unsigned integer in `1..=max` (0 or absent give `None`).
    pub fn opt_dim(&self, key: &str, max: u64) -> Result<Option<usize>, ModelError> {
        let Some(v) = self.value(key) else { return Ok(None) };
        let n = v.as_u64().ok_or_else(|| GgufError::WrongType {
            key: self.key(key),
            expected: "an unsigned integer",
            found: v.type_name(),
        })?;
        if n > max {
            return Err(ModelError::BadMetadata { key: self.key(key), reason: format!("{n} exceeds the limit {max}") });
        }
        Ok((n > 0).then_some(n as usize))
    }

    /// A required float.
    pub fn float(&self, key: &str) -> Result<f32, ModelError> {
        self.opt_float(key)?.ok_or_else(|| GgufError::MissingKey(self.key(key)).into())
    }

    /// An optional float.
    pub fn opt_float(&self, key: &str) -> Result<Option<f32>, ModelError> {
        let Some(v) = self.value(key) else { return Ok(None) };
        let x = v.as_f64().ok_or_else(|| GgufError::WrongType {
            key: self.key(key),
            expected: "a number",
            found: v.type_name(),
        })?;
        if !x.is_finite() {
            return Err(ModelError::BadMetadata { key: self.key(key), reason: format!("{x} is not finite") });
        }
        Ok(Some(x as f32))
    }

    /// A required float in `(0, max]`: epsilons, frequency bases, scales (0 or a negative value would give
    /// NaN or infinite activations).
    pub fn positive(&self, key: &str, max: f32) -> Result<f32, ModelError> {
        self.opt_positive(key, max)?.ok_or_else(|| GgufError::MissingKey(self.key(key)).into())
    }

    /// An optional float in `(0, max]`.
    pub fn opt_positive(&self, key: &str, max: f32) -> Result<Option<f32>, ModelError> {
        match self.opt_float(key)? {
            Some(x) if !(x > 0.0 && x <= max) => {
                Err(ModelError::BadMetadata { key: self.key(key), reason: format!("{x} is outside (0, {max}]") })
            }
            other => Ok(other),
        }
    }

    /// A per-layer unsigned integer: either one value for every layer or an array of `n_layers` values
    /// (llama.cpp allows both for `attention.head_count_kv` and friends).
    pub fn per_layer(&self, key: &str, n_layers: usize, max: u64) -> Result<Option<Vec<usize>>, ModelError> {
        let Some(v) = self.value(key) else { return Ok(None) };
        let values: Vec<Value> = match v.as_array() {
            Some(items) if items.len() == n_layers => items.values().collect(),
            Some(items) => {
                return Err(ModelError::BadMetadata {
                    key: self.key(key),
                    reason: format!("{} values for {n_layers} layers", items.len()),
                })
            }
            None => vec![v.clone(); n_layers],
        };
        values
            .into_iter()
            .map(|item| match item.as_u64() {
                Some(n) if n <= max => Ok(n as usize),
                Some(n) => {
                    Err(ModelError::BadMetadata { key: self.key(key), reason: format!("{n} exceeds the limit {max}") })
                }
                None => Err(GgufError::WrongType {
                    key: self.key(key),
                    expected: "unsigned integers",
                    found: item.type_name(),
                }
                .into()),
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    /// A bool, `false` when absent.
    pub fn flag(&self, key: &str) -> bool {
        self.value(key).and_then(Value::as_bool).unwrap_or(false)
    }
}
