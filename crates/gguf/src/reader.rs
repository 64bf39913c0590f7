//! Reading GGUF v2/v3 from a byte slice, zero-copy: the browser hands over an ArrayBuffer, natively the file
//! is read or mapped. Every count, size and offset is checked against the bytes that are actually there
//! before anything is allocated, so a hostile header cannot ask for more memory than the file justifies.
//!
//! Format: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.

use crate::value::{type_id, Array, Value};
use crate::{GgmlType, GgufError};

/// `GGUF` as a little-endian u32.
pub const GGUF_MAGIC: [u8; 4] = *b"GGUF";
/// Default data alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Largest `general.alignment` taken (1 MiB). ggml asks only for a power of two; real files use 32 (some
/// a page), and a file padded to a larger one holds up to that many bytes of padding per tensor, which a
/// hostile header could set to 2^63 (a copy of it, as the writer makes, would be that large).
pub const MAX_ALIGNMENT: u64 = 1 << 20;
/// ggml's `GGML_MAX_DIMS`.
pub const MAX_DIMS: usize = 4;
/// Most metadata entries in one file. Real models carry under a hundred (the tokenizer's vocabulary is one
/// array entry); the cap bounds the per-entry bookkeeping a file of tiny entries could otherwise cost.
pub const MAX_METADATA_ENTRIES: u64 = 1 << 16;
/// Most tensors in one file (a 64-layer MoE with split experts has a few thousand).
pub const MAX_TENSORS: u64 = 1 << 20;

/// One tensor's header: name, shape, type and where its bytes are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    /// Name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions in ggml order: `dims[0]` is the row length (innermost, contiguous).
    pub dims: Vec<u64>,
    /// Element type.
    pub ty: GgmlType,
    /// Offset of the data from the start of the data section.
    pub offset: u64,
    /// Byte size of the data.
    pub size: u64,
}

impl TensorInfo {
    /// Number of elements.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Row length (`dims[0]`).
    pub fn row_len(&self) -> u64 {
        self.dims[0]
    }

    /// Number of rows: the product of all dims but the first.
    pub fn n_rows(&self) -> u64 {
        self.dims[1..].iter().product()
    }
}

/// A parsed GGUF file borrowing its bytes.
#[derive(Debug)]
pub struct Gguf<'a> {
    /// GGUF version (2 or 3).
    pub version: u32,
    /// Metadata in file order.
    pub metadata: Vec<(String, Value)>,
    /// Tensor headers in file order.
    pub tensors: Vec<TensorInfo>,
    /// Data alignment.
    pub alignment: u64,
    /// Absolute offset of the data section.
    pub data_offset: u64,
    /// The file's bytes: all of them, or only its head for [`Gguf::parse_header`].
    bytes: &'a [u8],
    /// Parsed from the head of the file only: no tensor's data is at hand.
    header_only: bool,
    /// Indices into `metadata`, sorted by key.
    meta_index: Vec<u32>,
    /// Indices into `tensors`, sorted by name.
    tensor_index: Vec<u32>,
}

