//! How a weight matrix's rows sit in GPU memory, so the kernels read whole blocks with 16-byte loads.
//!
//! A GGUF block of Q8_0 (34 bytes), Q4_0 (18), Q4_1 (20), Q5_0 (22), Q5_1 (24) or Q6_K (210) puts its
//! quants at an offset that is not 16-byte aligned, so a thread reads them a word at a time, each word
//! often in two pieces. On upload these encodings are split within each row: every block's quants first,
//! then every block's smaller fields (Q5's fifth bits, then the f16 scales), a run per field, largest
//! first so each stays aligned to its size. Each block's quants then start 16 bytes after the last
//! block's: where the row starts 16-byte aligned, a thread reads a whole Q4_0 block's quants in one
//! `vec4<u32>` load and Q8_0's in two (`quad` in `shaders/lib/packed.wgsl`; elsewhere it reads words).
//! Rows are padded to whole words only, so the GPU holds the file's bytes (2 more per row for an odd
//! number of 32-weight blocks): a row of 8 or more blocks, as in any model of a practical width (a
//! multiple of 256), is a multiple of 16 bytes, so every row of it starts aligned.
//!
//! Row of n Q8_0 blocks: `qs[0] qs[1] .. qs[n-1] d[0] .. d[n-1]` (32 n + 2 n bytes, to whole words).
//!
//! F32, F16, BF16, Q4_K (144-byte blocks) and Q5_K (176) keep their GGUF bytes: their blocks are already
//! multiples of 16 bytes (or read per word). The kernels, `shaders/matvec_<type>.wgsl`, read this layout;
//! [`to_gpu_rows`] and [`from_gpu_rows`] are each other's inverse (tested), and every product's CPU twin
//! reads the GGUF rows as before.

use archrace_gguf::GgmlType;
use std::borrow::Cow;

/// Alignment of a split row: whole words.
pub const ROW_ALIGN: usize = 4;

/// The alignment of a wide load (`vec4<u32>`).
pub const WIDE: usize = 16;

/// The fields of one block as the GPU stores them, in order: (byte offset in the GGUF block, length).
/// The lengths add up to the block's size. `None`: the GGUF bytes as they are.
pub fn split_fields(ty: GgmlType) -> Option<&'static [(usize, usize)]> {
    match ty {
        GgmlType::Q8_0 => Some(&[(2, 32), (0, 2)]),         // qs, d
        GgmlType::Q4_0 => Some(&[(2, 16), (0, 2)]),         // qs, d
        GgmlType::Q4_1 => Some(&[(4, 16), (0, 4)]),         // qs, (d, m)
        GgmlType::Q5_0 => Some(&[(6, 16), (2, 4), (0, 2)]), // qs, qh, d
        GgmlType::Q5_1 => Some(&[(8, 16), (4, 4), (0, 4)]), // qs, qh, (d, m)
        GgmlType::Q6_K => Some(&[(0, 208), (208, 2)]),      // ql qh scales, d
        GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 | GgmlType::Q4_K | GgmlType::Q5_K => None,
    }
}

/// Bytes of one row of `cols` weights on the GPU (a split row's padding to whole words included), or 0
/// when `cols` is not a whole number of blocks.
pub fn row_bytes(ty: GgmlType, cols: usize) -> usize {
    let ggml = ty.row_bytes(cols as u64).unwrap_or(0) as usize;
    match split_fields(ty) {
        Some(_) => ggml.next_multiple_of(ROW_ALIGN),
        None => ggml,
    }
}

/// `data` (whole GGUF rows of `cols` weights) in the GPU's layout.
pub fn to_gpu_rows(ty: GgmlType, cols: usize, data: &[u8]) -> Cow<'_, [u8]> {
    let Some(fields) = split_fields(ty) else { return data.into() };
    let (ggml, gpu) = (ty.row_bytes(cols as u64).unwrap_or(0) as usize, row_bytes(ty, cols));
    let (size, blocks) = (ty.type_size(), cols / ty.block_size());
    if ggml == 0 {
        return Cow::Owned(Vec::new());
    }
    let mut out = vec![0u8; data.len() / ggml * gpu];
    for (src, dst) in data.chunks_exact(ggml).zip(out.chunks_exact_mut(gpu)) {
        let mut run = 0; // where this field's run starts in the row
        for &(at, len) in fields {
            for b in 0..blocks {
                dst[run + b * len..][..len].copy_from_slice(&src[b * size + at..][..len]);
            }
            run += blocks * len;
        }
    }
    out.into()
}

