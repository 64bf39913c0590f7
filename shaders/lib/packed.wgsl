// Reading encoded weights from `w: array<vec4<u32>>` (declared by the kernel): 16 bytes in one load where
// they are 16-byte aligned (a split row's quants, crates/gpu/src/layout.rs, in any row whose bytes are a
// multiple of 16), words anywhere else. Buffers are padded to 16 bytes plus 16 spare, so a read
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

// The f16 at the even offset `byte`, as f32 (f16 stays packed: no shader-f16 needed).
fn load_f16(byte: u32) -> f32 {
    return unpack2x16float(word(byte >> 2u) >> ((byte & 2u) * 8u)).x;
}

// `v - minus` as f32, for integers v < 2^22 and small integer `minus`, without an int-to-float conversion:
// v's bits under the exponent of 2^23 make the float 2^23 + v exactly, and taking 2^23 + minus off it is
// exact too (Sterbenz), so the result is the conversion's, bit for bit. The quantized kernels convert every
// weight, and on NVIDIA GPUs a conversion issues at 16 (older) to 64 a clock per SM against 128 FMAs:
// at 16, one per weight caps a Q4_0 matvec near 60% of an H200's bandwidth. OR and FSUB issue at the full
// rate (and the OR folds into the mask's LOP3).
fn ints_f32(v: vec4<u32>, minus: f32) -> vec4<f32> {
    return bitcast<vec4<f32>>(v | vec4<u32>(0x4b000000u)) - vec4<f32>(8388608.0 + minus);
}

// The four unsigned bytes of a word, lowest first.
fn u8x4(v: u32) -> vec4<u32> {
    return (vec4<u32>(v) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu);
}

// The four signed bytes of a word, lowest first (byte ^ 0x80 is the byte + 128).
fn i8x4(v: u32) -> vec4<f32> {
    return ints_f32(u8x4(v ^ 0x80808080u), 128.0);
}

// The low nibbles of the four bytes of a word.
fn lo4u(v: u32) -> vec4<u32> {
    return (vec4<u32>(v) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xfu);
}

// The high nibbles of the four bytes of a word.
fn hi4u(v: u32) -> vec4<u32> {
    return (vec4<u32>(v) >> vec4<u32>(4u, 12u, 20u, 28u)) & vec4<u32>(0xfu);
}

// The low nibbles of the four bytes of a word, less `minus`, as f32.
fn lo4(v: u32, minus: f32) -> vec4<f32> {
    return ints_f32(lo4u(v), minus);
}

// The high nibbles of the four bytes of a word, less `minus`, as f32.
fn hi4(v: u32, minus: f32) -> vec4<f32> {
    return ints_f32(hi4u(v), minus);
}

// Bits `first .. first + 3` of `v`, each as 0 or 16 (Q5's fifth bits, to OR onto the low four).
fn bits4(v: u32, first: u32) -> vec4<u32> {
    return ((vec4<u32>(v) >> (vec4<u32>(first) + vec4<u32>(0u, 1u, 2u, 3u))) & vec4<u32>(1u)) << vec4<u32>(4u);
}

// (scale, min) of sub-blocks 2c and 2c + 1 (c < 4) of a Q4_K / Q5_K super-block, as (scale 2c, min 2c,
// scale 2c + 1, min 2c + 1), from the block's first 16 bytes `head` (f16 d, f16 dmin, then the 12 packed
// bytes, words y, z and w: ggml's get_scale_min_k4 for both sub-blocks at once). Sub-block j < 4 keeps
// its 6-bit scale and min in bytes j and j + 4; j >= 4 keeps their low 4 bits in byte j + 4 and their top
// 2 in the top bits of bytes j - 4 and j.
fn scale_min_k4_pair(head: vec4<u32>, c: u32) -> vec4<f32> {
    let shift = 16u * (c % 2u); // the two sub-blocks' bytes are a half-word of each word
    let a = (head.y >> shift) & 0xffffu;
    let b = (head.z >> shift) & 0xffffu;
    var sc = a & 0x3f3fu;
    var m = b & 0x3f3fu;
    if c >= 2u {
        let e = (head.w >> shift) & 0xffffu;
        sc = (e & 0x0f0fu) | ((a >> 2u) & 0x3030u);
        m = ((e >> 4u) & 0x0f0fu) | ((b >> 2u) & 0x3030u);
    }
    return ints_f32(vec4<u32>(sc & 0xffu, m & 0xffu, sc >> 8u, m >> 8u), 0.0);
}
