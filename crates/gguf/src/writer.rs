//! Writing GGUF v3: for generated and trained models and for tests. The layout matches gguf-py's: header,
//! metadata, tensor infos, padding to the alignment, then each tensor's data padded to the alignment.

use crate::reader::{Gguf, TensorInfo, DEFAULT_ALIGNMENT, GGUF_MAGIC};
use crate::value::Value;
use crate::GgmlType;

/// A GGUF file being assembled in memory.
#[derive(Clone, Debug, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, Value)>,
    tensors: Vec<(String, Vec<u64>, GgmlType, Vec<u8>)>,
}

impl GgufWriter {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of `g` (its metadata and tensors, in order) in which `edit` may replace any tensor: it gets
    /// each tensor and its data and returns `Some((dims, encoding, data))` for a replacement, `None` to
    /// keep it. For tests and tools that derive a file from another.
    pub fn copy_of(
        g: &Gguf<'_>,
        mut edit: impl FnMut(&TensorInfo, &[u8]) -> Option<(Vec<u64>, GgmlType, Vec<u8>)>,
    ) -> Self {
        let mut w = Self::new();
        for (k, v) in &g.metadata {
            w.metadata(k, v.clone());
        }
        for t in &g.tensors {
            let data = g.tensor_data(t);
            match edit(t, data) {
                Some((dims, ty, new)) => w.tensor(&t.name, &dims, ty, new),
                None => w.tensor(&t.name, &t.dims, t.ty, data.to_vec()),
            };
        }
        w
    }

    /// Adds a metadata entry (in order).
    pub fn metadata(&mut self, key: &str, value: Value) -> &mut Self {
        self.metadata.push((key.to_string(), value));
        self
    }

    /// Adds a tensor: `dims` in ggml order (row length first), `data` already encoded in `ty`.
    ///
    /// # Panics
    /// If `data` does not have the byte size `dims` and `ty` call for.
    pub fn tensor(&mut self, name: &str, dims: &[u64], ty: GgmlType, data: Vec<u8>) -> &mut Self {
        let rows: u64 = dims[1..].iter().product();
        let expected = ty.row_bytes(dims[0]).expect("row of whole blocks") * rows;
        assert_eq!(data.len() as u64, expected, "tensor {name}: data size for {dims:?} {ty}");
        self.tensors.push((name.to_string(), dims.to_vec(), ty, data));
        self
    }

    /// Adds an F32 tensor.
    pub fn tensor_f32(&mut self, name: &str, dims: &[u64], values: &[f32]) -> &mut Self {
        self.tensor(name, dims, GgmlType::F32, bytemuck::cast_slice(values).to_vec())
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let alignment = self
            .metadata
            .iter()
            .find(|(k, _)| k == "general.alignment")
            .and_then(|(_, v)| v.as_u64())
            .unwrap_or(DEFAULT_ALIGNMENT) as usize;
        let mut out = Vec::new();
        out.extend_from_slice(&GGUF_MAGIC);
        out.extend_from_slice(&3u32.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            write_string(&mut out, key);
            out.extend_from_slice(&value.type_id().to_le_bytes());
            write_value(&mut out, value);
        }
        let mut offset = 0usize;
        for (name, dims, ty, data) in &self.tensors {
            write_string(&mut out, name);
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            for d in dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&(*ty as u32).to_le_bytes());
            out.extend_from_slice(&(offset as u64).to_le_bytes());
            offset += data.len().div_ceil(alignment) * alignment;
        }
        out.resize(out.len().div_ceil(alignment) * alignment, 0);
        for (_, _, _, data) in &self.tensors {
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(alignment) * alignment, 0);
        }
        out
    }
}

fn write_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn write_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(*x as u8),
        Value::String(s) => write_string(out, s),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Array(items) => {
            out.extend_from_slice(&items.elem_type_id().to_le_bytes());
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in items.values() {
                write_value(out, &item);
            }
        }
    }
}