/// GGUF rows back from the GPU's layout: the inverse of [`to_gpu_rows`].
pub fn from_gpu_rows(ty: GgmlType, cols: usize, data: &[u8]) -> Vec<u8> {
    let Some(fields) = split_fields(ty) else { return data.to_vec() };
    let (ggml, gpu) = (ty.row_bytes(cols as u64).unwrap_or(0) as usize, row_bytes(ty, cols));
    let (size, blocks) = (ty.type_size(), cols / ty.block_size());
    if gpu == 0 {
        return Vec::new();
    }
    let mut out = vec![0u8; data.len() / gpu * ggml];
    for (src, dst) in data.chunks_exact(gpu).zip(out.chunks_exact_mut(ggml)) {
        let mut run = 0;
        for &(at, len) in fields {
            for b in 0..blocks {
                dst[b * size + at..][..len].copy_from_slice(&src[run + b * len..][..len]);
            }
            run += blocks * len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_cover_each_block_once_and_stay_aligned() {
        for ty in GgmlType::ALL {
            let Some(fields) = split_fields(ty) else { continue };
            let mut covered = vec![0u8; ty.type_size()];
            for &(at, len) in fields {
                covered[at..at + len].iter_mut().for_each(|c| *c += 1);
            }
            assert!(covered.iter().all(|&c| c == 1), "{ty}: {covered:?}");
            // The quants come first, a multiple of 16 bytes per block; each later run starts aligned to
            // its field's size (4 or 2), as the kernels read it.
            assert_eq!(fields[0].1 % WIDE, 0, "{ty}");
            let mut run = 0;
            for &(_, len) in fields {
                assert_eq!(run % len.min(4), 0, "{ty}: a field of {len} bytes at {run} per block");
                run += len;
            }
        }
    }

    #[test]
    fn rows_round_trip_and_put_each_block_where_the_kernels_read_it() {
        for ty in GgmlType::ALL {
            for blocks in [1usize, 3, 8, 24] {
                let cols = blocks * ty.block_size().max(4);
                let ggml = ty.row_bytes(cols as u64).unwrap() as usize;
                let data: Vec<u8> = (0..3 * ggml).map(|i| (i * 7 + i / 251) as u8).collect();
                let gpu = to_gpu_rows(ty, cols, &data);
                assert_eq!(gpu.len(), 3 * row_bytes(ty, cols), "{ty} x {blocks}");
                assert_eq!(from_gpu_rows(ty, cols, &gpu), data, "{ty} x {blocks}");
                if let Some(fields) = split_fields(ty) {
                    // Whole words, the file's bytes but for an odd block count's 2 more.
                    let row = row_bytes(ty, cols);
                    assert_eq!(row, ggml.next_multiple_of(ROW_ALIGN), "{ty} x {blocks}");
                    // Row 1, block b's quants at row + b * len: 16 bytes on from the block before, so all
                    // 16-byte aligned when the rows are, as with a multiple of 8 blocks.
                    let (at, len) = fields[0];
                    for b in 0..blocks {
                        let want = &data[ggml + b * ty.type_size() + at..][..len];
                        assert_eq!(&gpu[row + b * len..][..len], want, "{ty} block {b}");
                    }
                    assert!(!blocks.is_multiple_of(8) || row.is_multiple_of(WIDE), "{ty} x {blocks}: {row} bytes");
                }
            }
        }
    }

    #[test]
    fn unsplit_encodings_keep_their_bytes() {
        for ty in [GgmlType::F32, GgmlType::F16, GgmlType::BF16, GgmlType::Q4_K, GgmlType::Q5_K] {
            let cols = 256;
            assert_eq!(row_bytes(ty, cols), ty.row_bytes(cols as u64).unwrap() as usize);
            let data = vec![5u8; row_bytes(ty, cols)];
            assert!(matches!(to_gpu_rows(ty, cols, &data), Cow::Borrowed(_)));
        }
        assert_eq!(row_bytes(GgmlType::Q8_0, 33), 0, "not whole blocks");
    }
}
