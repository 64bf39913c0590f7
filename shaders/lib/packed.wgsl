// Reading encoded weights from `w: array<vec4<u32>>` (declared by the kernel): 16 bytes in one load where
// they are 16-byte aligned (a split row's quants, crates/gpu/src/layout.rs, in any row whose bytes are a
// multiple of 16), words and bytes anywhere else. Buffers are padded to 16 bytes plus 16 spare, so a read
// may run past the data.

// Word `i` (bytes 4i .. 4i + 4).
fn word(i: u32) -> u32 {
    return w[i >> 2u][i & 3u];
}

// Words i .. i + 4: one 16-byte load where i is a multiple of 4, else four word loads (rows of a few
// blocks, in small models, can start anywhere on a word).
fn quad(i: u32) -> vec4<u32> {
    if (i & 3u) == 0u {
        return w[i >> 2u];
    }
    return vec4<u32>(word(i), word(i + 1u), word(i + 2u), word(i + 3u));
}

// The 4 bytes starting at byte offset `byte`, little-endian.
fn load_word(byte: u32) -> u32 {
    let i = byte >> 2u;
    let shift = (byte & 3u) * 8u;
    if shift == 0u {
        return word(i);
    }
    return (word(i) >> shift) | (word(i + 1u) << (32u - shift));
}

// One byte.
fn load_u8(byte: u32) -> u32 {
    return (word(byte >> 2u) >> ((byte & 3u) * 8u)) & 0xffu;
}

// The f16 at the even offset `byte`, as f32 (f16 stays packed: no shader-f16 needed).
fn load_f16(byte: u32) -> f32 {
    return unpack2x16float(word(byte >> 2u) >> ((byte & 2u) * 8u)).x;
}

// The four signed bytes of a word, lowest first.
fn i8x4(v: u32) -> vec4<f32> {
    return vec4<f32>(vec4<i32>(i32(v << 24u) >> 24u, i32(v << 16u) >> 24u, i32(v << 8u) >> 24u, i32(v) >> 24u));
}

// The four unsigned bytes of a word, lowest first.
fn u8x4(v: u32) -> vec4<u32> {
    return vec4<u32>(v & 0xffu, (v >> 8u) & 0xffu, (v >> 16u) & 0xffu, v >> 24u);
}

// The low nibbles of the four bytes of a word.
fn lo4(v: u32) -> vec4<f32> {
    return vec4<f32>(u8x4(v) & vec4<u32>(0xfu));
}

// The high nibbles of the four bytes of a word.
fn hi4(v: u32) -> vec4<f32> {
    return vec4<f32>(u8x4(v) >> vec4<u32>(4u));
}

// Bits `first .. first + 3` of `v`, each as 0.0 or 1.0 (Q5's fifth bits).
fn bits4(v: u32, first: u32) -> vec4<f32> {
    return vec4<f32>((vec4<u32>(v) >> (vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(1u));
}

// (scale, min) of sub-block j (0..8) of a Q4_K / Q5_K super-block, from the 12 packed bytes at `at`
// (ggml's get_scale_min_k4).
fn scale_min_k4(at: u32, j: u32) -> vec2<f32> {
    if j < 4u {
        return vec2<f32>(f32(load_u8(at + j) & 63u), f32(load_u8(at + j + 4u) & 63u));
    }
    let sc = (load_u8(at + j + 4u) & 0xfu) | ((load_u8(at + j - 4u) >> 6u) << 4u);
    let m = (load_u8(at + j + 4u) >> 4u) | ((load_u8(at + j) >> 6u) << 4u);
    return vec2<f32>(f32(sc), f32(m));
}