/// A bounds-checked little-endian reader.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// The whole file's length (more than `bytes` when only its head is at hand): counts are checked
    /// against what the file can hold, reads against what is here.
    file_len: u64,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: u64, what: &dyn Fn() -> String) -> Result<&'a [u8], GgufError> {
        let remaining = (self.bytes.len() - self.pos) as u64;
        if n > remaining {
            return Err(GgufError::Truncated {
                what: what(),
                offset: self.pos as u64,
                needed: n,
                len: self.bytes.len() as u64,
            });
        }
        let s = &self.bytes[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn remaining(&self) -> u64 {
        self.file_len.saturating_sub(self.pos as u64)
    }

    fn array<const N: usize>(&mut self, what: &dyn Fn() -> String) -> Result<[u8; N], GgufError> {
        Ok(self.take(N as u64, what)?.try_into().expect("took N bytes"))
    }

    fn u32(&mut self, what: &dyn Fn() -> String) -> Result<u32, GgufError> {
        self.array(what).map(u32::from_le_bytes)
    }

    fn u64(&mut self, what: &dyn Fn() -> String) -> Result<u64, GgufError> {
        self.array(what).map(u64::from_le_bytes)
    }

    fn str(&mut self, what: &dyn Fn() -> String) -> Result<&'a str, GgufError> {
        let len = self.u64(what)?;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|_| GgufError::BadString { what: what() })
    }

    fn string(&mut self, what: &dyn Fn() -> String) -> Result<String, GgufError> {
        self.str(what).map(str::to_string)
    }

    /// `count` fixed-size elements, decoded from their little-endian bytes.
    fn fixed<T, const N: usize>(
        &mut self,
        count: u64,
        what: &dyn Fn() -> String,
        decode: fn([u8; N]) -> T,
    ) -> Result<Vec<T>, GgufError> {
        let bytes = self.take(count.saturating_mul(N as u64), what)?;
        Ok(bytes.chunks_exact(N).map(|c| decode(c.try_into().expect("chunk of N bytes"))).collect())
    }

    fn value(&mut self, ty: u32, key: &str) -> Result<Value, GgufError> {
        let what = || format!("metadata value of {key:?}");
        use type_id::*;
        Ok(match ty {
            UINT8 => Value::U8(self.array::<1>(&what)?[0]),
            INT8 => Value::I8(self.array::<1>(&what)?[0] as i8),
            UINT16 => Value::U16(u16::from_le_bytes(self.array(&what)?)),
            INT16 => Value::I16(i16::from_le_bytes(self.array(&what)?)),
            UINT32 => Value::U32(u32::from_le_bytes(self.array(&what)?)),
            INT32 => Value::I32(i32::from_le_bytes(self.array(&what)?)),
            FLOAT32 => Value::F32(f32::from_le_bytes(self.array(&what)?)),
            BOOL => Value::Bool(self.array::<1>(&what)?[0] != 0),
            STRING => Value::String(self.string(&what)?),
            UINT64 => Value::U64(u64::from_le_bytes(self.array(&what)?)),
            INT64 => Value::I64(i64::from_le_bytes(self.array(&what)?)),
            FLOAT64 => Value::F64(f64::from_le_bytes(self.array(&what)?)),
            ARRAY => Value::Array(self.array_value(key)?),
            other => return Err(GgufError::BadValueType { key: key.to_string(), type_id: other }),
        })
    }

    fn array_value(&mut self, key: &str) -> Result<Array, GgufError> {
        let what = || format!("elements of array {key:?}");
        use type_id::*;
        let elem = self.u32(&what)?;
        let count = self.u64(&what)?;
        if elem == ARRAY {
            return Err(GgufError::NestedArray { key: key.to_string() });
        }
        // Every element takes at least one byte (a string at least 8): a count larger than the rest of the
        // file is a lie, refused before allocating.
        let min_size = match elem {
            UINT8 | INT8 | BOOL => 1,
            UINT16 | INT16 => 2,
            UINT32 | INT32 | FLOAT32 => 4,
            UINT64 | INT64 | FLOAT64 | STRING => 8,
            other => return Err(GgufError::BadValueType { key: key.to_string(), type_id: other }),
        };
        if count.saturating_mul(min_size) > self.remaining() {
            return Err(GgufError::BadCount { what: what(), count });
        }
        // Nothing is allocated for bytes that are not here yet (a header read in part).
        let here = (self.bytes.len() - self.pos) as u64;
        if count.saturating_mul(min_size) > here {
            return Err(GgufError::Truncated {
                what: what(),
                offset: self.pos as u64,
                needed: count.saturating_mul(min_size),
                len: self.bytes.len() as u64,
            });
        }
        Ok(match elem {
            UINT8 => Array::U8(self.fixed(count, &what, |[b]| b)?),
            INT8 => Array::I8(self.fixed(count, &what, |[b]| b as i8)?),
            UINT16 => Array::U16(self.fixed(count, &what, u16::from_le_bytes)?),
            INT16 => Array::I16(self.fixed(count, &what, i16::from_le_bytes)?),
            UINT32 => Array::U32(self.fixed(count, &what, u32::from_le_bytes)?),
            INT32 => Array::I32(self.fixed(count, &what, i32::from_le_bytes)?),
            FLOAT32 => Array::F32(self.fixed(count, &what, f32::from_le_bytes)?),
            BOOL => Array::Bool(self.fixed(count, &what, |[b]| b != 0)?),
            UINT64 => Array::U64(self.fixed(count, &what, u64::from_le_bytes)?),
            INT64 => Array::I64(self.fixed(count, &what, i64::from_le_bytes)?),
            FLOAT64 => Array::F64(self.fixed(count, &what, f64::from_le_bytes)?),
            _ => {
                let mut strings = crate::value::Strings::default();
                strings.reserve(count as usize);
                for _ in 0..count {
                    strings.push(self.str(&what)?);
                }
                Array::String(strings)
            }
        })
    }
}

