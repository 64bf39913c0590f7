//! Every way a GGUF file can be wrong, each naming the problem.

use std::fmt;

/// A GGUF file that cannot be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GgufError {
    /// The file ended before a field could be read.
    Truncated {
        /// What was being read.
        what: String,
        /// Byte offset where it starts.
        offset: u64,
        /// Bytes it needs.
        needed: u64,
        /// File length.
        len: u64,
    },
    /// Not a GGUF file (the first four bytes are not `GGUF`).
    BadMagic([u8; 4]),
    /// A GGUF version this reader does not know (it reads 2 and 3).
    UnsupportedVersion(u32),
    /// A metadata value type id outside the GGUF spec.
    BadValueType {
        /// The metadata key.
        key: String,
        /// The type id found.
        type_id: u32,
    },
    /// A count (of tensors, metadata entries, array elements, dims) that the file cannot hold.
    BadCount {
        /// What was counted.
        what: String,
        /// The count found.
        count: u64,
    },
    /// More entries of a kind than archrace reads from one file.
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The count found.
        count: u64,
        /// The most accepted.
        limit: u64,
    },
    /// An array whose elements are arrays (the GGUF spec allows it; llama.cpp and archrace do not).
    NestedArray {
        /// The metadata key.
        key: String,
    },
    /// A string that is not UTF-8.
    BadString {
        /// Where it was.
        what: String,
    },
    /// The same metadata key or tensor name twice.
    Duplicate {
        /// The repeated name.
        name: String,
    },
    /// A tensor whose dimensions are zero, too many, or too large.
    BadShape {
        /// Tensor name.
        tensor: String,
        /// Dimensions as stored (ggml order, innermost first).
        dims: Vec<u64>,
        /// Why they are wrong.
        reason: String,
    },
    /// A tensor type this project does not read.
    UnsupportedType {
        /// Tensor name.
        tensor: String,
        /// ggml type id.
        type_id: u32,
        /// ggml's name for it, when it is a known ggml type.
        type_name: Option<&'static str>,
    },
    /// A tensor's data offset that is misaligned, or data that runs past the end of the file.
    BadOffset {
        /// Tensor name.
        tensor: String,
        /// Offset relative to the data section.
        offset: u64,
        /// Why it is wrong.
        reason: String,
    },
    /// Two tensors whose data overlap.
    Overlap {
        /// The first tensor.
        first: String,
        /// The tensor that starts inside it.
        second: String,
    },
    /// `general.alignment` that is not a power of two up to [`crate::reader::MAX_ALIGNMENT`].
    BadAlignment(u64),
    /// A metadata key a caller needs is missing.
    MissingKey(String),
    /// A metadata key with the wrong value type.
    WrongType {
        /// The key.
        key: String,
        /// What the caller wanted.
        expected: &'static str,
        /// What the file holds.
        found: &'static str,
    },
    /// A tensor a caller needs is missing.
    MissingTensor(String),
}

impl fmt::Display for GgufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use GgufError::*;
        match self {
            Truncated { what, offset, needed, len } => {
                write!(f, "truncated GGUF: {what} needs {needed} bytes at offset {offset}, but the file has {len}")
            }
            BadMagic(m) => write!(f, "not a GGUF file: magic {m:02x?} is not \"GGUF\""),
            UnsupportedVersion(v) => write!(f, "unsupported GGUF version {v} (archrace reads versions 2 and 3)"),
            BadValueType { key, type_id } => write!(f, "metadata key {key:?} has unknown value type {type_id}"),
            BadCount { what, count } => write!(
                f,
                "implausible count of {what}: {count}, more than the rest of the file can hold (truncated or corrupt?)"
            ),
            TooMany { what, count, limit } => {
                write!(f, "{count} {what} in one file; archrace reads at most {limit}")
            }
            NestedArray { key } => write!(
                f,
                "metadata key {key:?} is an array of arrays, which archrace does not read (nor does llama.cpp)"
            ),
            BadString { what } => write!(f, "{what} is not valid UTF-8"),
            Duplicate { name } => write!(f, "duplicate name {name:?}"),
            BadShape { tensor, dims, reason } => write!(f, "tensor {tensor:?} has bad shape {dims:?}: {reason}"),
            UnsupportedType { tensor, type_id, type_name } => match type_name {
                Some(n) => write!(
                    f,
                    "tensor {tensor:?} has type {n} (ggml type {type_id}), which archrace does not support; \
                     supported: F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K"
                ),
                None => write!(f, "tensor {tensor:?} has unknown ggml type id {type_id}"),
            },
            BadOffset { tensor, offset, reason } => {
                write!(f, "tensor {tensor:?} has bad data offset {offset}: {reason}")
            }
            Overlap { first, second } => write!(f, "tensor data overlap: {second:?} starts inside {first:?}"),
            BadAlignment(a) => {
                write!(f, "general.alignment {a} is not a power of two up to {}", crate::reader::MAX_ALIGNMENT)
            }
            MissingKey(k) => write!(f, "missing metadata key {k:?}"),
            WrongType { key, expected, found } => {
                write!(f, "metadata key {key:?} should be {expected} but is {found}")
            }
            MissingTensor(t) => write!(f, "missing tensor {t:?}"),
        }
    }
}

impl std::error::Error for GgufError {}