/// Indices `0..n` sorted by `name(i)`, or the first name that occurs twice.
fn sorted_index<'n>(n: usize, name: impl Fn(usize) -> &'n str) -> Result<Vec<u32>, GgufError> {
    let mut index: Vec<u32> = (0..n as u32).collect();
    index.sort_unstable_by(|&a, &b| name(a as usize).cmp(name(b as usize)));
    if let Some(pair) = index.windows(2).find(|p| name(p[0] as usize) == name(p[1] as usize)) {
        return Err(GgufError::Duplicate { name: name(pair[0] as usize).to_string() });
    }
    Ok(index)
}

/// Looks `key` up in an index made by `sorted_index`.
fn lookup<'n>(index: &[u32], key: &str, name: impl Fn(usize) -> &'n str) -> Option<usize> {
    index.binary_search_by(|&i| name(i as usize).cmp(key)).ok().map(|pos| index[pos] as usize)
}

impl<'a> Gguf<'a> {
    /// Parses the header, metadata and tensor infos, and checks every tensor's bytes lie inside the file,
    /// aligned and without overlapping another's.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, GgufError> {
        Self::parse_with(bytes, bytes.len() as u64, false)
    }

    /// Parses the header, metadata and tensor infos from the first bytes of a file of `file_len` bytes (a
    /// GGUF read over HTTP with range requests), with the same checks as [`Gguf::parse`] against the whole
    /// file's length. `Truncated` means `head` ends inside the header: read more and try again. No
    /// tensor's data is at hand: [`Gguf::tensor_data`] gives empty slices and [`Gguf::is_header_only`]
    /// says so.
    pub fn parse_header(head: &'a [u8], file_len: u64) -> Result<Self, GgufError> {
        Self::parse_with(head, file_len.max(head.len() as u64), true)
    }

    /// Whether this was parsed by [`Gguf::parse_header`].
    pub fn is_header_only(&self) -> bool {
        self.header_only
    }

    fn parse_with(bytes: &'a [u8], file_len: u64, header_only: bool) -> Result<Self, GgufError> {
        let mut c = Cursor { bytes, pos: 0, file_len };
        let magic: [u8; 4] = c.array(&|| "magic".into())?;
        if magic != GGUF_MAGIC {
            return Err(GgufError::BadMagic(magic));
        }
        let version = c.u32(&|| "version".into())?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let n_tensors = c.u64(&|| "tensor count".into())?;
        let n_kv = c.u64(&|| "metadata count".into())?;
        // A metadata entry takes at least 8 + 4 + 1 bytes, a tensor info at least 8 + 4 + 8 + 4 + 8.
        if n_kv > MAX_METADATA_ENTRIES {
            return Err(GgufError::TooMany { what: "metadata entries", count: n_kv, limit: MAX_METADATA_ENTRIES });
        }
        if n_tensors > MAX_TENSORS {
            return Err(GgufError::TooMany { what: "tensors", count: n_tensors, limit: MAX_TENSORS });
        }
        if n_kv.saturating_mul(13) > c.remaining() {
            return Err(GgufError::BadCount { what: "metadata entries".into(), count: n_kv });
        }
        if n_tensors.saturating_mul(32) > c.remaining() {
            return Err(GgufError::BadCount { what: "tensors".into(), count: n_tensors });
        }

        let mut metadata = Vec::with_capacity(n_kv as usize);
        for i in 0..n_kv {
            let key = c.string(&|| format!("metadata key #{i}"))?;
            let ty = c.u32(&|| format!("value type of {key:?}"))?;
            let value = c.value(ty, &key)?;
            metadata.push((key, value));
        }
        let meta_index = sorted_index(metadata.len(), |i| metadata[i].0.as_str())?;

        let alignment = match lookup(&meta_index, "general.alignment", |i| metadata[i].0.as_str()) {
            None => DEFAULT_ALIGNMENT,
            Some(i) => {
                let a = metadata[i].1.as_u64().ok_or_else(|| GgufError::WrongType {
                    key: "general.alignment".into(),
                    expected: "an unsigned integer",
                    found: metadata[i].1.type_name(),
                })?;
                if !a.is_power_of_two() || a > MAX_ALIGNMENT {
                    return Err(GgufError::BadAlignment(a));
                }
                a
            }
        };

        let mut tensors = Vec::with_capacity(n_tensors as usize);
        for i in 0..n_tensors {
            let name = c.string(&|| format!("name of tensor #{i}"))?;
            let n_dims = c.u32(&|| format!("dimension count of {name:?}"))?;
            if n_dims == 0 || n_dims as usize > MAX_DIMS {
                return Err(GgufError::BadShape {
                    tensor: name,
                    dims: vec![],
                    reason: format!("{n_dims} dimensions (1 to {MAX_DIMS} allowed)"),
                });
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(c.u64(&|| format!("dimensions of {name:?}"))?);
            }
            let type_id = c.u32(&|| format!("type of {name:?}"))?;
            let offset = c.u64(&|| format!("offset of {name:?}"))?;
            let ty = GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnsupportedType {
                tensor: name.clone(),
                type_id,
                type_name: GgmlType::ggml_name(type_id),
            })?;
            let size = tensor_size(&name, &dims, ty)?;
            tensors.push(TensorInfo { name, dims, ty, offset, size });
        }

        let tensor_index = sorted_index(tensors.len(), |i| tensors[i].name.as_str())?;

        let data_offset = (c.pos as u64).div_ceil(alignment) * alignment;
        let data_len = file_len.saturating_sub(data_offset);
        for t in &tensors {
            if !t.offset.is_multiple_of(alignment) {
                return Err(GgufError::BadOffset {
                    tensor: t.name.clone(),
                    offset: t.offset,
                    reason: format!("not a multiple of the alignment {alignment}"),
                });
            }
            if t.offset.checked_add(t.size).is_none_or(|end| end > data_len) {
                return Err(GgufError::BadOffset {
                    tensor: t.name.clone(),
                    offset: t.offset,
                    reason: format!("{} bytes of data would end past the file's {data_len} data bytes", t.size),
                });
            }
        }
        let mut by_offset: Vec<&TensorInfo> = tensors.iter().filter(|t| t.size > 0).collect();
        by_offset.sort_by_key(|t| t.offset);
        for pair in by_offset.windows(2) {
            if pair[1].offset < pair[0].offset + pair[0].size {
                return Err(GgufError::Overlap { first: pair[0].name.clone(), second: pair[1].name.clone() });
            }
        }

        Ok(Self { version, metadata, tensors, alignment, data_offset, bytes, header_only, meta_index, tensor_index })
    }

    /// The metadata value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        lookup(&self.meta_index, key, |i| self.metadata[i].0.as_str()).map(|i| &self.metadata[i].1)
    }

    /// The header of tensor `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        lookup(&self.tensor_index, name, |i| self.tensors[i].name.as_str()).map(|i| &self.tensors[i])
    }

    /// The bytes of a tensor, in place (checked at parse time to lie inside the file); empty when only
    /// the header was parsed.
    pub fn tensor_data(&self, t: &TensorInfo) -> &'a [u8] {
        let start = (self.data_offset + t.offset) as usize;
        self.bytes.get(start..start + t.size as usize).unwrap_or(&[])
    }

    /// The whole file.
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

/// Byte size of a tensor, after checking its shape: no zero or overflowing dims, rows of whole blocks.
fn tensor_size(name: &str, dims: &[u64], ty: GgmlType) -> Result<u64, GgufError> {
    let bad = |reason: String| GgufError::BadShape { tensor: name.to_string(), dims: dims.to_vec(), reason };
    if dims.contains(&0) {
        return Err(bad("a dimension is zero".into()));
    }
    let n = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n < 1 << 48)
        .ok_or_else(|| bad("more than 2^48 elements".into()))?;
    let row = ty.row_bytes(dims[0]).ok_or_else(|| {
        bad(format!("row length {} is not a multiple of the {ty} block size {}", dims[0], ty.block_size()))
    })?;
    Ok(row * (n / dims[0]))
}
